"""The multi-index search path of HashMatcher: 100% recall against a brute-force scan.

Banks are made small here with ``index_from=0`` so the index path runs on every query (the
production switch-over is at 32,768 hashes); one test uses a bank above the switch-over."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safety_bot.media import FLAG_DISTANCE, REMOVE_DISTANCE, HashMatcher, Match
from safety_bot.media.mih import CHUNKS, ChunkIndex, chunk_radii


def brute(words: np.ndarray, ids: np.ndarray, dead: set[int], q: int, radius: int) -> list[Match]:
    """Independent reference: Python big ints, every row."""
    best: dict[int, int] = {}
    for row, e in zip(words, ids.tolist(), strict=True):
        if e in dead:
            continue
        v = (int(row[0]) << 192) | (int(row[1]) << 128) | (int(row[2]) << 64) | int(row[3])
        d = (v ^ q).bit_count()
        if d <= radius and d < best.get(e, 1 << 30):
            best[e] = d
    return [Match(e, d) for e, d in sorted(best.items(), key=lambda kv: (kv[1], kv[0]))]


def hexes(words: np.ndarray) -> list[str]:
    blob = words.astype(">u8").tobytes().hex()
    return [blob[i * 64:(i + 1) * 64] for i in range(len(words))]


def spread(value: int, per_chunk: list[int], rng: random.Random) -> int:
    """Flip exactly per_chunk[j] bits inside chunk j (chunk 0 = the most significant 16 bits)."""
    for j, k in enumerate(per_chunk):
        for b in rng.sample(range(16), k):
            value ^= 1 << (255 - 16 * j - b)
    return value


def test_chunk_radii_are_the_pigeonhole_bound():
    for r in range(0, 64):
        radii = chunk_radii(r)
        assert len(radii) == CHUNKS and min(radii) >= -1 and max(radii) <= 3
        assert sum(t + 1 for t in radii) == r + 1  # all chunks beyond their radius => distance > r


@pytest.mark.parametrize("radius", [0, 15, 16, 30, REMOVE_DISTANCE, 32, 40, 47])
def test_worst_case_spread_is_found(radius):
    """A hash at exactly the radius, its differences spread as evenly over the chunks as the
    pigeonhole allows (every chunk at its radius), is found; one more bit is not."""
    rng = random.Random(radius)
    base = rng.getrandbits(256)
    radii = chunk_radii(radius)
    # Distance exactly `radius` with only one chunk (a random one) within its radius: every other chunk
    # differs by t_j + 1 bits, the one by t_j.
    per_chunk = [t + 1 for t in radii]
    per_chunk[rng.choice([j for j, t in enumerate(radii) if t >= 0])] -= 1
    near = spread(base, per_chunk, rng)
    assert (near ^ base).bit_count() == radius
    # Every chunk beyond its radius: distance radius + 1, which must not match.
    far = spread(base, [t + 1 for t in radii], rng)
    assert (far ^ base).bit_count() == radius + 1
    nprng = np.random.default_rng(radius)
    words = nprng.integers(0, 2**64, (3000, 4), dtype=np.uint64)
    m = HashMatcher(index_from=0)
    m.add_many(enumerate(hexes(words)))
    m.add(10_000, [f"{base:064x}"])
    m.optimize()
    assert m.index_nbytes() > 0
    assert Match(10_000, radius) in m.query(f"{near:064x}", max_distance=radius)
    assert all(x.entry_id != 10_000 for x in m.query(f"{far:064x}", max_distance=radius))


_bits = st.lists(st.integers(0, 255), max_size=60, unique=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 600),
    near=st.lists(st.tuples(st.integers(0, 10_000), _bits), max_size=6),
    spreads=st.lists(st.tuples(st.integers(0, 10_000), st.lists(st.integers(0, 5), min_size=16, max_size=16)),
                     max_size=4),
    added_later=st.integers(0, 40),
    removed=st.sets(st.integers(0, 300), max_size=20),
    radius=st.sampled_from([0, 7, 15, 16, 31, 32, 40, 47, 48, FLAG_DISTANCE, 53, 56, 57, 64]),
)
def test_index_equals_brute_force(seed, n, near, spreads, added_later, removed, radius):
    """Random banks (ids repeat: several hashes per entry), near-duplicates flipped anywhere or spread
    chunk by chunk, rows added after the index was built (the tail), removed entries."""
    nprng = np.random.default_rng(seed)
    rng = random.Random(seed)
    words = nprng.integers(0, 2**64, (n + added_later, 4), dtype=np.uint64)
    ids = nprng.integers(0, 300, n + added_later)
    m = HashMatcher(index_from=0)
    m.add_many(zip(ids[:n].tolist(), hexes(words[:n]), strict=True))
    m.optimize()
    m.add_many(zip(ids[n:].tolist(), hexes(words[n:]), strict=True))  # the tail, scanned directly
    m.remove_many(removed)
    queries = [rng.getrandbits(256)]
    total = n + added_later
    if total:
        ints = [int(h, 16) for h in hexes(words)]
        for pick, bits in near:
            v = ints[pick % total]
            for b in bits:
                v ^= 1 << b
            queries.append(v)
        for pick, per_chunk in spreads:
            queries.append(spread(ints[pick % total], per_chunk, rng))
    for q in queries:
        assert m.query(f"{q:064x}", max_distance=radius) == brute(words, ids, removed, q, radius)


def test_bank_above_the_switch_over_matches_brute_force():
    """40,000 hashes (the default index_from applies), planted near-duplicates at and around both
    configured distances, queries before and after a compaction (row numbers change)."""
    rng = random.Random(3)
    nprng = np.random.default_rng(3)
    n = 40_000
    words = nprng.integers(0, 2**64, (n, 4), dtype=np.uint64)
    ids = np.arange(n) // 4
    m = HashMatcher()
    m.add_many(zip(ids.tolist(), hexes(words), strict=True))
    ints = [int(h, 16) for h in hexes(words)]
    dead: set[int] = set()
    for rnd in range(2):
        queries = []
        for i in rng.sample(range(n), 8):
            for bits in (0, 1, 16, 17, 30, 31, 32, 47, 52, 53):
                v = ints[i]
                for b in rng.sample(range(256), bits):
                    v ^= 1 << b
                queries.append(v)
        for q in queries:
            for radius in (REMOVE_DISTANCE, 47, FLAG_DISTANCE):
                assert m.query(f"{q:064x}", max_distance=radius) == brute(words, ids, dead, q, radius)
        if rnd == 0:
            assert m.wait_rebuild(60) and m.index_nbytes() > 0  # the index path ran (built in the background)
            gone = set(range(0, n // 4, 2))  # half the entries: forces a compaction
            m.remove_many(gone)
            dead |= gone
            assert len(m) == n - 4 * len(gone)


def test_index_snapshot_of_nothing():
    idx = ChunkIndex(np.zeros((4, 0), dtype=np.uint64), 0)
    assert idx.candidates(np.zeros(4, dtype=np.uint64), 31).size == 0


def test_add_packed_equals_add_many_and_refuses_bad_input():
    nprng = np.random.default_rng(8)
    words = nprng.integers(0, 2**64, (500, 4), dtype=np.uint64)
    ids = np.arange(500) // 5
    a, b = HashMatcher(index_from=0), HashMatcher(index_from=0)
    a.add_many(zip(ids.tolist(), hexes(words), strict=True))
    assert b.add_packed(ids, words) == 500
    for q in hexes(words[::50]):
        assert a.query(q, 31) == b.query(q, 31) and b.query(q, 0)[0].distance == 0
    with pytest.raises(ValueError):
        b.add_packed(ids[:3], words[:2])
    with pytest.raises(ValueError):
        b.add_packed(np.array([-1]), words[:1])
    assert len(b) == 500


def test_entry_ids_beyond_32_bits_widen_the_id_array():
    m = HashMatcher(index_from=0)
    nprng = np.random.default_rng(9)
    words = nprng.integers(0, 2**64, (300, 4), dtype=np.uint64)
    m.add_packed(np.arange(300), words)
    assert m.nbytes() == m._cols.nbytes + m._ids.nbytes and m._ids.dtype == np.int32
    big = 2**40 + 7
    h = hexes(words[:1])[0]
    m.add(big, [h])
    assert m._ids.dtype == np.int64
    assert [x.entry_id for x in m.query(h, 0)] == [0, big]
    m.remove(0)
    assert [x.entry_id for x in m.query(h, 31)] == [big]


def test_optimize_gives_back_unused_capacity_and_keeps_every_hash():
    nprng = np.random.default_rng(10)
    words = nprng.integers(0, 2**64, (5000, 4), dtype=np.uint64)
    m = HashMatcher(initial_capacity=50_000, index_from=0)
    m.add_packed(np.arange(5000), words)
    before = m.nbytes()
    m.optimize()
    assert m.nbytes() < before / 5 and len(m) == 5000
    for q in hexes(words[::500]):
        assert m.query(q, 0)[0].distance == 0
    m.add_packed(np.arange(5000, 5100), words[:100])  # still grows after
    assert len(m.query(hexes(words[:1])[0], 0)) == 2
