"""Nearest codes in Hamming distance: stored codes searched without their images.

:class:`CodeIndex` holds packed codes of one model (:mod:`bitcluster.core.codes`) in one of
faiss's binary indexes and answers "which stored codes are nearest to these?":

* exact (the default): ``IndexBinaryFlat``, a popcount scan over every stored code;
* approximate (``approximate=True``): ``IndexBinaryMultiHash``, multi-index hashing (Norouzi et
  al., CVPR 2012). The code is cut into ``hash_tables`` substrings of ``hash_bits`` bits; a code
  whose substring is within ``flips`` bits of the query's, in any table, is a candidate, and the
  candidates are ranked by their exact distance. Nothing but bucket look-ups and candidates is
  touched, so a query costs about ``hash_tables * (1 + hash_bits) * N / 2**hash_bits`` distance
  computations at ``flips=1``. Recall and speed at a million codes: ``bench/search.py``.

With cluster labels stored at build time (``clusters=``, or ``model=`` to classify the codes),
``search(..., clusters=[3, 5])`` looks among the codes of those clusters only, the paper's
"interested groups": one exact flat index per cluster, so it scans only the chosen groups.

Ties. Many codes share a distance (at 32 bits, a million codes hold a few hundred within 5 bits
of a query). Each result row is ordered by distance, then by the order the codes were added.
The exact index returns, of the codes tied at the k-th distance, those added first (faiss's
scan keeps the first it meets; ``tests/api/test_code_index.py`` checks it against a stable sort).
The approximate index ranks the candidates it reached the same way, but which of several tied
codes it reaches depends on its buckets.

faiss is imported when an index is built (the ``search`` extra: ``pip install 'bitcluster[search]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from bitcluster.api.codes import Codes, CodesLike, packed_codes_of
from bitcluster.search.index_file import IndexFormatError, read_index_file, write_index_file

if TYPE_CHECKING:
    from bitcluster.api.model import Model

# Approximate index: keys of log2(N) - 7 bits leave about 128 codes per bucket, so a query at
# flips=1 ranks a few thousand candidates whatever N is (bench/search.py measures the trade).
CODES_PER_BUCKET_LOG2 = 7
DEFAULT_FLIPS = 1


def _faiss():
    try:
        import faiss
    except ImportError as e:
        raise ImportError(f"CodeIndex needs faiss ({e}): pip install 'bitcluster[search]'") from e
    return faiss


def default_hash_bits(n_codes: int, bits: int, hash_tables: int) -> int:
    """Key length of each hash table: ``round(log2 N) - 7`` bits, within 1 .. the substring's share of the code."""
    wanted = round(np.log2(max(n_codes, 2))) - CODES_PER_BUCKET_LOG2
    return int(min(max(wanted, 1), bits // hash_tables))


class CodeIndex:
    """Stored binary codes searched by Hamming distance.

    Parameters
    ----------
    codes : :class:`~bitcluster.api.codes.Codes` (they carry ``bits`` and ``model_id``), or packed
        codes alone, (N, ceil(bits / 8)) uint8, with ``bits`` (and ``model_id``) or ``model`` given
    ids : (N,) ids returned by :meth:`search` (integers or strings); default the row numbers 0..N-1
    clusters : (N,) integer cluster of each code, for ``search(..., clusters=...)``
    model : the model that made the codes (:class:`~bitcluster.api.model.Model`): gives ``bits``
        and ``model_id``, and the clusters (``model.classify``) when ``clusters`` is not given
    bits, model_id : the codes' origin, for packed codes without a model. An index without a
        ``model_id`` accepts the codes of any model of that length
    approximate : multi-index hashing instead of the exact scan (see the module's docstring)
    hash_tables, hash_bits : the approximate index's substrings and their length
        (default :func:`default_hash_bits`)

    Raises ValueError (:class:`~bitcluster.core.codes.CodeFormatError` for codes of another
    length) for codes, ids or clusters that do not fit together.
    """

    def __init__(self, codes: CodesLike, ids: Sequence | np.ndarray | None = None, *,
                 clusters: Sequence[int] | np.ndarray | None = None, model: "Model | None" = None,
                 bits: int | None = None, model_id: str | None = None, approximate: bool = False,
                 hash_tables: int = 2, hash_bits: int | None = None) -> None:
        self.bits, self.model_id = _origin(codes, model, bits, model_id)
        self.packed = np.ascontiguousarray(packed_codes_of(codes, self.bits))
        n = len(self.packed)
        if n == 0:
            raise ValueError("no codes to index")
        self.ids = np.arange(n) if ids is None else _as_ids(ids, n)
        if clusters is None and model is not None:
            clusters = model.classify(self.packed)
        self.clusters = None if clusters is None else _as_clusters(clusters, n)
        self.approximate = bool(approximate)
        self.hash_tables = int(hash_tables)
        self.hash_bits = int(hash_bits) if hash_bits is not None else default_hash_bits(n, self.bits, hash_tables)
        self._index = self._build()
        self._cluster_indexes: dict[int, tuple[np.ndarray, object]] = {}

    def __len__(self) -> int:
        return len(self.packed)

    def __repr__(self) -> str:
        kind = (f"approximate ({self.hash_tables} tables of {self.hash_bits} bits)" if self.approximate
                else "exact")
        return f"CodeIndex({len(self)} codes of {self.bits} bits, model {self.model_id}, {kind})"

    @property
    def _dimension(self) -> int:
        # faiss counts whole bytes; the zero padding bits past `bits` add nothing to a distance
        return 8 * self.packed.shape[1]

    def _build(self):
        faiss = _faiss()
        if not self.approximate:
            index = faiss.IndexBinaryFlat(self._dimension)
        else:
            if not 1 <= self.hash_tables or not 1 <= self.hash_bits or self.hash_tables * self.hash_bits > self.bits:
                raise ValueError(f"{self.hash_tables} hash tables of {self.hash_bits} bits do not fit in "
                                 f"{self.bits}-bit codes")
            index = faiss.IndexBinaryMultiHash(self._dimension, self.hash_tables, self.hash_bits)
        index.add(self.packed)
        return index

    def search(self, codes: CodesLike, k: int = 10, *, clusters: Sequence[int] | None = None,
               flips: int = DEFAULT_FLIPS) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` stored codes nearest to each query code.

        Parameters
        ----------
        codes : (Q, ...) query codes: :class:`Codes` (refused when another model or length made
            them) or packed codes of this index's length
        k : neighbours per query
        clusters : look only among the codes of these clusters (labels stored at build time);
            an exact search whether or not the index is approximate
        flips : approximate index: bits a hash key may differ from the query's (more: slower,
            higher recall)

        Returns
        -------
        ids : (Q, k) the stored ids, nearest first (ties in the order the codes were added)
        distances : (Q, k) int32 Hamming distances. Where fewer than ``k`` codes were found (fewer
            stored or in the chosen clusters, or not reached by the approximate index) the row
            ends with distance -1 and id -1 (integer ids) or "" (string ids)
        """
        queries = self._queries(codes)
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if clusters is not None:
            distances, rows = self._search_clusters(queries, int(k), clusters)
        else:
            if self.approximate:
                if flips < 0:
                    raise ValueError(f"flips must be 0 or more, got {flips}")
                self._index.nflip = int(flips)
            distances, rows = self._index.search(queries, int(k))
        distances, rows = _nearest_first(distances, rows, int(k))
        return self._ids_at(rows), distances

    def _queries(self, codes: CodesLike) -> np.ndarray:
        if isinstance(codes, Codes):
            _check_origin(codes, self.bits, self.model_id)
        queries = np.ascontiguousarray(packed_codes_of(codes, self.bits))
        if len(queries) == 0:
            raise ValueError("no query codes")
        return queries

    def _search_clusters(self, queries: np.ndarray, k: int, clusters: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        if self.clusters is None:
            raise ValueError("this index was built without clusters: pass clusters= or model= to CodeIndex "
                             "to search by cluster")
        wanted = np.unique(np.asarray(clusters).ravel())
        if len(wanted) == 0 or not np.issubdtype(wanted.dtype, np.integer) or wanted.min() < 0:
            raise ValueError(f"clusters must be a non-empty list of cluster numbers (0 or more), got {clusters!r}")
        found = [self._cluster_index(int(c)) for c in wanted]
        parts = [(d, np.where(r >= 0, members[np.maximum(r, 0)], -1))
                 for members, index in found if index is not None for d, r in [index.search(queries, k)]]
        if not parts:
            return np.full((len(queries), k), -1, np.int32), np.full((len(queries), k), -1, np.int64)
        return np.concatenate([d for d, _ in parts], axis=1), np.concatenate([r for _, r in parts], axis=1)

    def _cluster_index(self, cluster: int) -> tuple[np.ndarray, object]:
        """(rows of the cluster's codes, a flat index of them), built on first use; index None when empty."""
        if cluster not in self._cluster_indexes:
            members = np.flatnonzero(self.clusters == cluster)
            index = None
            if len(members):
                index = _faiss().IndexBinaryFlat(self._dimension)
                index.add(np.ascontiguousarray(self.packed[members]))
            self._cluster_indexes[cluster] = (members, index)
        return self._cluster_indexes[cluster]

    def _ids_at(self, rows: np.ndarray) -> np.ndarray:
        ids = self.ids[np.maximum(rows, 0)]
        missing = rows < 0
        if missing.any():
            ids[missing] = -1 if np.issubdtype(self.ids.dtype, np.integer) else ""
        return ids

    def save(self, path: str | Path) -> Path:
        """Write the index to ``path`` (an ``.npz`` file: codes, ids, clusters, origin and settings).

        The faiss index is rebuilt from the codes on :meth:`load` (a copy, or one hash pass).
        The file appears whole or not at all.
        """
        arrays = {"bits": np.array(self.bits), "model_id": np.array(self.model_id or ""), "packed": self.packed,
                  "ids": self.ids, "approximate": np.array(self.approximate),
                  "hash_tables": np.array(self.hash_tables), "hash_bits": np.array(self.hash_bits)}
        if self.clusters is not None:
            arrays["clusters"] = self.clusters
        return write_index_file(path, arrays)

    @classmethod
    def load(cls, path: str | Path) -> "CodeIndex":
        """An index written by :meth:`save`. Raises :class:`IndexFormatError` for any other file."""
        stored = read_index_file(path)
        try:
            return cls(stored["packed"], stored["ids"], clusters=stored.get("clusters"), bits=int(stored["bits"]),
                       model_id=str(stored["model_id"]) or None, approximate=bool(stored["approximate"]),
                       hash_tables=int(stored["hash_tables"]), hash_bits=int(stored["hash_bits"]))
        except KeyError as e:
            raise IndexFormatError(f"{path} is an incomplete CodeIndex file: it has no {e} array") from e

    @classmethod
    def from_parquet(cls, path: str | Path, model: "Model | None" = None, *, bits: int | None = None,
                     model_id: str | None = None, **options) -> "CodeIndex":
        """An index of the rows of a ``bitcluster bulk`` Parquet file: its ids, codes and clusters.

        The file does not say which model made its codes: give ``model`` (the one ``bulk`` ran), or
        ``bits`` (and ``model_id``). ``options`` go to :class:`CodeIndex` (``approximate``, ...).
        """
        from bitcluster.search.bulk_file import read_bulk_codes

        ids, packed, clusters = read_bulk_codes(path)
        return cls(packed, ids, clusters=clusters, model=model, bits=bits, model_id=model_id, **options)


def _origin(codes: CodesLike, model: "Model | None", bits: int | None, model_id: str | None) -> tuple[int, str | None]:
    """(bits, model_id) of the codes to index, from the codes, the model or the arguments; refuses a conflict."""
    if model is not None:
        if (bits is not None and bits != model.bits) or (model_id is not None and model_id != model.model_id):
            raise ValueError(f"bits={bits}, model_id={model_id!r} contradict the model given "
                             f"({model.bits} bits, model {model.model_id!r}): give one or the other")
        bits, model_id = model.bits, model.model_id
    if isinstance(codes, Codes):
        if bits is not None or model_id is not None:
            _check_origin(codes, bits or codes.bits, model_id)
        return codes.bits, codes.model_id
    if bits is None:
        raise ValueError("packed codes alone do not say their length: pass bits= (and model_id=) or model=, "
                         "or give bc.Codes")
    return int(bits), model_id


def _check_origin(codes: Codes, bits: int, model_id: str | None) -> None:
    """Refuse Codes of another model (when ``model_id`` is known) or of another length."""
    from bitcluster.core.codes import CodeFormatError

    if model_id is not None and codes.model_id != model_id:
        raise ValueError(f"these codes were made by model {codes.model_id!r}, the index holds codes of model "
                         f"{model_id!r}: distances between codes of two models mean nothing")
    if codes.bits != bits:
        raise CodeFormatError(f"codes of {codes.bits} bits given to an index of {bits}-bit codes")


def _as_ids(ids: Sequence | np.ndarray, n: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.shape != (n,):
        raise ValueError(f"ids must be one per code, shape ({n},), got {ids.shape}")
    if np.issubdtype(ids.dtype, np.integer):
        return ids.astype(np.int64)
    return ids.astype(str)  # strings (object arrays of str too), so that save() needs no pickle


def _as_clusters(clusters: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    clusters = np.asarray(clusters)
    if clusters.shape != (n,) or not np.issubdtype(clusters.dtype, np.integer):
        raise ValueError(f"clusters must be one integer per code, shape ({n},), got {clusters.dtype} {clusters.shape}")
    return clusters.astype(np.int64)


def _nearest_first(distances: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest by (distance, row), codes not found (row -1) last with distance -1."""
    missing = rows < 0
    key_distance = np.where(missing, np.iinfo(np.int64).max, distances.astype(np.int64))
    order = np.lexsort((np.where(missing, np.iinfo(np.int64).max, rows), key_distance), axis=1)[:, :k]
    rows = np.take_along_axis(rows, order, axis=1)
    distances = np.where(rows < 0, -1, np.take_along_axis(distances, order, axis=1)).astype(np.int32)
    return distances, rows
