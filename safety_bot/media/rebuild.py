"""Building the PDQ multi-index off the query path (``HashMatcher``'s rebuilds).

A rebuild never runs inside a query: the Synapse module asks the bot before storing each upload and
fails open on a timeout, so a query waiting seconds for a rebuild (~0.3 s at 1M hashes, ~5 s at 10M)
could let a banked picture through. Instead the matcher starts a ``Rebuild`` (a background thread by
default) over a snapshot of its rows ``[0, n)``; ``build`` reads those rows without the lock and makes
*new* arrays: the alive rows sorted by chunk 0 (which also compacts away the dead ones), their
``ChunkIndex``, and ``inv``, the old row -> new row map. Meanwhile queries keep using the old index plus
a scan of the rows appended since it was built, on the old arrays: exact at every moment.

The swap (``swap``, under the matcher's lock, a few milliseconds) carries over what happened during the
build: rows removed meanwhile (``Rebuild.removed``, old row numbers, logged by ``remove``) are marked dead
in the new arrays through ``inv`` (so a removal is never undone by a snapshot that still had the entry,
even one read half-way through the removal), and the rows appended since the snapshot are copied after
the new index's rows (the new tail). A clear() or a synchronous compaction meanwhile renumbers the rows:
the matcher's generation changes and the finished build is dropped.

Memory: while a build runs both generations exist. Per hash: the old arrays and index (32 + 4 + 60 bytes,
+2 of scoring scratch), the new ones (the same, for the alive rows), ``inv`` (4) and the transient sort
keys/orders of one table at a time (~10). Measured at 10M: peak RSS 2.57 GB, 1.08 GB after the swap
(the in-place rebuild inside a query before this peaked at 1.79 GB: it too held two indexes, but one
copy of the hashes). Not reordering the rows (a chunk-0 table instead, +4 bytes per hash) would save
the copy; left for now.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from .mih import ChunkIndex

__all__ = ["Built", "Rebuild", "build", "swap"]

DEAD = -1


class Built(NamedTuple):
    cols: np.ndarray  # (4, capacity) uint64: the snapshot's alive rows sorted by chunk 0, then spare room
    ids: np.ndarray  # their entry ids (DEAD beyond ``rows``)
    rows: int  # rows of the new index
    inv: np.ndarray  # old row (< snapshot n) -> new row, -1 for rows dead at the snapshot
    index: ChunkIndex


class Rebuild:
    """One build: the snapshot (arrays and row count at its start) and the removals made while it runs."""

    def __init__(self, generation: int, cols: np.ndarray, ids: np.ndarray, n: int) -> None:
        self.generation = generation
        self.cols, self.ids, self.n = cols, ids, int(n)
        self.removed: list[np.ndarray] = []  # old row numbers marked dead since the start (under the lock)
        self.done = threading.Event()
        self.error: BaseException | None = None


def moved(cols: np.ndarray, ids: np.ndarray, rows, n: int, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """New arrays of ``capacity`` rows holding the ``n`` given rows (a slice or row numbers) first; the
    rest are dead (the matcher's growth, compaction and trim, and a swap that outgrew the build)."""
    new_cols = np.zeros((4, capacity), dtype=np.uint64)
    new_cols[:, :n] = cols[:, rows]
    new_ids = np.full(capacity, DEAD, dtype=ids.dtype)
    new_ids[:n] = ids[rows]
    return new_cols, new_ids


def build(job: Rebuild, spare: int, min_capacity: int) -> Built:
    """The new arrays and index for the snapshot of ``job``. Runs without the matcher's lock: removals may
    change ``job.ids`` (and zero hash words) while this reads them; ``swap`` re-applies them all."""
    cols, ids, n = job.cols, job.ids, job.n
    keep = np.flatnonzero(ids[:n] != DEAD)
    first = (cols[0, keep] >> np.uint64(48)).astype(np.uint16)
    src = keep[np.argsort(first, kind="stable")]  # radix sort: the order ChunkIndex needs
    del keep, first
    m = int(src.size)
    cap = max(min_capacity, m + spare)
    new_cols = np.zeros((4, cap), dtype=np.uint64)
    for w in range(4):
        np.take(cols[w], src, out=new_cols[w, :m])
    new_ids = np.full(cap, DEAD, dtype=ids.dtype)
    np.take(ids, src, out=new_ids[:m])
    inv = np.full(n, -1, dtype=np.int32 if n < 2**31 else np.int64)
    inv[src] = np.arange(m, dtype=inv.dtype)
    del src
    index = ChunkIndex(new_cols, m)
    index.prepare()
    return Built(new_cols, new_ids, m, inv, index)


def swap(job: Rebuild, built: Built, cols: np.ndarray, ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Under the lock: the new (cols, ids, rows in use, dead rows) from a finished build and the live arrays
    (``n`` rows, numbered like the snapshot's). Cost: the removals and appends made during the build."""
    new_cols, new_ids, m = built.cols, built.ids, built.rows
    dead = 0
    if job.removed:
        old = np.concatenate(job.removed)
        old = old[old < job.n]  # later rows are copied below with their current ids
        new = built.inv[old]
        new = new[new >= 0]  # rows already dead at the snapshot are not in the new arrays
        new_ids[new] = DEAD
        new_cols[:, new] = 0
        dead += int(new.size)
    if new_ids.dtype != ids.dtype:  # an entry id beyond int32 arrived during the build
        new_ids = new_ids.astype(ids.dtype)
    tail = n - job.n
    if tail > 0:
        need = m + tail
        if need > new_ids.size:  # a large import during the build: grow once, here
            new_cols, new_ids = moved(new_cols, new_ids, slice(0, m), m, need + need // 4)
        new_cols[:, m:need] = cols[:, job.n : n]
        new_ids[m:need] = ids[job.n : n]
        dead += int(np.count_nonzero(ids[job.n : n] == DEAD))
    return new_cols, new_ids, m + max(tail, 0), dead
