"""The multi-index rebuild runs off the query path (media/rebuild.py): queries never wait for it and stay
exact (against brute force) while adds and removes interleave with a rebuild held half-way.

Rebuilds are started through ``HashMatcher(start_rebuild=...)``; ``Held`` runs each one in a thread of
its own that stops, on events, before reading the snapshot or after building (before its swap)."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from safety_bot.media import matcher as matcher_module
from safety_bot.media.matcher import HashMatcher, Match

RADII = (0, 8, 31, 40, 52, 60)


class Held:
    """``start_rebuild`` for tests: a rebuild is only started by ``begin``, in a thread, and then waits
    at the chosen point until ``finish``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.jobs: list = []
        self.reading = threading.Event()  # a build may read its snapshot
        self.swapping = threading.Event()  # a built index may be swapped in
        self.built = threading.Event()  # set by a build once done (waiting for ``swapping``)
        self.thread: threading.Thread | None = None
        real = matcher_module.build

        def held_build(job, spare, min_capacity):
            assert self.reading.wait(30)
            out = real(job, spare, min_capacity)
            self.built.set()
            assert self.swapping.wait(30)
            return out

        monkeypatch.setattr(matcher_module, "build", held_build)

    def __call__(self, job) -> None:
        self.jobs.append(job)

    def begin(self, *, read: bool) -> None:
        """Start the pending rebuild: held before reading its snapshot, or (read) after building."""
        assert self.jobs, "no rebuild pending"
        self.reading.clear(), self.swapping.clear(), self.built.clear()
        if read:
            self.reading.set()
        self.thread = threading.Thread(target=self.jobs.pop(), daemon=True)
        self.thread.start()
        if read:
            assert self.built.wait(30)

    def finish(self) -> None:
        self.reading.set(), self.swapping.set()
        assert self.thread is not None
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.thread = None


def rand_int(rng: random.Random) -> int:
    return rng.getrandbits(256)


def near(v: int, bits: int, rng: random.Random) -> int:
    for b in rng.sample(range(256), bits):
        v ^= 1 << b
    return v


def brute(bank: dict[int, list[int]], q: int, radius: int) -> list[Match]:
    out = []
    for entry, hs in bank.items():
        d = min((v ^ q).bit_count() for v in hs)
        if d <= radius:
            out.append(Match(entry, d))
    return sorted(out, key=lambda m: (m.distance, m.entry_id))


def check(m: HashMatcher, bank: dict[int, list[int]], rng: random.Random, count: int = 6) -> None:
    everything = [v for hs in bank.values() for v in hs]
    for _ in range(count):
        q = near(rng.choice(everything), rng.choice((0, 3, 20, 31, 45, 52)), rng) if everything else rand_int(rng)
        radius = rng.choice(RADII)
        assert m.query(f"{q:064x}", radius) == brute(bank, q, radius)


def add(m: HashMatcher, bank: dict[int, list[int]], entry: int, rng: random.Random) -> None:
    everything = [v for hs in bank.values() for v in hs]
    hs = [near(rng.choice(everything), rng.choice((1, 10, 30)), rng) if everything and rng.random() < 0.3
          else rand_int(rng) for _ in range(rng.choice((1, 1, 3)))]
    hs = list(dict.fromkeys(hs))
    m.add(entry, [f"{v:064x}" for v in hs])
    bank.setdefault(entry, []).extend(hs)


@pytest.mark.parametrize("seed", range(6))
def test_exact_while_adds_and_removes_interleave_with_a_rebuild(monkeypatch, seed):
    """Random adds, removes and queries at radii 0 to 60 (index, scored index and scan paths) while a
    rebuild is pending, held before its snapshot is read, or held after building from a snapshot that
    removals have since made stale; then after each swap. Every answer equals brute force."""
    monkeypatch.setattr(matcher_module, "_TAIL_MIN", 512)  # small banks, the same rules
    monkeypatch.setattr(matcher_module, "_MIN_CAPACITY", 64)
    rng = random.Random(seed)
    held = Held(monkeypatch)
    m = HashMatcher(index_from=0, start_rebuild=held)
    bank: dict[int, list[int]] = {}
    m.add_packed(np.arange(1500), np.random.default_rng(seed).integers(0, 2**64, (1500, 4), dtype=np.uint64))
    for e, row in enumerate(m.words.tolist()):
        bank[e] = [int("".join(f"{w:016x}" for w in row), 16)]
    held.begin(read=True)
    held.finish()  # the first index
    assert m.index_nbytes() > 0 and not m.rebuilding
    next_id = 1500
    swaps = 0
    for _round in range(8):
        # Enough new rows or removals that a rebuild is wanted (a tail of 512 rows, or a quarter dead).
        if len(bank) < 1200 or rng.random() < 0.5:
            m.add_packed(np.arange(next_id, next_id + 600),
                         np.random.default_rng(seed + next_id).integers(0, 2**64, (600, 4), dtype=np.uint64))
            for e, row in zip(range(next_id, next_id + 600), m.words[-600:].tolist(), strict=True):
                bank[e] = [int("".join(f"{w:016x}" for w in row), 16)]
            next_id += 600
        else:
            gone = rng.sample(sorted(bank), len(bank) // 3)
            m.remove_many(gone)
            for e in gone:
                del bank[e]
        assert m.rebuilding and len(held.jobs) == 1
        check(m, bank, rng)  # pending: the old index and the tail
        phase = rng.choice(("before", "after"))
        held.begin(read=phase == "after")
        for _ in range(12):  # meanwhile: adds (new entries and to old ones), removals, queries
            r = rng.random()
            if r < 0.35:
                add(m, bank, next_id, rng)
                next_id += 1
            elif r < 0.45 and bank:
                add(m, bank, rng.choice(sorted(bank)), rng)
            elif r < 0.75 and bank:
                e = rng.choice(sorted(bank))
                assert m.remove(e) == len(bank.pop(e))
            check(m, bank, rng, 2)
        assert m.rebuilding
        held.finish()
        swaps += 1
        check(m, bank, rng)
        assert len(m) == sum(len(hs) for hs in bank.values())
        assert m._dead <= 12 * 6  # compacted: only rows removed during the build stay dead
    assert swaps == 8


def test_a_query_during_a_rebuild_does_not_wait_for_it(monkeypatch):
    """The rebuild is held (after building, before its swap): a query from another thread still answers
    at once, through the old index and the tail."""
    held = Held(monkeypatch)
    m = HashMatcher(index_from=0, start_rebuild=held)
    words = np.random.default_rng(1).integers(0, 2**64, (29_000, 4), dtype=np.uint64)
    m.add_packed(np.arange(5000), words[:5000])
    held.begin(read=True)
    held.finish()
    m.add_packed(np.arange(5000, 20_000), words[5000:20_000])
    for read in (False, True):
        held.begin(read=read)
        answers = []
        for row in (0, 4999, 5000, 19_999):
            h = "".join(f"{int(w):016x}" for w in words[row])
            asker = threading.Thread(target=lambda h=h: answers.append(m.query(h, 31)))
            asker.start()
            asker.join(10)
            assert not asker.is_alive(), "a query waited for the rebuild"
        assert m.rebuilding
        assert answers == [[Match(0, 0)], [Match(4999, 0)], [Match(5000, 0)], [Match(19_999, 0)]]
        if read:
            held.finish()
            assert m._index.built == 29_000 and m.query("".join(f"{int(w):016x}" for w in words[28_999]), 0) == [Match(28_999, 0)]
        else:
            held.finish()
            m.add_packed(np.arange(20_000, 29_000), words[20_000:])  # another rebuild, for the second pass


def test_a_removal_during_a_rebuild_never_matches_afterwards(monkeypatch):
    """The snapshot was built while the entry was alive: once ``remove`` returns it matches neither
    during the build nor after the swap; an entry added during the build matches after it."""
    rng = random.Random(5)
    held = Held(monkeypatch)
    m = HashMatcher(index_from=0, start_rebuild=held)
    hexes = {e: [f"{rand_int(rng):064x}" for _ in range(3)] for e in range(12_000)}
    m.add_many((e, h) for e, hs in hexes.items() for h in hs)
    held.begin(read=True)
    held.finish()
    for e in range(12_000, 21_000):
        hexes[e] = [f"{rand_int(rng):064x}"]
        m.add(e, hexes[e])
    assert m.rebuilding
    held.begin(read=True)  # built from a snapshot holding every entry so far
    victims = [7, 11_999, 12_000, 20_999]  # two in the old index, two in the tail
    for e in victims:
        assert m.query(hexes[e][-1], 52)[0] == Match(e, 0)
        assert m.remove(e) == len(hexes[e])
        assert all(x.entry_id != e for h in hexes[e] for x in m.query(h, 52))
    m.add(20_000, hexes[7][0])  # the same hash, another entry, during the build
    held.finish()
    assert not m.rebuilding and m._index.built == 36_000 + 8193 and m._n == 45_001 and m._dead == 8
    for e in victims:
        for h in hexes[e]:
            assert all(x.entry_id != e for x in m.query(h, 52))
    assert m.query(hexes[7][0], 0) == [Match(20_000, 0)]
    assert m.query(hexes[8][2], 0) == [Match(8, 0)]
    assert len(m) == 45_000 - 8 + 1


def test_clear_during_a_rebuild_drops_it(monkeypatch):
    held = Held(monkeypatch)
    m = HashMatcher(index_from=0, start_rebuild=held)
    words = np.random.default_rng(2).integers(0, 2**64, (3000, 4), dtype=np.uint64)
    m.add_packed(np.arange(3000), words)
    held.begin(read=True)
    m.clear()
    held.finish()
    h = "".join(f"{int(w):016x}" for w in words[0])
    assert len(m) == 0 and m.query(h, 52) == [] and m.index_nbytes() == 0
    m.add(1, h)
    assert m.query(h, 0) == [Match(1, 0)]


def test_a_failed_rebuild_leaves_queries_exact(monkeypatch):
    """A build that raises (e.g. MemoryError at 10M) is logged, not retried on every add; queries go on
    through the old index and the tail."""
    rng = random.Random(6)
    m = HashMatcher(index_from=0, start_rebuild=lambda job: job())
    bank = {e: [rand_int(rng)] for e in range(3000)}
    m.add_many((e, f"{v:064x}") for e, hs in bank.items() for v in hs)
    calls = []

    def failing(job, spare, min_capacity):
        calls.append(job)
        raise MemoryError("simulated")

    monkeypatch.setattr(matcher_module, "build", failing)
    for e in range(3000, 12_000):
        bank[e] = [rand_int(rng)]
        m.add(e, f"{bank[e][0]:064x}")
    assert len(calls) == 1 and not m.rebuilding and m._index.built == 3000
    check(m, bank, rng, 20)


def test_real_background_rebuilds_under_concurrent_queries(monkeypatch):
    """Real threads (the default start_rebuild): one thread adds and removes entries, starting rebuild
    after rebuild (small thresholds), while two others query without pause. Entries never removed always
    match; an entry never matches once its removal returned (checked by the thread that removed it, and by
    the others after they see it gone from the live set)."""
    monkeypatch.setattr(matcher_module, "_TAIL_MIN", 128)
    monkeypatch.setattr(matcher_module, "_MIN_CAPACITY", 64)
    swaps: list[int] = []
    real_swap = matcher_module.swap

    def counted_swap(job, built, cols, ids, n):
        swaps.append(n)
        return real_swap(job, built, cols, ids, n)

    monkeypatch.setattr(matcher_module, "swap", counted_swap)
    rng = random.Random(9)
    m = HashMatcher(index_from=0)
    anchors = {e: f"{rand_int(rng):064x}" for e in range(200)}
    m.add_many(anchors.items())
    removed: dict[int, str] = {}
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []

    def asker(seed: int) -> None:
        r = random.Random(seed)
        while not stop.is_set():
            e = r.randrange(200)
            got = m.query(anchors[e], r.choice((0, 31, 52)))
            if Match(e, 0) not in got:
                errors.append(f"anchor {e} missing")
            with lock:
                gone = list(removed.items())[-5:]
            for g, h in gone:
                if any(x.entry_id == g for x in m.query(h, 52)):
                    errors.append(f"removed {g} matched")

    threads = [threading.Thread(target=asker, args=(s,), daemon=True) for s in (1, 2)]
    for t in threads:
        t.start()
    try:
        live: dict[int, str] = {}
        next_id = 1000
        for _ in range(400):
            for _ in range(rng.randrange(1, 40)):
                live[next_id] = f"{rand_int(rng):064x}"
                m.add(next_id, live[next_id])
                next_id += 1
            for e in rng.sample(sorted(live), min(len(live), rng.randrange(0, 30))):
                h = live.pop(e)
                m.remove(e)
                if any(x.entry_id == e for x in m.query(h, 52)):
                    errors.append(f"removed {e} matched right after remove")
                with lock:
                    removed[e] = h
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert m.wait_rebuild(30)
    assert not errors, errors[:5]
    assert len(swaps) >= 3  # rebuilds were swapped in meanwhile (7 to 20 seen)
    for e, h in list(live.items())[:50] + list(anchors.items())[:50]:
        assert m.query(h, 0) == [Match(e, 0)]
    assert len(m) == len(live) + len(anchors)
