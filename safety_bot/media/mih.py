"""Multi-index hashing for PDQ radius search: exact (100% recall) and sub-linear at small radii.

Pigeonhole: split the 256 bits into 16 chunks of 16 bits. If two hashes are within distance ``r``,
at least one chunk differs in at most ``r // 16`` bits (16 chunks each differing in more would add
up to more than ``r``). So for each chunk we list the rows whose chunk value is within ``r // 16``
bits of the query's chunk (17 values per chunk at ``r <= 31``: the value and its 16 one-bit flips),
and compute the full distance only for those rows (about 4,000 of 1,000,000 random hashes).

Layout: per chunk, the row numbers sorted by that chunk's value (uint32, a stable sort so each
bucket lists rows in ascending order) and 65,537 bucket offsets; all 16 tables in one array so a
query gathers every candidate with one fancy index. 64 bytes per hash (on top of the 32 bytes of
the hash itself): memory is the price of speed here. No Python dicts, no per-row objects.

The index is a snapshot of rows ``[0, built)``; the owner scans newer rows (the "tail") directly and
rebuilds the snapshot when the tail grows (see ``HashMatcher``). Removed rows stay listed: the owner
filters them by entry id. Wider radii give chunks different radii (``chunk_radii``: at r = 52, five
chunks within 3 bits and eleven within 2), about 76,000 candidates per million random rows: no
faster than the owner's linear scan, so ``HashMatcher`` uses the index up to radius 47 only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHUNKS", "MAX_INDEXED_DISTANCE", "ChunkIndex"]

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


def chunk_radii(max_distance: int) -> list[int]:
    """Per-chunk radii ``t_j`` with ``sum(t_j + 1) == max_distance + 1``: if every chunk differed by
    more than its ``t_j`` the distance would exceed ``max_distance`` (the generalised pigeonhole).
    Below radius 15 some chunks get -1: they need not be looked at."""
    a, b = divmod(max_distance + 1, CHUNKS)
    return [a] * b + [a - 1] * (CHUNKS - b)


class ChunkIndex:
    """The 16 sorted chunk tables over a snapshot of ``built`` rows."""

    def __init__(self, cols: np.ndarray, n: int) -> None:
        self.built = int(n)
        perm = np.empty((CHUNKS, self.built), dtype=np.uint32)
        offsets = np.empty((CHUNKS, _BUCKETS + 1), dtype=np.int64)
        for w in range(4):
            col = cols[w, : self.built]
            for k in range(4):
                j = 4 * w + k
                keys = (col >> np.uint64(48 - 16 * k)).astype(np.uint16)
                perm[j] = np.argsort(keys, kind="stable")  # radix sort for uint16
                counts = np.bincount(keys, minlength=_BUCKETS)
                offsets[j, 0] = j * self.built
                np.cumsum(counts, out=offsets[j, 1:])
                offsets[j, 1:] += j * self.built
                del keys, counts
        self._perm = perm.reshape(-1)  # table j's rows at [j * built, (j + 1) * built)
        self._offsets = offsets.reshape(-1)  # bucket (j, v): [offsets[j * 65537 + v], offsets[j * 65537 + v + 1])
        self._base = (np.arange(CHUNKS, dtype=np.int64) * (_BUCKETS + 1))[:, None]

    @staticmethod
    def usable_for(max_distance: int) -> bool:
        return 0 <= max_distance <= MAX_INDEXED_DISTANCE

    def nbytes(self) -> int:
        return int(self._perm.nbytes + self._offsets.nbytes)

    def candidates(self, q: np.ndarray, max_distance: int) -> np.ndarray:
        """Row numbers (may repeat) that can be within ``max_distance`` of ``q`` (4 uint64 words):
        a superset of the true matches among the snapshot's rows."""
        words = np.asarray(q, dtype=np.uint64)
        shifts = np.array([48, 32, 16, 0], dtype=np.uint64)
        qchunks = ((words[:, None] >> shifts[None, :]) & np.uint64(0xFFFF)).astype(np.int64).reshape(CHUNKS)
        radii = chunk_radii(max_distance)
        if radii[0] == radii[-1]:  # the same radius for every chunk: one broadcast
            buckets = ((qchunks[:, None] ^ _FLIPS[radii[0]][None, :]) + self._base).reshape(-1)
        else:
            buckets = np.concatenate([(int(c) ^ _FLIPS[t]) + j * (_BUCKETS + 1)
                                      for j, (c, t) in enumerate(zip(qchunks, radii, strict=True)) if t >= 0])
        starts = self._offsets[buckets]
        lengths = self._offsets[buckets + 1] - starts
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, dtype=np.int64)
        # Concatenate the ranges [start, start + length) without a Python loop.
        ends = np.cumsum(lengths)
        pos = np.arange(total, dtype=np.int64)
        pos += np.repeat(starts - (ends - lengths), lengths)
        return self._perm[pos]
