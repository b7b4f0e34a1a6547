"""VAB's consumer half, the BMM posterior as a torch module laid out for ONNX Runtime's speed.

The modules map ``codes`` (N, B = ceil(D / 8)) uint8 to ``clusters`` (N,) int64, ``posteriors``
(N, K) float32 and ``log_likelihood`` (N,) float32, ``log p(z)`` in nats under the BMM (what novelty
is judged by); :func:`bmm_classifier_half` picks one for a model:

* :class:`BmmPosteriorTable`, for codes of at most :data:`TABLE_MAX_BYTES` bytes: the
  posterior of every possible packed code, computed at export in float64, so the graph is one
  index lookup per output and its clusters are exactly the float64 argmax;
* :class:`BmmByteTables`, for codes of up to :data:`BYTE_TABLES_MAX_BYTES` bytes: the log joint
  as a sum of one looked-up row per byte of the code;
* :class:`BmmClassifierHalf`, for any length: unpacking, the BMM's linear layer and the softmax.

Why :class:`BmmClassifierHalf` works on the transposed ``(K, N)`` log joint: in ONNX Runtime an
elementwise op that broadcasts along a short last axis (``(N, K) - (N, 1)``, ``(N, B, 1) & (8,)``)
is several times slower than one that broadcasts along a long axis, and ``Softmax`` over rows of
K is slower than an ``Exp`` of the same size. So every broadcast runs along the batch, and the
softmax is built from ``ArgMax``, ``GatherElements`` (the row maximum at the argmax), ``Exp`` and a
one-row ``MatMul`` for the sum; one ``Transpose`` gives back ``(N, K)``. The tables need no
softmax at all: one ``Gather`` row per code (or per byte of a code).

Why per-byte tables rather than per-16-bit-word tables up to 32 bits: ``4 * 256 * K`` floats
stay in the CPU caches while a server does other work, where word tables (``2 * 65536 * K``)
fall out of them. The served speed of the exported halves (16 and 32 bits) is measured by
``bench/serving.py`` (``bench/results/serving.json``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bitcluster.core.codes import code_bytes, msb_first_place_values, unpack_codes
from bitcluster.core.mixture import bmm_log_joint, classifier_weights, normalise_log_joint
from bitcluster.training.export.bit_packing import place_valued_weights

# Codes of up to 2 bytes (16 bits) are tabulated: 65536 rows, 2.6 MB of posteriors at K = 10.
TABLE_MAX_BYTES = 2
# ... unless K makes the table too large for the file and the cache: 2^20 float32 (4 MiB).
TABLE_MAX_ENTRIES = 2**20
# Codes of up to 4 bytes (32 bits) are read by per-byte tables (B * 256 * K float32).
BYTE_TABLES_MAX_BYTES = 4


def bmm_classifier_half(log_pi: np.ndarray, means: np.ndarray) -> nn.Module:
    """The fastest exact consumer half for this BMM: the posterior table when it is small enough."""
    bits, clusters = np.shape(means)[1], np.shape(means)[0]
    n_bytes = code_bytes(bits)
    if n_bytes <= TABLE_MAX_BYTES and 256**n_bytes * clusters <= TABLE_MAX_ENTRIES:
        return BmmPosteriorTable(log_pi, means)
    if n_bytes <= BYTE_TABLES_MAX_BYTES:
        return BmmByteTables(log_pi, means)
    return BmmClassifierHalf(log_pi, means)


def softmax_of_transposed(log_joint_t: torch.Tensor, best: torch.Tensor,
                          ones: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posteriors (N, K) and ``logsumexp_k`` (N,) of the transposed log joint (K, N), given its argmax
    (1, N) and ones (1, K).

    Every broadcast runs along the batch, and the row maximum comes from the argmax already
    computed (a GatherElements), not a second reduction over K. Subtracting it keeps exp in range:
    log joints of 32-bit codes reach -400. The log normaliser shares the softmax's sum.
    """
    top = log_joint_t.gather(0, best)                                        # (1, N)
    unnormalised = torch.exp(log_joint_t - top)                              # (K, N), 1 at the argmax
    total = ones @ unnormalised                                              # (1, N)
    return (unnormalised / total).T, (top + torch.log(total)).flatten()


class BmmClassifierHalf(nn.Module):
    """The consumer's half of VAB: packed codes (N, ceil(D / 8)) uint8 -> clusters (N,), posteriors (N, K),
    log-likelihoods (N,).

    The bits are unpacked along the batch axis, ``(B, 8, N)``, by one BitwiseAnd with the MSB-first
    place values; the BMM's weights are divided by those place values
    (:func:`~bitcluster.training.export.bit_packing.place_valued_weights`), so no shift is needed.

    Parameters
    ----------
    log_pi : (K,) log mixing weights
    means : (K, D) Bernoulli means (clipped to ``[EPS, 1 - EPS]`` by ``classifier_weights``)
    """

    def __init__(self, log_pi: np.ndarray, means: np.ndarray):
        super().__init__()
        weights, bias = classifier_weights(log_pi, means)
        self.bits, self.clusters = weights.shape
        self.register_buffer("masks", torch.from_numpy(msb_first_place_values(8).astype(np.uint8)[:, None]))  # (8, 1)
        self.register_buffer("weights_t", torch.from_numpy(np.ascontiguousarray(place_valued_weights(weights).T)))
        self.register_buffer("bias", torch.from_numpy(bias[:, None]))                                       # (K, 1)
        self.register_buffer("ones", torch.ones(1, self.clusters))                                          # (1, K)

    def log_joint_t(self, codes: torch.Tensor) -> torch.Tensor:
        """``log pi_k + log p(z | k)``, transposed: (K, N) float32."""
        planes = torch.bitwise_and(codes.T.unsqueeze(1), self.masks)        # (B, 8, N), bit d at row d
        return self.weights_t @ planes.to(torch.float32).flatten(0, 1) + self.bias

    def log_joint(self, codes: torch.Tensor) -> torch.Tensor:
        """``log pi_k + log p(z | k)``: (N, K) float32."""
        return self.log_joint_t(codes).T

    def forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        log_joint = self.log_joint_t(codes)                                  # (K, N)
        best = log_joint.argmax(dim=0, keepdim=True)                         # (1, N)
        return best.flatten(), *softmax_of_transposed(log_joint, best, self.ones)


class BmmPosteriorTable(nn.Module):
    """The consumer's half of VAB as three lookup tables indexed by the packed code's bytes.

    Every one of the ``256^B`` packed codes is unpacked and scored in float64 at construction;
    padding bits are ignored, as the unpacking graph of :class:`BmmClassifierHalf` ignores them.

    Parameters
    ----------
    log_pi : (K,) log mixing weights
    means : (K, D) Bernoulli means, D <= 8 * TABLE_MAX_BYTES
    """

    def __init__(self, log_pi: np.ndarray, means: np.ndarray):
        super().__init__()
        self.clusters, self.bits = np.shape(means)
        n_bytes = code_bytes(self.bits)
        if n_bytes > TABLE_MAX_BYTES:
            raise ValueError(f"a posterior table covers codes of at most {8 * TABLE_MAX_BYTES} bits, got {self.bits}")
        every_code = np.arange(256**n_bytes, dtype=">u4").view(np.uint8).reshape(-1, 4)[:, 4 - n_bytes:]
        z = unpack_codes(every_code, 8 * n_bytes)[:, :self.bits]                          # padding dropped
        log_joint = bmm_log_joint(z, log_pi, means)                                          # (256^B, K) float64
        log_likelihood, log_posteriors = normalise_log_joint(log_joint)
        # The smallest integer type that holds K, cast after the lookup: 64 KiB of uint8 instead of
        # 512 KiB of int64 (16 bits), a table that stays in the caches between calls.
        table_type = np.uint8 if self.clusters <= 256 else np.int32
        self.register_buffer("cluster_table", torch.from_numpy(log_joint.argmax(axis=1).astype(table_type)))
        self.register_buffer("posterior_table", torch.from_numpy(np.exp(log_posteriors).astype(np.float32)))
        self.register_buffer("log_likelihood_table", torch.from_numpy(log_likelihood.astype(np.float32)))  # (256^B,)

    def forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # The row of a code is its bytes read as a big-endian integer.
        byte = codes.to(torch.int64)
        index = byte[:, 0]
        for j in range(1, byte.shape[1]):
            index = index * 256 + byte[:, j]
        # index_select traces to Gather; indexing a (256,) * B table by the bytes gives a GatherND, 5x slower
        return (self.cluster_table.index_select(0, index).to(torch.int64),
                self.posterior_table.index_select(0, index), self.log_likelihood_table.index_select(0, index))


class BmmByteTables(nn.Module):
    """The consumer's half of VAB as one lookup table per byte of the packed code.

    The log joint is a sum over bits, so it splits into one term per byte: table ``j`` holds, for
    each of the 256 values of byte ``j``, that byte's bits' contribution for each cluster, computed
    in float64 at construction (``log pi`` rides on byte 0). Each row is shifted by its maximum, a
    constant per code that changes neither the argmax nor the posterior, so that float32 keeps the
    differences between clusters; the shifts are kept in one more small table per byte, ``(256,)``,
    and added back for the log-likelihood only. Padding bits are ignored. The tables take ``B * 256 * K``
    float32 (40 KiB at 32 bits, K = 10): they stay in the core's caches between requests, where
    one table per 16-bit word (5 MiB) is evicted by the rest of a request's work.

    Parameters
    ----------
    log_pi : (K,) log mixing weights
    means : (K, D) Bernoulli means, D <= 8 * BYTE_TABLES_MAX_BYTES
    """

    def __init__(self, log_pi: np.ndarray, means: np.ndarray):
        super().__init__()
        self.clusters, self.bits = np.shape(means)
        n_bytes = code_bytes(self.bits)
        if n_bytes > BYTE_TABLES_MAX_BYTES:
            raise ValueError(f"byte tables cover codes of at most {8 * BYTE_TABLES_MAX_BYTES} bits, got {self.bits}")
        every_byte = unpack_codes(np.arange(256, dtype=np.uint8)[:, None], 8)              # (256, 8)
        no_prior = np.zeros(self.clusters)
        tables = []
        for j, start in enumerate(range(0, self.bits, 8)):
            stop = min(start + 8, self.bits)
            table = bmm_log_joint(every_byte[:, :stop - start], log_pi if j == 0 else no_prior,
                                  np.asarray(means)[:, start:stop])                          # (256, K) float64
            tables.append(table)
        # One initializer per byte (a slice of a stacked (B, 256, K) buffer would be a Gather in the graph).
        for j, table in enumerate(tables):
            shift = table.max(axis=1, keepdims=True)
            self.register_buffer(f"table_{j}", torch.from_numpy((table - shift).astype(np.float32)))  # (256, K)
            self.register_buffer(f"shift_{j}", torch.from_numpy(shift.astype(np.float32)))         # (256, 1)
        self.register_buffer("ones", torch.ones(1, self.clusters))                               # (1, K)

    def forward(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # The bytes as int32 indices along the batch: (B, N), split into one (1, N) row per byte, so
        # the graph is Transpose, Cast, Split, then a Gather and an Add per byte: 12 nodes at 32 bits,
        # where indexing the (N, B) bytes column by column and slicing a stacked (B, 256, K) table took
        # 21 (four nodes per byte and the Adds). Clusters only, 32 bits, interleaved rounds against that
        # graph: 2-5% faster at batch 4096 (warm and flushed caches) and 12% at batch 1.
        index = codes.T.to(torch.int32)
        log_joint = shift = None
        for j, row in enumerate(index.split(1)):
            looked_up = nn.functional.embedding(row, getattr(self, f"table_{j}"))              # (1, N, K)
            shifted = nn.functional.embedding(row, getattr(self, f"shift_{j}"))                # (1, N, 1)
            log_joint = looked_up if log_joint is None else log_joint + looked_up
            shift = shifted if shift is None else shift + shifted
        best = log_joint.argmax(dim=2).flatten()                                                 # (N,)
        # On the transposed log joint: 1.05-1.16x the speed of Softmax over rows of K (20 and 32 bits,
        # batch 4096, interleaved rounds, warm and flushed caches); the same posteriors to float32 rounding.
        posteriors, log_norm = softmax_of_transposed(log_joint.flatten(0, 1).T, best[None, :], self.ones)
        return best, posteriors, log_norm + shift.flatten()
