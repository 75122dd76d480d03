"""The scored multi-index path (radii 32 to 56, e.g. media.flag_distance 52): exact against brute force,
including rows built to sit exactly on the score threshold."""

from __future__ import annotations

import random

import numpy as np
import pytest

from safety_bot.media import HashMatcher, Match
from safety_bot.media.mih import CHUNKS, ChunkIndex, sort_rows_by_first_chunk
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
    # The segments cover every probe once, in order, each with one score, chunk 0's probes first.
    assert segments[0][0] == 0 and segments[-1][2] == score.size
    for (a, rest, b, points), nxt in zip(segments, [*segments[1:], None], strict=True):
        assert a <= rest <= b and a < b and np.all(score[a:b] == points)
        assert np.all(chunk[a:rest] == 0) and np.all(chunk[rest:b] != 0)
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
        assert target in m._ids[index.wide_candidates(qw, radius)].tolist()  # rows are sorted: ids name them
        per_chunk[inside[trial % need]] += 1  # score need - 1
        q2 = spread(ints[target], per_chunk, random.Random(trial))
        qw2 = np.array([(q2 >> s) & (2**64 - 1) for s in (192, 128, 64, 0)], dtype=np.uint64)
        assert (q2 ^ ints[target]).bit_count() == radius + 1
        assert target not in m._ids[index.wide_candidates(qw2, radius)].tolist()


def test_counter_is_cleared_between_queries():
    """The scratch counter is shared by the queries of one index: each query's candidates are those a
    fresh counter gives (a score left over from an earlier query would add candidates)."""
    nprng = np.random.default_rng(5)
    words = nprng.integers(0, 2**64, (3000, 4), dtype=np.uint64)
    cols = np.ascontiguousarray(words.T)
    sort_rows_by_first_chunk(cols, np.arange(len(words)), len(words))
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


def test_rows_sorted_by_first_chunk_make_its_table_free():
    """Building the index reorders the rows by chunk 0 (hashes and entry ids together): every stored
    (entry, hash) pair survives, chunk 0 needs no table, and an unsorted snapshot is refused."""
    nprng = np.random.default_rng(12)
    words = nprng.integers(0, 2**64, (5000, 4), dtype=np.uint64)
    ids = nprng.integers(0, 2**40, 5000)
    m = HashMatcher(index_from=0)
    m.add_packed(ids, words)
    before = sorted(zip(ids.tolist(), hexes(words), strict=True))
    m.optimize()
    assert sorted(zip(m._ids[:5000].tolist(), hexes(m.words), strict=True)) == before
    first = (m.words[:, 0] >> np.uint64(48)).astype(np.int64)
    assert np.all(np.diff(first) >= 0) and not np.all(np.diff((words[:, 0] >> np.uint64(48)).astype(np.int64)) >= 0)
    assert m._index._perm.size == (CHUNKS - 1) * 5000
    with pytest.raises(ValueError):
        ChunkIndex(np.ascontiguousarray(words.T), 5000)


def test_multi_hash_query_before_and_after_a_rebuild():
    """Enough hashes added after the index was built that a rebuild starts (held here until the first
    queries ran: they use the old index and a long tail); once it is swapped in (the rows reordered) a
    query of several hashes at once still answers each exactly."""
    rng = random.Random(13)
    nprng = np.random.default_rng(13)
    words = nprng.integers(0, 2**64, (12_000, 4), dtype=np.uint64)
    ids = np.arange(12_000) // 3
    jobs = []
    m = HashMatcher(index_from=0, start_rebuild=jobs.append)
    m.add_packed(ids[:3000], words[:3000])
    m.optimize()  # replaces the rebuild the first add asked for (never run here)
    jobs.clear()
    built = m._index
    m.add_packed(ids[3000:], words[3000:])  # a tail of 9,000 > 8,192 rows: a rebuild starts
    assert len(jobs) == 1 and m.rebuilding
    ints = [int(h, 16) for h in hexes(words)]
    queries = []
    for i in (5, 2999, 3000, 11_999):
        v = ints[i]
        for b in rng.sample(range(256), 40):
            v ^= 1 << b
        queries.append(v)
    for step, radius in enumerate((31, 52, 31, 52)):
        if step == 2:
            jobs.pop()()  # the rebuild runs between the two halves
            assert not m.rebuilding and not jobs
        got = m.query_many([f"{q:064x}" for q in queries], max_distance=radius)
        if m.rebuilding:
            assert m._index is built and m._index.built == 3000
        else:
            assert m._index is not built and m._index.built == 12_000
        best: dict[int, tuple[int, int]] = {}
        for qi, q in enumerate(queries):
            for match in brute(words, ids, set(), q, radius):
                if match.entry_id not in best or (match.distance, qi) < best[match.entry_id]:
                    best[match.entry_id] = (match.distance, qi)
        assert [(x.entry_id, x.distance, x.query_index) for x in got] == sorted(
            ((e, d, qi) for e, (d, qi) in best.items()), key=lambda t: (t[1], t[0]))
        assert {x.entry_id for x in got} >= ({2999 // 3, 11_999 // 3} if radius == 52 else set())


class _FailingTables:
    """A ChunkIndex whose table reads fail after a number of calls (a query stopped half-way)."""

    def __init__(self, index: ChunkIndex, fail_after: int) -> None:
        self.index, self.calls, self.fail_after = index, 0, fail_after

    def bucket_ranges(self, buckets):
        return self.index.bucket_ranges(buckets)

    def rows_at(self, pos, starts, lengths):
        self.calls += 1
        if self.calls > self.fail_after:
            raise MemoryError("simulated")
        return self.index.rows_at(pos, starts, lengths)


def test_a_query_stopped_half_way_leaves_no_score_behind():
    """Scores added by a query that raised are not counted by the next one (it clears the counter)."""
    nprng = np.random.default_rng(14)
    words = nprng.integers(0, 2**64, (4000, 4), dtype=np.uint64)
    cols = np.ascontiguousarray(words.T)
    sort_rows_by_first_chunk(cols, np.arange(len(words)), len(words))
    index = ChunkIndex(cols, len(words))
    scorer = Scorer(len(words))
    q = cols[:, 77].copy()
    with pytest.raises(MemoryError):
        scorer.candidates(_FailingTables(index, 2), q, 52)
    assert np.any(scorer._counter)  # the failed query did add scores
    other = nprng.integers(0, 2**64, 4, dtype=np.uint64)
    assert np.array_equal(scorer.candidates(index, other, 52), Scorer(len(words)).candidates(index, other, 52))
