"""HashMatcher (radius search, removal, exact hashes) against a brute-force reference."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safety_bot.media import (
    FLAG_DISTANCE,
    REMOVE_DISTANCE,
    HashMatcher,
    Match,
    MultiMatch,
    classify,
    hamming,
)
from safety_bot.media.matcher import pack_hex
from safety_bot.media.scan import _BLOCK


def rand_hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def flip(h: str, bits: int, rng: random.Random) -> str:
    value = int(h, 16)
    for b in rng.sample(range(256), bits):
        value ^= 1 << b
    return f"{value:064x}"


def reference(stored: list[tuple[int, str]], removed: set[int], q: str, radius: int) -> list[Match]:
    best: dict[int, int] = {}
    for entry, h in stored:
        if entry in removed:
            continue
        d = hamming(q, h)
        if d <= radius and d < best.get(entry, 1 << 30):
            best[entry] = d
    return [Match(e, d) for e, d in sorted(best.items(), key=lambda kv: (kv[1], kv[0]))]


def test_pack_hex_and_words():
    rng = random.Random(1)
    hexes = [rand_hex(rng) for _ in range(10)]
    words = pack_hex(hexes)
    assert words.shape == (10, 4) and words.dtype == np.uint64
    for h, row in zip(hexes, words, strict=True):
        assert "".join(f"{int(w):016x}" for w in row) == h
    m = HashMatcher()
    m.add(5, hexes)
    assert np.array_equal(m.words, words)
    with pytest.raises(ValueError):
        pack_hex(["xyz"])


def test_query_basics():
    rng = random.Random(2)
    m = HashMatcher()
    assert len(m) == 0 and m.query(rand_hex(rng)) == []
    a, b = rand_hex(rng), rand_hex(rng)
    m.add(1, [a, flip(a, 40, rng)])
    m.add(2, [b])
    assert len(m) == 3
    assert m.query(a) == [Match(1, 0)]  # best distance per entry, one match per entry
    near = flip(a, 20, rng)
    assert m.query(near) == [Match(1, 20)]
    assert m.query(near, max_distance=19) == []
    assert m.query(a.upper()) == [Match(1, 0)]
    res = m.query_many([b, near])
    assert res == [MultiMatch(2, 0, 0), MultiMatch(1, 20, 1)]
    entry_id, distance = m.query(near)[0]  # plain matches unpack as pairs
    assert (entry_id, distance) == (1, 20)
    with pytest.raises(ValueError):
        m.query("not a hash")
    with pytest.raises(ValueError):
        m.add(-1, [a])
    with pytest.raises(ValueError):
        m.add(3, [a, "zz"])
    assert len(m) == 3  # the failed add changed nothing


def test_remove_stops_matching_and_compacts():
    rng = random.Random(3)
    m = HashMatcher()
    hashes = {e: [rand_hex(rng) for _ in range(3)] for e in range(3000)}
    for e, hs in hashes.items():
        m.add(e, hs)
    assert len(m) == 9000
    target = hashes[42][1]
    assert m.query(target) == [Match(42, 0)]
    assert m.remove(42) == 3
    assert m.query(target) == [] and len(m) == 8997
    assert m.remove(42) == 0
    # Remove most entries: triggers compaction; survivors still match exactly.
    assert m.remove_many(range(0, 2500)) == 3 * 2499
    assert len(m) == 1500
    assert m._n < 9000  # compacted
    for e in (2500, 2750, 2999):
        assert m.query(hashes[e][2]) == [Match(e, 0)]
    assert m.query(hashes[10][0]) == []
    m.clear()
    assert len(m) == 0 and m.query(hashes[2999][2]) == []


def test_growth_is_geometric():
    m = HashMatcher()
    rng = random.Random(4)
    reallocations = 0
    last = m._cols
    for e in range(20_000):
        m.add(e, [rand_hex(rng)])
        if m._cols is not last:
            reallocations += 1
            last = m._cols
    assert len(m) == 20_000
    assert reallocations <= 12  # 1024 * 1.5**k >= 20000 -> k = 8
    assert m.nbytes() <= 1.5 * 40 * 20_000 + 40 * 1024


def test_large_scan_equals_brute_force_across_blocks():
    """Enough rows for several scan blocks, planted near-duplicates, radii around the thresholds."""
    rng = random.Random(5)
    nprng = np.random.default_rng(5)
    n = 3 * _BLOCK + 123
    words = nprng.integers(0, 2**64, (n, 4), dtype=np.uint64)
    hexes = ["".join(f"{int(w):016x}" for w in row) for row in words]
    ids = nprng.integers(0, n // 3, n)
    m = HashMatcher()
    m.add_many(zip(ids.tolist(), hexes, strict=True))
    assert len(m) == n
    ints = [int(h, 16) for h in hexes]
    id_list = ids.tolist()
    queries = []
    for i in rng.sample(range(n), 6):  # near-duplicates of stored hashes, in different blocks
        for bits in (0, 10, 31, 32, 52, 53, 60):
            queries.append(flip(hexes[i], bits, rng))
    queries += [rand_hex(rng) for _ in range(3)]
    for q in queries:
        # Brute force with Python ints (independent of numpy), once per query for all radii.
        qv = int(q, 16)
        close = [(e, d) for e, v in zip(id_list, ints, strict=True) if (d := (qv ^ v).bit_count()) <= 90]
        for radius in (REMOVE_DISTANCE, FLAG_DISTANCE, 56, 57, 90):
            best: dict[int, int] = {}
            for e, d in close:
                if d <= radius and d < best.get(e, 999):
                    best[e] = d
            expected = [Match(e, d) for e, d in sorted(best.items(), key=lambda kv: (kv[1], kv[0]))]
            assert m.query(q, max_distance=radius) == expected, (radius,)
    # query_many agrees with the per-hash results.
    some = queries[:7]
    combined = {}
    for qi, q in enumerate(some):
        for mt in m.query(q):
            if mt.entry_id not in combined or mt.distance < combined[mt.entry_id].distance:
                combined[mt.entry_id] = MultiMatch(mt.entry_id, mt.distance, qi)
    expected = sorted(combined.values(), key=lambda x: (x.distance, x.entry_id))
    assert m.query_many(some) == expected


_hash_int = st.integers(0, 2**256 - 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(st.tuples(st.integers(0, 30), _hash_int), min_size=0, max_size=120),
    near=st.lists(st.tuples(st.integers(0, 10_000), st.lists(st.integers(0, 255), max_size=70)),
                  max_size=8),
    fresh=st.lists(_hash_int, max_size=3),
    removed=st.sets(st.integers(0, 30), max_size=8),
    radius=st.sampled_from([0, 5, 31, 52, 56, 57, 64, 100, 128, 200, 256]),
)
def test_query_equals_python_reference(entries, near, fresh, removed, radius):
    stored = [(e, f"{v:064x}") for e, v in entries]
    m = HashMatcher()
    for e, h in stored:
        m.add(e, [h])
    m.remove_many(removed)
    queries = [f"{v:064x}" for v in fresh]
    for pick, bits in near:  # near-duplicates of stored hashes
        if stored:
            value = int(stored[pick % len(stored)][1], 16)
            for b in bits:
                value ^= 1 << b
            queries.append(f"{value:064x}")
    for q in queries:
        assert m.query(q, max_distance=radius) == reference(stored, removed, q, radius)


def test_exact_matching():
    m = HashMatcher()
    sha_a, md5_a = "a" * 64, "b" * 32
    sha_b, md5_b = "c" * 64, "d" * 32
    m.add_exact(1, sha_a, md5_a)
    m.add_exact(2, sha_b.upper(), md5_b)
    m.add_exact(3, sha_a)  # the same file banked twice
    assert m.query_exact(sha_a) == [1, 3]
    assert m.query_exact(md5=md5_b) == [2]
    assert m.query_exact(sha_b, md5_a) == [1, 2]
    assert m.query_exact("e" * 64, "f" * 32) == []
    assert len(m) == 0  # exact hashes are not perceptual hashes
    m.remove(1)
    assert m.query_exact(sha_a, md5_a) == [3]
    m.remove(3)
    assert m.query_exact(sha_a) == []
    with pytest.raises(ValueError):
        m.add_exact(4)
    with pytest.raises(ValueError):
        m.query_exact("abc")


def test_classify():
    assert classify(0, 100, 100) == "remove"
    assert classify(31, 50, 50) == "remove"
    assert classify(32, 100, 100) == "flag"
    assert classify(52, 100, 100) == "flag"
    assert classify(53, 100, 100) is None
    assert classify(0, 49, 100) is None
    assert classify(0, 100, 49) is None
    assert classify(20, 100, 100, remove_at=10, flag_at=25) == "flag"
    assert classify(20, 30, 30, min_quality=20) == "remove"


def test_end_to_end_bank_and_match():
    """Banking a generated image's hashes and finding an edited copy, via the public API only."""
    from PIL import Image

    from safety_bot.media import hash_image_bytes

    from .test_hashing import encode, generate

    m = HashMatcher()
    bank = {}
    for entry in range(5):
        h = hash_image_bytes(encode(generate(200 + entry)), with_variants=True)
        m.add(entry, h.bank_hashes())
        m.add_exact(entry, h.sha256, h.md5)
        bank[entry] = h
    original = generate(203)
    mirrored = original.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((320, 240))
    q = hash_image_bytes(encode(mirrored, "JPEG", quality=70))
    matches = m.query_many(q.query_hashes())
    assert matches and matches[0].entry_id == 3
    assert classify(matches[0].distance, q.quality, bank[3].quality) == "remove"
    assert all(mt.entry_id == 3 for mt in matches)
    assert m.query_exact(bank[3].sha256) == [3]
    m.remove(3)
    assert m.query_many(q.query_hashes()) == [] and m.query_exact(bank[3].sha256) == []
