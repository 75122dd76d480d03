"""In-memory PDQ hash matching (Hamming radius search) and exact SHA-256/MD5 matching.

Two exact search paths (both return every stored hash within the radius; the property tests check
them against a brute-force scan):

- the multi-index (``mih.py``) for radii up to 56 once a bank holds 32,768 hashes or more: 16
  chunk tables, full distances only for the rows sharing a nearly equal chunk with the query. At
  radius 31 (Meta's match threshold, ``media.remove_distance``) that is ~4,000 of 1,000,000 random
  hashes: ~0.3 ms per query at 1M on a 2-core machine. From radius 32 (``media.flag_distance`` 52)
  the rows are listed by score (``mih_scored.py``): ~1 ms at 1M, where the scan below takes ~3 ms.
  Costs ~61 bytes per hash on top of the 36 below (the rows are kept sorted by their first 16 bits,
  so that chunk needs no table).
- a linear scan for wider radii and small banks: the hashes are kept as
  four uint64 *columns* (a ``(4, capacity)`` array, so the ``n x 4`` matrix of words is ``words.T``),
  plus an entry id per hash (int32 while every id fits, else int64); 36 bytes per stored hash. A query first scans only words 0 and 1
  (128 bits; the distance on them is a lower bound of the full distance), in cache-sized blocks, and
  completes the distance only for the few hashes that pass (about 1.5% of random hashes at radius
  52). ~3 ms per query at 1M hashes, where a plain ``bitwise_count(words ^ q).sum(axis=1)`` over a
  row-major ``n x 4`` array takes ~30 ms.

The multi-index is a snapshot: hashes added later are scanned directly (the "tail"). Once there are
more than ``max(8192, snapshot / 64)`` of them, or a quarter of the rows are dead, it is rebuilt in the
background (``rebuild.py``: a thread by default, ~0.3 s per million hashes) while queries go on with the
old index plus the tail: no query ever waits for a rebuild (the Synapse module fails open on a slow
answer). The rebuild also compacts. ``optimize()`` builds it at once after a bulk load.

Adds are amortised O(1) (capacity grows by 1.5x); removal marks rows dead (entry id -1): dead rows
never match. Below the index size a quarter of dead rows is compacted at once (cheap). All methods are
thread-safe (one lock); a query holds the lock for its few milliseconds. Entry ids are non-negative
63-bit ints.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import numpy as np

from .exact import ExactIndex
from .exact import check_digest as _check_digest
from .exact import check_id as _check_id
from .mih import ChunkIndex
from .pdq import FLAG_DISTANCE, REMOVE_DISTANCE, Match, MultiMatch, classify, pack_hex
from .rebuild import Rebuild, build, moved, swap
from .scan import distances as _distances, scan

log = logging.getLogger(__name__)

__all__ = [
    "FLAG_DISTANCE",
    "REMOVE_DISTANCE",
    "HashMatcher",
    "Match",
    "MultiMatch",
    "classify",
    "pack_hex",
]

_DEAD = -1
_MIN_CAPACITY = 1024
_GROWTH = 1.5
_INDEX_FROM = 32768  # rows: below this a scan is as fast as the multi-index
_TAIL_MIN = 8192  # rows added since the index was built that are scanned before a rebuild
_INDEX_MAX_DISTANCE = 56  # widest radius searched through the multi-index (scored from _SCORED_FROM on)
_SCORED_FROM = 32  # radii from which the index lists rows by score (mih_scored.py), not by plain pigeonhole


def _start_thread(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="pdq-index-rebuild", daemon=True).start()


class HashMatcher:
    """Radius search over PDQ hashes grouped by bank entry, plus exact SHA-256/MD5 lookup."""

    def __init__(self, initial_capacity: int = _MIN_CAPACITY, *, index_from: int = _INDEX_FROM,
                 start_rebuild: Callable[[Callable[[], None]], None] = _start_thread) -> None:
        """``start_rebuild(job)`` runs a rebuild somewhere else than the caller (default: a new thread;
        tests pass their own to hold one half-way)."""
        self._lock = threading.RLock()
        self._index_from = int(index_from)  # rows from which queries go through the multi-index
        self._start_rebuild = start_rebuild
        self._generation = 0  # changes whenever rows are renumbered outside a rebuild (drops a running one)
        self._reset(initial_capacity)

    def _reset(self, capacity: int) -> None:
        cap = max(_MIN_CAPACITY, int(capacity))
        self._cols = np.zeros((4, cap), dtype=np.uint64)
        self._ids = np.full(cap, _DEAD, dtype=np.int32)  # int64 once an entry id needs it
        self._n = 0  # rows in use (alive + dead)
        self._index: ChunkIndex | None = None  # multi-index over rows [0, built) (mih.py)
        self._dead = 0
        self._exact = ExactIndex()  # SHA-256 / MD5 -> entries (exact.py)
        self._generation += 1
        self._job: Rebuild | None = None  # the rebuild under way
        self._failed = False  # the last rebuild raised: no automatic retry (queries stay exact on the tail)

    # -- size and introspection ----------------------------------------------------------------

    def __len__(self) -> int:
        """Number of stored (not removed) perceptual hashes."""
        return self._n - self._dead

    @property
    def words(self) -> np.ndarray:
        """The stored words as an ``(n, 4)`` uint64 view, including dead rows (for inspection), in the
        internal row order: insertion order until the multi-index is built, which sorts the rows."""
        return self._cols[:, : self._n].T

    def nbytes(self) -> int:
        """Bytes held by the hash and id arrays (allocated capacity, not just used rows)."""
        return int(self._cols.nbytes + self._ids.nbytes)

    # -- perceptual hashes ---------------------------------------------------------------------

    def add(self, entry_id: int, pdq_hexes: Iterable[str]) -> int:
        """Store the hashes of one entry (its main hash, variants, frames). Returns how many.

        Duplicates within the call are stored once. Adding to an existing entry appends.
        """
        entry_id = _check_id(entry_id)
        if isinstance(pdq_hexes, str):
            pdq_hexes = (pdq_hexes,)
        hexes = list(dict.fromkeys(h.lower() for h in pdq_hexes))
        words = pack_hex(hexes)  # validates everything before we change any state
        with self._lock:
            self._append(words, np.full(len(hexes), entry_id, dtype=np.int64))
        return len(hexes)

    def add_many(self, items: Iterable[tuple[int, str]]) -> int:
        """Bulk load ``(entry_id, pdq_hex)`` pairs (e.g. the whole bank at start-up)."""
        ids: list[int] = []
        hexes: list[str] = []
        for entry_id, h in items:
            ids.append(_check_id(entry_id))
            hexes.append(h.lower())
        words = pack_hex(hexes)
        with self._lock:
            self._append(words, np.asarray(ids, dtype=np.int64))
        return len(hexes)

    def add_packed(self, entry_ids: np.ndarray, words: np.ndarray) -> int:
        """Bulk load already packed hashes: ``words`` is ``(n, 4)`` uint64 as ``pack_hex`` makes it,
        ``entry_ids`` n non-negative ints (no hex strings in between: for large imports)."""
        words = np.asarray(words, dtype=np.uint64).reshape(-1, 4)
        ids = np.asarray(entry_ids, dtype=np.int64).reshape(-1)
        if ids.size != len(words):
            raise ValueError("one entry id per hash")
        if ids.size and int(ids.min()) < 0:
            raise ValueError("entry_id must be a non-negative 64-bit int")
        with self._lock:
            self._append(words, ids)
        return int(ids.size)

    def remove(self, entry_id: int) -> int:
        """Forget an entry: its perceptual and exact hashes stop matching. Returns hashes removed."""
        return self.remove_many((entry_id,))

    def remove_many(self, entry_ids: Iterable[int]) -> int:
        targets = np.asarray([_check_id(e) for e in entry_ids], dtype=np.int64)
        if targets.size == 0:
            return 0
        with self._lock:
            for entry_id in targets.tolist():
                self._exact.remove(entry_id)
            ids = self._ids[: self._n]
            if targets.size == 1:
                rows = np.flatnonzero(ids == targets[0])
            else:
                rows = np.flatnonzero(np.isin(ids, targets))
            if rows.size:
                ids[rows] = _DEAD
                self._cols[:, rows] = 0
                self._dead += int(rows.size)
                if self._job is not None:
                    self._job.removed.append(rows)  # re-applied to the rebuild's new arrays at its swap
                if self._n < self._index_from:
                    if self._job is None and self._dead > max(_MIN_CAPACITY, self._n // 4):
                        self._compact()
                else:
                    self._maybe_rebuild()  # compacts too
            return int(rows.size)

    def clear(self) -> None:
        with self._lock:
            self._reset(_MIN_CAPACITY)

    def query(self, pdq_hex: str, max_distance: int = FLAG_DISTANCE) -> list[Match]:
        """Entries with a stored hash within ``max_distance`` of ``pdq_hex``, best first.

        One ``Match`` per entry (its smallest distance), sorted by (distance, entry_id).
        """
        return [Match(m.entry_id, m.distance) for m in self.query_many((pdq_hex,), max_distance)]

    def query_many(
        self, pdq_hexes: Iterable[str], max_distance: int = FLAG_DISTANCE
    ) -> list[MultiMatch]:
        """Like ``query`` for several hashes at once (e.g. the frames of an animation).

        One ``MultiMatch`` per entry: the smallest distance over all query hashes and the index of
        the query hash that achieved it, sorted by (distance, entry_id). Costs one scan per hash.
        """
        if isinstance(pdq_hexes, str):
            pdq_hexes = (pdq_hexes,)
        queries = pack_hex([h.lower() for h in pdq_hexes])
        max_distance = int(max_distance)
        if max_distance < 0:
            return []
        all_rows, all_dist, all_q = [], [], []
        with self._lock:
            n = self._n
            cols = self._cols
            ids = self._ids
            for qi, q in enumerate(queries):
                rows, dist = self._search(cols, n, q, max_distance)
                if rows.size:
                    all_rows.append(rows)
                    all_dist.append(dist)
                    all_q.append(np.full(rows.size, qi, dtype=np.int64))
            if not all_rows:
                return []
            rows = np.concatenate(all_rows)
            entry = ids[rows]
        dist = np.concatenate(all_dist)
        qidx = np.concatenate(all_q)
        alive = entry != _DEAD
        entry, dist, qidx = entry[alive], dist[alive], qidx[alive]
        if entry.size == 0:
            return []
        # Best per entry: sort by (entry, distance, query index), keep the first row of each entry.
        order = np.lexsort((qidx, dist, entry))
        entry, dist, qidx = entry[order], dist[order], qidx[order]
        first = np.ones(entry.size, dtype=bool)
        first[1:] = entry[1:] != entry[:-1]
        entry, dist, qidx = entry[first], dist[first], qidx[first]
        order = np.lexsort((entry, dist))
        return [
            MultiMatch(int(e), int(d), int(i))
            for e, d, i in zip(entry[order], dist[order], qidx[order], strict=True)
        ]

    # -- exact hashes --------------------------------------------------------------------------

    def add_exact(self, entry_id: int, sha256: str | None = None, md5: str | None = None) -> None:
        """Store the exact file hashes of an entry (use for every entry; essential for low quality)."""
        entry_id = _check_id(entry_id)
        sha256 = _check_digest(sha256, 64)
        md5 = _check_digest(md5, 32)
        if sha256 is None and md5 is None:
            raise ValueError("need sha256 or md5")
        with self._lock:
            self._exact.add(entry_id, sha256, md5)

    def query_exact(self, sha256: str | None = None, md5: str | None = None) -> list[int]:
        """Entry ids whose stored SHA-256 or MD5 equals the given one, sorted.

        SHA-256 is the reliable one; MD5 is accepted for compatibility with MD5-only hash lists.
        """
        sha256 = _check_digest(sha256, 64)
        md5 = _check_digest(md5, 32)
        with self._lock:
            return sorted(self._exact.query(sha256, md5))

    # -- internals -----------------------------------------------------------------------------

    def _append(self, words: np.ndarray, ids: np.ndarray) -> None:
        k = len(ids)
        if k == 0:
            return
        need = self._n + k
        cap = self._ids.size
        if self._ids.dtype == np.int32 and int(ids.max()) > np.iinfo(np.int32).max:
            self._ids = self._ids.astype(np.int64)  # entry ids beyond 2**31 - 1: 8 bytes each from now on
        if need > cap:
            self._cols, self._ids = moved(self._cols, self._ids, slice(0, self._n), self._n,
                                           max(need, int(cap * _GROWTH) + 1))
        self._cols[:, self._n : need] = words.T
        self._ids[self._n : need] = ids
        self._n = need
        self._maybe_rebuild()

    def _compact(self) -> None:
        keep = np.flatnonzero(self._ids[: self._n] != _DEAD)
        n = int(keep.size)
        cols, ids = moved(self._cols, self._ids, keep, n, max(_MIN_CAPACITY, int(n * 1.25) + 1))
        self._cols, self._ids, self._n, self._dead = cols, ids, n, 0
        self._index = None  # row numbers changed
        self._generation += 1

    def optimize(self) -> None:
        """After a bulk load: build the multi-index now over every row (in the calling thread; queries from
        other threads go on meanwhile), so the first query does not scan. Below the index size: give back
        the capacity growth left unused."""
        with self._lock:
            if self._n < self._index_from or self._n == 0:
                self._trim()
                return
            # A rebuild under way may miss rows added since it started: ours replaces it (its result is
            # dropped at its end; the removals from now on are logged for ours).
            job = self._job = Rebuild(self._generation, self._cols, self._ids, self._n)
        self._run(job)
        if job.error is not None:
            raise job.error

    def _trim(self) -> None:
        spare = max(_MIN_CAPACITY, self._n // 64)
        if self._ids.size > self._n + 2 * spare:
            self._cols, self._ids = moved(self._cols, self._ids, slice(0, self._n), self._n, self._n + spare)

    def wait_rebuild(self, timeout: float | None = None) -> bool:
        """Wait for the rebuild under way, if any (tests, benchmarks). False on timeout."""
        with self._lock:
            job = self._job
        return job is None or job.done.wait(timeout)

    @property
    def rebuilding(self) -> bool:
        return self._job is not None

    def index_nbytes(self) -> int:
        """Bytes held by the multi-index (0 while none is built)."""
        return self._index.nbytes() if self._index is not None else 0

    def _maybe_rebuild(self) -> None:
        """Start a rebuild if the index is missing, its tail too long or a quarter of the rows dead. Call
        with the lock held; cheap (the build runs elsewhere)."""
        n = self._n
        if self._job is not None or self._failed or n == 0 or n < self._index_from:
            return
        index = self._index
        if (index is None or n - index.built > max(_TAIL_MIN, index.built // 64)
                or self._dead > max(_MIN_CAPACITY, n // 4)):
            job = self._job = Rebuild(self._generation, self._cols, self._ids, n)
            try:
                self._start_rebuild(lambda: self._run(job))
            except BaseException:
                self._job = None
                raise

    def _run(self, job: Rebuild) -> None:
        """Build (no lock held), then swap under the lock: the new arrays, the rows appended and removed
        meanwhile (``rebuild.swap``)."""
        built = None
        try:
            built = build(job, max(_MIN_CAPACITY, job.n // 64), _MIN_CAPACITY)
        except BaseException as exc:  # e.g. MemoryError at 10M: queries stay exact on the old index and tail
            job.error = exc
            log.exception("PDQ index rebuild failed (queries scan the rows added since the last build)")
        with self._lock:
            try:
                if self._job is job:
                    self._job = None
                    if built is None:
                        self._failed = True
                    elif job.generation == self._generation:
                        self._cols, self._ids, self._n, self._dead = swap(job, built, self._cols, self._ids, self._n)
                        self._index = built.index
                        self._maybe_rebuild()  # many rows appended or removed during the build
            finally:
                job.done.set()

    def _search(self, cols: np.ndarray, n: int, q: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows within ``max_distance`` of ``q`` and their distances: through the multi-index when the
        radius allows it (<= 56) and the bank is large enough to benefit, else by a linear scan.
        Both are exact; the property tests check them against a brute-force scan. Call with the lock held."""
        index = self._index
        if index is None or max_distance > _INDEX_MAX_DISTANCE:
            return scan(cols, n, q, max_distance)
        if max_distance >= _SCORED_FROM:
            rows = index.wide_candidates(q, max_distance)  # distinct rows (mih_scored.py)
        else:
            rows = index.candidates(q, max_distance)  # rows may repeat
        # Words 0 and 1 first (a lower bound that already rejects nearly every random candidate at
        # r <= 31), then the other two words for the few left: half the random memory reads.
        part = np.bitwise_count(cols[0, rows] ^ q[0]).astype(np.uint16)
        part += np.bitwise_count(cols[1, rows] ^ q[1])
        rows = rows[part <= max_distance]
        dist = _distances(cols, rows, q)
        ok = dist <= max_distance
        rows, dist = rows[ok], dist[ok]
        if rows.size > 1:
            rows, first = np.unique(rows, return_index=True)
            dist = dist[first]
        if index.built < n:  # rows added since the index was built (may be many while a rebuild runs)
            built = index.built
            tail, tdist = scan(cols[:, built:], n - built, q, max_distance)
            if tail.size:
                rows = np.concatenate((rows, tail + built))
                dist = np.concatenate((dist, tdist))
        return rows, dist
