"""The 16-bit chunks of a PDQ hash shared by the multi-index (``mih.py``) and its scored search
(``mih_scored.py``): chunk 0 is the most significant 16 bits of word 0."""

from __future__ import annotations

import numpy as np

__all__ = ["CHUNKS", "MAX_INDEXED_DISTANCE", "chunk_radii", "query_chunks"]

CHUNKS = 16
_BITS = 16
_BUCKETS = 1 << _BITS
#: Largest radius the index answers (per-chunk radii up to 3); wider searches use the linear scan.
MAX_INDEXED_DISTANCE = 4 * CHUNKS - 1

def _flips(t: int) -> np.ndarray:
    """Every 16-bit mask with at most ``t`` bits set (1, 17, 137, 697 masks for t = 0..3)."""
    values = np.arange(_BUCKETS, dtype=np.int64)
    pop = np.bitwise_count(values)
    return np.concatenate([values[pop == k] for k in range(t + 1)])


_FLIPS = {t: _flips(t) for t in range(4)}
_SHIFTS = np.array([48, 32, 16, 0], dtype=np.uint64)


def chunk_radii(max_distance: int) -> list[int]:
    """Per-chunk radii ``t_j`` with ``sum(t_j + 1) == max_distance + 1``: if every chunk differed by
    more than its ``t_j`` the distance would exceed ``max_distance`` (the generalised pigeonhole).
    Below radius 15 some chunks get -1: they need not be looked at."""
    a, b = divmod(max_distance + 1, CHUNKS)
    return [a] * b + [a - 1] * (CHUNKS - b)


def query_chunks(q: np.ndarray) -> np.ndarray:
    """The query's 16 chunk values (int64)."""
    words = np.asarray(q, dtype=np.uint64)
    return ((words[:, None] >> _SHIFTS[None, :]) & np.uint64(0xFFFF)).astype(np.int64).reshape(CHUNKS)
