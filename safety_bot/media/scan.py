"""The linear scan of the PDQ matcher (wide radii, small banks) and the full-distance helper.

See ``matcher.py`` for when each path is used."""

from __future__ import annotations

import numpy as np

_BLOCK = 65536  # rows per scan block (two uint64 columns, 1 MB, + counts stay in L2)
_PARTIAL_BITS = 128  # bits covered by the first-stage filter (words 0 and 1)
_FILTER_MAX_DISTANCE = 56  # above this radius the filter passes >10% of random rows


def scan(cols: np.ndarray, n: int, q: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (ascending) within ``max_distance`` of ``q`` and their distances (uint16)."""
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.uint16)
    if max_distance > _FILTER_MAX_DISTANCE:
        # The two-word filter would pass too much (half the rows at 64): scan all four words.
        dist = np.bitwise_count(cols[0, :n] ^ q[0]).astype(np.uint16)
        for k in range(1, 4):
            dist += np.bitwise_count(cols[k, :n] ^ q[k])
        rows = np.flatnonzero(dist <= max_distance)
        return rows, dist[rows]
    threshold = max_distance  # <= _FILTER_MAX_DISTANCE < _PARTIAL_BITS
    block = min(_BLOCK, n)
    # Words 0 and 1 of a block in one call each (a (2, block) view of the columns), into buffers reused
    # for every block: measured about twice as fast as one word per call with temporaries.
    xor = np.empty((2, block), dtype=np.uint64)
    counts = np.empty((2, block), dtype=np.uint8)
    total = np.empty(block, dtype=np.uint8)
    mask = np.empty(block, dtype=bool)
    q01 = np.ascontiguousarray(q[:2], dtype=np.uint64).reshape(2, 1)
    q0 = q[0]
    parts = []
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        m = hi - lo
        np.bitwise_xor(cols[0:2, lo:hi], q01, out=xor[:, :m])
        np.bitwise_count(xor[:, :m], out=counts[:, :m])
        np.add(counts[0, :m], counts[1, :m], out=total[:m])  # <= 128: no uint8 overflow
        np.less_equal(total[:m], threshold, out=mask[:m])
        hit = np.flatnonzero(mask[:m])
        if hit.size:
            parts.append(hit + lo)
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.uint16)
    rows = np.concatenate(parts)
    dist = np.bitwise_count(cols[0, rows] ^ q0).astype(np.uint16)
    for k in (1, 2, 3):
        dist += np.bitwise_count(cols[k, rows] ^ q[k])
    ok = dist <= max_distance
    return rows[ok], dist[ok]


def distances(cols: np.ndarray, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Full 256-bit distances (uint16) from ``q`` to the given rows."""
    dist = np.bitwise_count(cols[0, rows] ^ q[0]).astype(np.uint16)
    for k in (1, 2, 3):
        dist += np.bitwise_count(cols[k, rows] ^ q[k])
    return dist
