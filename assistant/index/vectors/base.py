"""The vector store interface: what the index builder and fusion need from any backend.

Vectors are L2-normalised float32 rows scored by inner product (cosine). Ids are the row numbers the
builder assigns (chunk rows of the version folder), so every backend returns the same ids for the
same data. Backends live beside this file (``faiss.py`` today) and are chosen by ``open_store``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class VectorStore(ABC):
    """Inner-product search over normalised vectors with integer ids."""

    dim: int

    @abstractmethod
    def add(self, vectors: np.ndarray, ids: Sequence[int] | np.ndarray | None = None) -> None:
        """Add rows; ``ids`` default to the next row numbers (``count()`` onwards)."""

    @abstractmethod
    def delete(self, ids: Sequence[int] | np.ndarray) -> int:
        """Remove the rows with these ids; return how many were removed."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` best rows for each query row, best first; id -1 marks no result."""

    @abstractmethod
    def vector(self, row: int) -> np.ndarray | None:
        """The stored vector of one id, or None when this index type cannot give it back."""

    @abstractmethod
    def count(self) -> int:
        """How many rows are stored."""

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write the store to ``path`` (a file or folder of the backend's own format; never a pickle)."""
