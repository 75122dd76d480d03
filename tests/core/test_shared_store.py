"""Several processes on one PostgreSQL database: outbox leases and takeover, one leader, hash-bank notices.

Each `PostgresStore` below stands for one bot process (its own pool, its own lease owner id)."""

import asyncio
import time

import pytest

from safety_bot.crypto import new_key_text
from safety_bot.store import BankEntry
from safety_bot.store.postgres import PostgresStore
from tests.harness import make_harness


KEYS: dict = {}


@pytest.fixture
async def two(postgres_dsn):
    key = new_key_text()
    # Leases long enough that a busy 2-core machine does not let a live one lapse between two statements.
    a = await PostgresStore.open(postgres_dsn, key=key, lease_seconds=4.0)
    b = await PostgresStore.open(postgres_dsn, key=key, lease_seconds=4.0)
    KEYS[a] = key
    yield a, b
    await a.close()
    await b.close()


async def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.05)


async def test_a_live_lease_is_not_taken_an_expired_one_is_taken_once(two):
    a, b = two
    ids = await a.outbox_add_many([({"kind": "ban", "n": i}, None) for i in range(3)])
    assert await b.outbox_claim() == []  # a is alive and holds them
    assert [i for i, _, _ in await a.leases_held()] == ids and {o for _, o, _ in await a.leases_held()} == {a.owner}
    await a.outbox_done(ids[0], "ok")

    async def expired():
        return all(left < 0 for _, _, left in await a.leases_held())

    await wait_for(expired)  # a stopped renewing: it "died"
    c = await PostgresStore.open(a.dsn, key=KEYS[a], lease_seconds=4.0)  # a third process
    try:
        claims = await asyncio.gather(b.outbox_claim(), c.outbox_claim())
    finally:
        await c.close()
    taken = [i for claim in claims for i, _ in claim]
    assert sorted(taken) == ids[1:]  # each expired action claimed by exactly one process, the done one by none
    await b.outbox_done(ids[1], "ok")
    await b.outbox_done(ids[2], "ok")
    assert await a.leases_held() == [] and await a.outbox_pending() == []


async def test_renewed_leases_stay_with_their_process(two):
    a, b = two
    [oid] = await a.outbox_add_many([({"kind": "ban"}, None)])
    deadline = time.monotonic() + 9.0  # more than two lease lengths
    while time.monotonic() < deadline:
        await a.outbox_renew([oid])
        assert await b.outbox_claim() == []
        await asyncio.sleep(0.5)
    await b.outbox_renew([oid])  # not b's lease: nothing changes
    assert (await a.leases_held())[0][1] == a.owner


async def test_one_leader_at_a_time_and_a_successor_when_it_dies(two):
    a, b = two
    assert await a.try_lead() is True
    assert await b.try_lead() is False
    assert await a.try_lead() is True  # still leading
    await a._leader.close()  # its process died: the server drops the lock with the connection
    assert await b.try_lead() is True
    assert await a.try_lead() is False


async def test_a_bank_change_reaches_every_process(two):
    a, b = two
    seen = asyncio.Event()
    await b.on_bank_change(seen.set)
    await a.add_bank_entry(BankEntry(network="n", category="adult", status="active", quality=100, added_by="x",
                                     added_at=1.0, sha256="0" * 64))
    await asyncio.wait_for(seen.wait(), 20)


async def test_a_bank_change_reaches_the_other_process_index(tmp_path, postgres_dsn):
    """Two bot apps on one database: an entry withdrawn in one stops matching in the other."""
    key = new_key_text()
    storage = {"backend": "postgres", "dsn": "${DATABASE_URL}", "key": "${SAFETY_BOT_KEY}"}
    env = {"DATABASE_URL": postgres_dsn, "SAFETY_BOT_KEY": key}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ha = await make_harness(tmp_path / "a", {"storage": storage}, sqlite=True, env=env)
    hb = await make_harness(tmp_path / "b", {"storage": storage}, sqlite=True, env=env)
    try:
        await hb.app.start_cluster()
        entry = await ha.app.store.add_bank_entry(BankEntry(network="friends", category="adult", status="active",
                                                            quality=100, added_by="x", added_at=1.0,
                                                            sha256="ab" * 32, md5="cd" * 16))

        async def loaded(n):
            async def check():
                return hb.app.bank.entries_loaded() == n
            return check

        await wait_for(await loaded(1))
        await ha.app.store.withdraw_bank_entry(entry.id, 2.0)
        await wait_for(await loaded(0))
    finally:
        await ha.app.__aexit__(None, None, None)
        await hb.app.__aexit__(None, None, None)
