"""``clusters.png``: what each cluster holds, a row of sample images per cluster."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bitcluster.training.report.confusion import matched_contingency

SAMPLES_PER_CLUSTER = 10


def cluster_order(clusters: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """The non-empty clusters in the order the report shows them.

    With labels, the order of ``confusion.png``'s columns (by matched label), so both pictures
    read the same way; without, the largest cluster first.
    """
    if labels is not None:
        return matched_contingency(labels, clusters).cluster_ids
    ids, sizes = np.unique(clusters, return_counts=True)
    return ids[np.argsort(-sizes, kind="stable")]


def sample_strip(images: np.ndarray, height: int, width: int, slots: int, gap: int = 1,
                 channels: int = 1) -> np.ndarray:
    """Images side by side on a white background, ``gap`` pixels apart, empty slots left white.

    Parameters
    ----------
    images : (n, height * width * channels) floats in [0, 1] (HWC order), n <= slots
    channels : 1 (grey) or 3 (RGB)

    Returns
    -------
    (height, slots * (width + gap) - gap) grey, or (height, slots * (width + gap) - gap, 3) RGB, floats in [0, 1]
    """
    pixel = (channels,) if channels > 1 else ()
    strip = np.ones((height, slots * (width + gap) - gap, *pixel), dtype=np.float32)
    for i, image in enumerate(images):
        strip[:, i * (width + gap): i * (width + gap) + width] = image.reshape(height, width, *pixel)
    return strip


def _row_caption(cluster: int, members: np.ndarray, labels: np.ndarray | None) -> str:
    caption = f"cluster {cluster}\nn = {len(members)}"
    if labels is not None:
        values, counts = np.unique(labels[members], return_counts=True)
        top = int(np.argmax(counts))
        caption += f"\nmostly {values[top]} ({counts[top] / len(members):.0%})"
    return caption


def plot_cluster_grid(images: np.ndarray, clusters: np.ndarray, height: int, width: int,
                      labels: np.ndarray | None = None, per_cluster: int = SAMPLES_PER_CLUSTER,
                      seed: int = 0, title: str = "Test images by cluster", channels: int = 1) -> Figure:
    """One row per non-empty cluster: its size, its majority label when labels exist, and samples.

    Parameters
    ----------
    images : (N, height * width * channels) floats in [0, 1], the preprocessed images
    clusters : (N,) int cluster of each image
    height, width, channels : the image size and channels of the dataset's ``Preprocessing``
    labels : (N,) int labels, or None
    per_cluster : most samples shown per row (a smaller cluster shows all it has)
    seed : which samples are drawn; the same seed draws the same ones

    Returns
    -------
    The figure; ``fig.axes`` holds one axis per shown cluster, top to bottom.
    """
    images, clusters = np.asarray(images), np.asarray(clusters).ravel()
    if images.ndim != 2 or images.shape[1] != height * width * channels:
        raise ValueError(f"images must be (N, {height}*{width}*{channels}) = (N, {height * width * channels}), "
                         f"got {images.shape}")
    if len(images) != len(clusters) or len(images) == 0:
        raise ValueError(f"need one cluster per image, and some images: got {len(images)} and {len(clusters)}")
    labels = None if labels is None else np.asarray(labels).ravel()
    rng = np.random.default_rng(seed)
    order = cluster_order(clusters, labels)
    # A row is one strip of images, so its height in inches follows the images' aspect ratio.
    image_inches = 0.55
    fig = Figure(figsize=(max(6.0, 1.6 + image_inches * per_cluster),
                          0.8 + image_inches * len(order) * height / width * 1.1), dpi=110, layout="constrained")
    fig.suptitle(f"{title}\n{len(order)} non-empty clusters, up to {per_cluster} random samples each", fontsize=11)
    axes = fig.subplots(len(order), 1, squeeze=False)[:, 0]
    for ax, cluster in zip(axes, order):
        members = np.flatnonzero(clusters == cluster)
        shown = np.sort(rng.choice(members, size=min(per_cluster, len(members)), replace=False))
        ax.imshow(sample_strip(images[shown], height, width, per_cluster, channels=channels), cmap="gray",
                  vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(_row_caption(int(cluster), members, labels), rotation=0, ha="right", va="center", fontsize=8)
    axes[-1].set_xlabel("samples (random, fixed seed)", fontsize=8)
    return fig
