"""Which network gives each latent method's latent, from the state its method module's ``load`` returns.

Only the state's attributes are used (``autoencoder``, ``model``), never the method modules' internals.
"""

from __future__ import annotations

import torch
from torch import nn

EXPORTABLE = ("ae-kmeans", "ae-gmm", "convae-kmeans", "convae-gmm", "vade", "vc")
# They decide from every autoencoder's reconstruction of the raw image: no latent to ship.
NEEDS_RAW_IMAGE = ("kdae", "kdvae")


class Encode(nn.Module):
    """A network's own ``encode``, images (N, P) -> latent (N, d), as a module to trace."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network.encode(images)


class VariationalClusteringLatent(nn.Module):
    """vc's latent ``z(x) = sum_c q(c|x) m_c(x)``: (N, d).

    The same formula as the model's ``encode``, which reshapes with ``len(x)``: traced, that
    would pin the exported graph to the example's batch size.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        m = self.model
        h = m.g_a(images)
        q_c = torch.softmax(m.q_c(h), dim=1)                                  # (N, K)
        means = m.q_z_mu(h).unflatten(1, (m.clusters, m.latent))             # (N, K, d)
        return (q_c.unsqueeze(2) * means).sum(dim=1)


def check_exportable(method: str) -> None:
    """Raise ``ValueError`` saying why, unless ``method`` is one of :data:`EXPORTABLE`."""
    if method in NEEDS_RAW_IMAGE:
        raise ValueError(f"{method} clusters by reconstructing the raw image with every cluster's network: there "
                         "is no latent code to ship, so it cannot be split into vendor and consumer halves")
    if method not in EXPORTABLE:
        raise ValueError(f"{method!r} has no quantised-latent export; export_latent_run takes {', '.join(EXPORTABLE)}"
                         " (VAB runs are exported by bitcluster.training.export.export_run)")


def latent_network(method: str, state) -> nn.Module:
    """images (N, P) -> latent (N, d) of a loaded run of ``method`` (one of :data:`EXPORTABLE`)."""
    check_exportable(method)
    if method == "vc":
        return VariationalClusteringLatent(state.model)
    if method == "vade":
        return Encode(state.model)
    return Encode(state.autoencoder)  # ae-* and convae-*
