"""Search among stored codes by Hamming distance (:class:`CodeIndex`, on faiss's binary indexes).

Needs the ``search`` extra (faiss-cpu, and pyarrow for ``bitcluster bulk`` files).
"""

from bitcluster.search.code_index import CodeIndex
from bitcluster.search.index_file import IndexFormatError

__all__ = ["CodeIndex", "IndexFormatError"]
