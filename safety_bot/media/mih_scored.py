"""Scored multi-index search: exact radius search at wide radii (``media.flag_distance`` 52).

The plain pigeonhole (``mih.py``) gives each of the 16 chunks a radius ``t_j`` with
``sum(t_j + 1) == r + 1``; at r = 52 that lists ~76,000 of 1,000,000 random rows, each of which
then needs its distance computed from random memory: no faster than a linear scan. Here every
chunk is searched with the radii of ``r + slack`` instead, and a listed row scores, for each chunk
whose value is within ``t_j`` of the query's, ``t_j + 1 - d_j`` (``d_j`` its distance on that chunk).

Why this is exact: a row within ``r`` has ``sum(d_j) <= r``, so its score
``sum(max(0, t_j + 1 - d_j)) >= sum(t_j + 1) - sum(d_j) >= (r + slack + 1) - r = slack + 1``.
Rows scoring less are certainly farther than ``r``; rows scoring enough (~500 of 1,000,000 random
rows at r = 52, slack 3) get their full distance computed by the owner.

The scores are added into a per-index uint8 counter (one byte per row; at most 64 per row, no
overflow), rows reaching the threshold are found eight at a time through a uint64 view, and the
counter is cleared with one ``fill``. At r = 52 a query touches ~10% of the table entries
(~100,000 per million rows) and no hash words except the candidates'.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np

from .chunks import _BUCKETS, _FLIPS, CHUNKS, chunk_radii, query_chunks


class _Tables(Protocol):
    """What the scorer needs of a ``mih.ChunkIndex``."""

    def bucket_ranges(self, buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def rows_at(self, pos: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray: ...


__all__ = ["SLACK", "Scorer", "scored_plan"]

#: Extra radius the chunks are searched with; the score needed is SLACK + 1. 3 measured best at r = 52
#: (1: ~17,000 candidates per million rows to check, 2: ~3,000; 3: ~500; 4: ~70 for 8% more entries).
SLACK = 3
_MAX_CHUNK_RADIUS = 3  # 697 values per chunk; 4 would list 3.8% of every table
_ONES = np.uint64(0x0101010101010101)
_HIGH = np.uint64(0x8080808080808080)


@lru_cache(maxsize=64)
def scored_plan(max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, tuple[tuple[int, int, int, int], ...]]:
    """For a radius: (chunk of each probe, flip mask of each probe, score of each probe, score needed,
    segments). Probe ``i`` looks at bucket ``chunk[i] * 65537 + (query chunk value ^ mask[i])`` and
    adds ``score[i]`` to every row listed there. The probes are ordered by score: ``segments`` lists
    ``(first probe, first probe of another chunk than 0, end probe, score)`` for each score."""
    slack = max(0, min(SLACK, CHUNKS * (_MAX_CHUNK_RADIUS + 1) - 1 - max_distance))
    radii = chunk_radii(max_distance + slack)
    chunks, masks, scores = [], [], []
    for j, t in enumerate(radii):
        if t < 0:
            continue
        flips = _FLIPS[t]
        chunks.append(np.full(flips.size, j, dtype=np.int64))
        masks.append(flips)
        scores.append((t + 1 - np.bitwise_count(flips)).astype(np.uint8))
    chunk, mask, score = np.concatenate(chunks), np.concatenate(masks), np.concatenate(scores)
    order = np.argsort(score, kind="stable")
    chunk, mask, score = chunk[order], mask[order], score[order]
    bounds = np.flatnonzero(np.diff(score)) + 1
    edges = [0, *bounds.tolist(), int(score.size)]
    # Within a segment the probes keep chunk order (a stable sort), so chunk 0's come first: their
    # positions are row numbers (mih.ChunkIndex), the others' are looked up in the tables.
    segments = tuple((a, a + int(np.count_nonzero(chunk[a:b] == 0)), b, int(score[a]))
                     for a, b in zip(edges[:-1], edges[1:], strict=True))
    for a in (chunk, mask, score):
        a.setflags(write=False)
    return chunk, mask, score, slack + 1, segments


class Scorer:
    """The per-row score counter of one index snapshot (one byte per row, rounded up to 8)."""

    def __init__(self, rows: int) -> None:
        self._words = np.zeros((rows + 7) // 8, dtype=np.uint64)
        self._counter = self._words.view(np.uint8)
        self._hit = np.empty(self._words.size, dtype=bool)

        self._constant: dict[int, np.ndarray] = {}  # score -> an array of it (grown as needed)

    def nbytes(self) -> int:
        return int(self._words.nbytes + self._hit.nbytes + sum(a.nbytes for a in self._constant.values()))

    def _points(self, points: int, count: int) -> np.ndarray:
        have = self._constant.get(points)
        if have is None or have.size < count:
            have = self._constant[points] = np.full(max(count, 2 * (have.size if have is not None else 0)),
                                                    points, dtype=np.uint8)
        return have[:count]

    def candidates(self, index: _Tables, q: np.ndarray, max_distance: int) -> np.ndarray:
        """Distinct rows (ascending) whose score reaches the plan's threshold: a superset of the rows
        within ``max_distance`` of ``q``."""
        chunk, mask, _score, need, segments = scored_plan(int(max_distance))
        qchunks = query_chunks(q)
        buckets = (qchunks[chunk] ^ mask) + chunk * (_BUCKETS + 1)
        pos, starts, lengths = index.bucket_ranges(buckets)
        words = self._words
        # Cleared here rather than after the last query: the sequential write also brings the counter
        # back into the cache before the random increments below.
        words.fill(0)
        if pos.size == 0:
            return np.empty(0, dtype=np.int64)
        # The probes come grouped by score, so their rows do too: one add per score (and per kind of
        # position), from a constant array (measured faster than one add with the scores repeated out
        # per row).
        ends = np.cumsum(lengths)
        counter = self._counter
        for first, rest, end, points in segments:
            lo = int(ends[first - 1]) if first else 0
            mid = int(ends[rest - 1]) if rest else 0
            hi = int(ends[end - 1])
            if mid > lo:  # chunk 0: the positions are the rows
                np.add.at(counter, pos[lo:mid], self._points(points, mid - lo))
            if hi > mid:
                rows = index.rows_at(pos[mid:hi], starts[rest:end], lengths[rest:end])
                np.add.at(counter, rows, self._points(points, hi - mid))
        if need & (need - 1) == 0:  # a power of two: byte >= need <=> one of its bits from need up is set
            np.bitwise_and(words, _ONES * np.uint64(256 - need), out=words)
        else:
            np.add(words, _ONES * np.uint64(128 - need), out=words)
            np.bitwise_and(words, _HIGH, out=words)
        np.not_equal(words, 0, out=self._hit)
        at = np.flatnonzero(self._hit)
        if at.size == 0:
            return np.empty(0, dtype=np.int64)
        bytes_ = words[at].view(np.uint8).reshape(-1, 8)
        near = (at[:, None] * 8 + np.arange(8, dtype=np.int64))[bytes_ != 0]
        return near
