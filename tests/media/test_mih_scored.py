"""The scored multi-index path (radii 32 to 56, e.g. media.flag_distance 52): exact against brute force,
including rows built to sit exactly on the score threshold."""

from __future__ import annotations

import random

import numpy as np
import pytest

from safety_bot.media import HashMatcher, Match
from safety_bot.media.mih import CHUNKS, ChunkIndex
from safety_bot.media.mih_scored import Scorer, scored_plan

from .test_mih import brute, hexes, spread

SCORED = [32, 40, 47, 52, 53, 56]


def plan_radii(radius: int) -> tuple[list[int], int]:
    """Per-chunk radius of the plan and the score needed."""
    chunk, mask, _score, need, _segments = scored_plan(radius)
    radii = [-1] * CHUNKS
    for j, m in zip(chunk.tolist(), mask.tolist(), strict=True):
        radii[j] = max(radii[j], int(m).bit_count())
    return radii, need


@pytest.mark.parametrize("radius", SCORED)
def test_plan_is_the_scored_pigeonhole(radius):
    radii, need = plan_radii(radius)
    assert sum(t + 1 for t in radii) - radius == need >= 1
    assert max(radii) <= 3
    chunk, mask, score, _, segments = scored_plan(radius)
    # Each probe scores t_j + 1 - (bits flipped), every value within t_j is probed exactly once per chunk.
    for j in range(CHUNKS):
        sel = chunk == j
        flips = mask[sel]
        assert np.unique(flips).size == flips.size
        assert flips.size == sum(1 for v in range(1 << 16) if v.bit_count() <= radii[j])
        assert np.array_equal(score[sel], radii[j] + 1 - np.bitwise_count(flips))
    assert sum(t + 1 for t in radii) < 128 - need  # the counter's bytes never carry (see Scorer)
    # The segments cover every probe once, in order, each with one score.
    assert segments[0][0] == 0 and segments[-1][1] == score.size
    for (a, b, points), nxt in zip(segments, [*segments[1:], None], strict=True):
        assert a < b and np.all(score[a:b] == points)
        assert nxt is None or nxt[0] == b


@pytest.mark.parametrize("radius", SCORED)
def test_rows_exactly_on_the_threshold(radius):
    """A stored hash at distance exactly `radius` whose score is exactly the score needed (`need` chunks
    at their plan radius, every other chunk one bit beyond it) is a candidate and matches; the same with
    one more chunk beyond its radius (distance radius + 1, score need - 1) is not a candidate."""
    radii, need = plan_radii(radius)
    rng = random.Random(radius)
    nprng = np.random.default_rng(radius)
    words = nprng.integers(0, 2**64, (4000, 4), dtype=np.uint64)
    ints = [int(h, 16) for h in hexes(words)]
    target = 1234
    for trial in range(5):
        inside = rng.sample(range(CHUNKS), need)
        per_chunk = [t if j in inside else t + 1 for j, t in enumerate(radii)]
        q = spread(ints[target], per_chunk, rng)
        assert (q ^ ints[target]).bit_count() == radius
        m = HashMatcher(index_from=0)
        m.add_packed(np.arange(len(words)), words)
        m.optimize()
        assert Match(target, radius) in m.query(f"{q:064x}", max_distance=radius)
        qw = np.array([(q >> s) & (2**64 - 1) for s in (192, 128, 64, 0)], dtype=np.uint64)
        index = ChunkIndex(m._cols, len(words))
        assert target in index.wide_candidates(qw, radius).tolist()
        per_chunk[inside[trial % need]] += 1  # score need - 1
        q2 = spread(ints[target], per_chunk, random.Random(trial))
        qw2 = np.array([(q2 >> s) & (2**64 - 1) for s in (192, 128, 64, 0)], dtype=np.uint64)
        assert (q2 ^ ints[target]).bit_count() == radius + 1
        assert target not in index.wide_candidates(qw2, radius).tolist()


def test_counter_is_cleared_between_queries():
    """The scratch counter is shared by the queries of one index: each query's candidates are those a
    fresh counter gives (a score left over from an earlier query would add candidates)."""
    nprng = np.random.default_rng(5)
    words = nprng.integers(0, 2**64, (3000, 4), dtype=np.uint64)
    cols = np.ascontiguousarray(words.T)
    index = ChunkIndex(cols, len(words))
    queries = [words[i].copy() for i in range(0, 3000, 300)] + list(nprng.integers(0, 2**64, (5, 4), dtype=np.uint64))
    for i, q in enumerate(queries):
        radius = (52, 40, 56)[i % 3]
        fresh = Scorer(len(words)).candidates(index, q, radius)
        assert np.array_equal(index.wide_candidates(q, radius), fresh)
        assert np.all(np.diff(fresh) > 0)  # distinct and ascending


@pytest.mark.parametrize("radius", [0, 31, 32, 52, 53, 56, 57])
def test_large_bank_edges_with_removals(radius):
    """40,000 hashes (above the index switch-over), queries at 0 to 60 bits from stored hashes, a third
    of the entries removed (rows zeroed, still listed in the index)."""
    rng = random.Random(radius)
    nprng = np.random.default_rng(radius)
    n = 40_000
    words = nprng.integers(0, 2**64, (n, 4), dtype=np.uint64)
    ids = np.arange(n) // 2
    m = HashMatcher()
    m.add_packed(ids, words)
    m.optimize()
    assert m.index_nbytes() > 0
    dead = set(range(0, n // 2, 3))
    m.remove_many(dead)
    ints = [int(h, 16) for h in hexes(words)]
    for i in rng.sample(range(n), 12):
        for bits in (0, 1, 31, 32, 52, 53, 60):
            v = ints[i]
            for b in rng.sample(range(256), bits):
                v ^= 1 << b
            assert m.query(f"{v:064x}", max_distance=radius) == brute(words, ids, dead, v, radius)
    zero = "0" * 64  # removed rows are zeroed: they must not come back for an all-zero query
    assert m.query(zero, max_distance=radius) == brute(words, ids, dead, 0, radius)
