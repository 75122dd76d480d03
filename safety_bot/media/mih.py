"""Multi-index hashing for PDQ radius search: exact (100% recall) and sub-linear at small radii.

Pigeonhole: split the 256 bits into 16 chunks of 16 bits. If two hashes are within distance ``r``,
at least one chunk differs in at most ``r // 16`` bits (16 chunks each differing in more would add
up to more than ``r``). So for each chunk we list the rows whose chunk value is within ``r // 16``
bits of the query's chunk (17 values per chunk at ``r <= 31``: the value and its 16 one-bit flips),
and compute the full distance only for those rows (about 4,000 of 1,000,000 random hashes).

Layout: the owner keeps its rows sorted by chunk 0, so chunk 0's table is the row order itself (65,537
bucket offsets of row numbers). For each of chunks 1 to 15, the row numbers sorted by that chunk's
value (uint32, a stable sort so each bucket lists rows in ascending order) and 65,537 bucket offsets,
all 15 tables in one array. 60 bytes per hash (on top of the 32 bytes of the hash itself): memory is
the price of speed here. No Python dicts, no per-row objects.

The index is a snapshot of rows ``[0, built)``; the owner scans newer rows (the "tail") directly and
rebuilds the snapshot in the background when the tail grows (see ``HashMatcher`` and ``rebuild.py``). Removed rows stay listed: the owner
filters them by entry id.

Wider radii (``media.flag_distance`` 52) are answered by a scored variant (``mih_scored.py``): the
plain pigeonhole at 52 lists ~76,000 of 1,000,000 random rows, too many to check one by one, so each
chunk is searched a little wider than the pigeonhole needs and a row must collect enough "score"
over the 16 chunks (a tighter, still exact, condition) before its distance is computed.
"""

from __future__ import annotations

import numpy as np

from .chunks import _BUCKETS, _FLIPS, CHUNKS, MAX_INDEXED_DISTANCE, chunk_radii, query_chunks
from .mih_scored import Scorer

__all__ = ["CHUNKS", "MAX_INDEXED_DISTANCE", "ChunkIndex", "chunk_radii", "sort_rows_by_first_chunk"]

def sort_rows_by_first_chunk(cols: np.ndarray, ids: np.ndarray, n: int) -> None:
    """Reorder rows ``[0, n)`` of the hash columns and their entry ids (in place, together) by chunk 0,
    stably: the order ``ChunkIndex`` needs, so that chunk 0's table is the row order itself."""
    if n < 2:
        return
    order = np.argsort((cols[0, :n] >> np.uint64(48)).astype(np.uint16), kind="stable")  # radix sort
    for w in range(4):
        cols[w, :n] = cols[w, order]
    ids[:n] = ids[order]


class ChunkIndex:
    """The chunk tables over a snapshot of ``built`` rows, which must be sorted by chunk 0
    (``sort_rows_by_first_chunk``): chunk 0's table is then the row order itself and costs only its
    bucket offsets; chunks 1 to 15 each keep the row numbers sorted by their value (60 bytes per row)."""

    def __init__(self, cols: np.ndarray, n: int) -> None:
        self.built = int(n)
        first = (cols[0, : self.built] >> np.uint64(48)).astype(np.uint16)
        if self.built > 1 and bool(np.any(first[1:] < first[:-1])):
            raise ValueError("rows must be sorted by chunk 0 (sort_rows_by_first_chunk)")
        perm = np.empty((CHUNKS - 1, self.built), dtype=np.uint32)
        offsets = np.empty((CHUNKS, _BUCKETS + 1), dtype=np.int64)
        # Bucket starts by binary search in the sorted keys rather than np.bincount, which holds the GIL
        # (~40 ms per table at 10M): the build runs in a background thread beside the queries.
        values = np.arange(_BUCKETS, dtype=np.uint16)  # the keys' own type: no converted copy of them
        offsets[0, :-1] = np.searchsorted(first, values)  # chunk 0: row numbers
        offsets[0, -1] = self.built
        del first
        for w in range(4):
            col = cols[w, : self.built]
            for k in range(4):
                j = 4 * w + k
                if j == 0:
                    continue
                keys = (col >> np.uint64(48 - 16 * k)).astype(np.uint16)
                order = np.argsort(keys, kind="stable")  # radix sort for uint16
                perm[j - 1] = order
                offsets[j, :-1] = np.searchsorted(np.take(keys, order), values)
                offsets[j, -1] = self.built
                offsets[j] += (j - 1) * self.built
                del keys, order
        self._perm = perm.reshape(-1)  # table j >= 1: its rows at [(j - 1) * built, j * built)
        # Bucket (j, v): [offsets[j * 65537 + v], offsets[j * 65537 + v + 1]), row numbers for j = 0,
        # positions in _perm for the others.
        self._offsets = offsets.reshape(-1)
        self._base = (np.arange(CHUNKS, dtype=np.int64) * (_BUCKETS + 1))[:, None]
        self._scorer: Scorer | None = None  # wide radii (mih_scored.py), made on first use
        # Scratch reused by every query (the owner's lock serialises them): fresh arrays of a few hundred
        # kB per query cost page faults whenever the allocator has handed the memory back meanwhile.
        self._iota = np.arange(0, dtype=np.int32)
        self._rows = np.empty(0, dtype=np.uint32)

    def _scratch(self, total: int) -> None:
        if self._iota.size < total:
            size = total + total // 4  # room for the next queries' spread without doubling
            self._iota = np.arange(size, dtype=np.int32 if size < 2**31 else np.int64)
            self._rows = np.empty(size, dtype=np.uint32)

    def bucket_ranges(self, buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions of the rows of the given buckets (chunk j value v = bucket ``j * 65537 + v``),
        concatenated without a Python loop, and each bucket's start and length. For chunk 0's buckets
        the positions are the row numbers; for the others, positions in the tables (``rows_at``)."""
        starts = np.take(self._offsets, buckets, mode="wrap")  # every bucket is in range: no bounds check
        lengths = np.take(self._offsets, buckets + 1, mode="wrap")
        lengths -= starts
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, dtype=np.int64), starts, lengths
        self._scratch(total)
        ends = np.cumsum(lengths)
        pos = np.repeat(starts - (ends - lengths), lengths)
        np.add(pos, self._iota[:total], out=pos)
        return pos, starts, lengths

    def rows_at(self, pos: np.ndarray, starts: np.ndarray | None = None, lengths: np.ndarray | None = None) -> np.ndarray:
        """The rows at table positions ``pos`` (of chunks 1 to 15), in a scratch array that the next
        call overwrites. Given the buckets' ``starts`` and ``lengths`` (large gathers), each bucket's
        first and last entry are read first: a gather of independent reads that the CPU overlaps, so
        the full gather then finds its lines in the cache (measured about twice as fast as the full
        gather alone when the tables are not cached)."""
        if starts is not None and lengths is not None and starts.size:
            # mode="wrap": an empty bucket may start at the end (wraps to 0) or, first, end at -1.
            np.take(self._perm, starts, mode="wrap")
            np.take(self._perm, starts + lengths - 1, mode="wrap")
        self._scratch(pos.size)
        out = self._rows[: pos.size]
        # mode="wrap" skips the bounds check (every position is in range) and writes into ``out``.
        np.take(self._perm, pos, out=out, mode="wrap")
        return out

    def wide_candidates(self, q: np.ndarray, max_distance: int) -> np.ndarray:
        """Distinct row numbers (ascending) that can be within ``max_distance`` of ``q``, for radii where
        the plain pigeonhole lists too many rows (``mih_scored.py``). Not thread-safe (a shared scratch
        counter): the owner calls it with its lock held."""
        if self._scorer is None:
            self._scorer = Scorer(self.built)
        return self._scorer.candidates(self, q, max_distance)

    def prepare(self) -> None:
        """Allocate the wide-radius scratch now (a background rebuild calls this), not in the first query."""
        if self._scorer is None:
            self._scorer = Scorer(self.built)

    @staticmethod
    def usable_for(max_distance: int) -> bool:
        return 0 <= max_distance <= MAX_INDEXED_DISTANCE

    def nbytes(self) -> int:
        scratch = self._scorer.nbytes() if self._scorer is not None else 0
        scratch += self._iota.nbytes + self._rows.nbytes
        return int(self._perm.nbytes + self._offsets.nbytes) + scratch

    def candidates(self, q: np.ndarray, max_distance: int) -> np.ndarray:
        """Row numbers (may repeat) that can be within ``max_distance`` of ``q`` (4 uint64 words):
        a superset of the true matches among the snapshot's rows."""
        qchunks = query_chunks(q)
        radii = chunk_radii(max_distance)
        if radii[0] < 0:  # chunk 0 has the widest radius: none at all below radius 0
            return np.empty(0, dtype=np.int64)
        if radii[0] == radii[-1]:  # the same radius for every chunk: one broadcast
            buckets = ((qchunks[:, None] ^ _FLIPS[radii[0]][None, :]) + self._base).reshape(-1)
        else:
            buckets = np.concatenate([(int(c) ^ _FLIPS[t]) + j * (_BUCKETS + 1)
                                      for j, (c, t) in enumerate(zip(qchunks, radii, strict=True)) if t >= 0])
        pos, _starts, lengths = self.bucket_ranges(buckets)
        # Chunk 0's buckets come first and list row numbers directly.
        first = int(lengths[: _FLIPS[radii[0]].size].sum())
        return np.concatenate((pos[:first], self.rows_at(pos[first:])))
