"""Group commit on SQLite: several reports share one fsync, and nobody is told "received" before the commit
that holds their report has returned (issue 21). Checked from a second connection, as a restart would."""

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from safety_bot.config import Config
from safety_bot.domain import Case, Status, Urgency, UserRef
from safety_bot.playbooks import load_library
from safety_bot.service import Community, ReportEvent, SafetyService
from safety_bot.store import StoreUnavailable
from safety_bot.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]


def committed_cases(db: Path) -> int:
    """What another process (or this one after a crash) would find on disk."""
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
    finally:
        con.close()


@pytest.fixture
async def service(tmp_path):
    store = await SqliteStore.open(tmp_path / "db.sqlite3")
    svc = SafetyService(store, load_library(ROOT / "playbooks"), Config(base_dir=str(ROOT)))
    svc.add_community(Community("cafe", "console", "n"))
    yield svc
    await store.close()


async def test_concurrent_reports_share_commits_and_each_is_on_disk_when_answered(service, tmp_path):
    db = tmp_path / "db.sqlite3"
    seen_on_disk: list[int] = []

    async def member(i: int):
        out = await service.report(ReportEvent(community="cafe", reporter=UserRef("console", f"m{i}", f"m{i}"),
                                               text=f"he threatens me ({i})"))
        assert out.ok and out.case_number
        seen_on_disk.append(committed_cases(db))  # at the moment the member would be told "received"
        return out.case_number

    before = service.store.commits
    numbers = await asyncio.gather(*(member(i) for i in range(20)))
    assert sorted(numbers) == list(range(1, 21))
    assert service.store.commits - before < 20  # some reports shared a commit
    # every member was answered only after their report was committed: the count on disk already held
    # at least as many cases as members answered so far
    assert all(seen >= k + 1 for k, seen in enumerate(seen_on_disk))
    assert committed_cases(db) == 20


async def test_a_group_that_is_never_committed_tells_its_waiters_and_keeps_nothing(tmp_path):
    db = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(db)
    now = time.time()
    async with store.transaction(group=True) as pending:
        await store.create_case(Case(community="cafe", network="n", number=0, category="sextortion",
                                     urgency=Urgency.NORMAL, status=Status.OPEN, created_at=now, updated_at=now))
    assert not pending.done()  # not durable yet: nobody may be told "received"
    assert committed_cases(db) == 0
    await store.close()  # ends before the group was committed (like a failed commit)
    with pytest.raises(StoreUnavailable):
        pending.result()
    assert committed_cases(db) == 0


async def test_a_plain_transaction_commits_the_open_group_with_it(tmp_path):
    db = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(db)
    now = time.time()
    try:
        async with store.transaction(group=True) as pending:
            await store.create_case(Case(community="cafe", network="n", number=0, category="sextortion",
                                         urgency=Urgency.NORMAL, status=Status.OPEN, created_at=now, updated_at=now))
        async with store.transaction():
            await store.set_value("k", "v")
        assert pending.done() and pending.result() is None
        assert committed_cases(db) == 1
    finally:
        await store.close()


# ------------------------------------------------------------------------------------------- PostgreSQL
async def pg_committed_cases(dsn: str) -> int:
    """What another process sees: only committed rows."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT COUNT(*) FROM cases")
    finally:
        await conn.close()


async def test_postgres_reports_share_commits_and_each_is_committed_when_answered(postgres_dsn):
    from safety_bot.crypto import new_key_text
    from safety_bot.store.base import verify_chain
    from safety_bot.store.postgres import PostgresStore

    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    svc = SafetyService(store, load_library(ROOT / "playbooks"), Config(base_dir=str(ROOT)))
    svc.add_community(Community("cafe", "console", "n"))
    seen: list[int] = []

    async def member(i: int):
        for j in range(2):  # the second report waits for the first one's questions (read inside the group)
            out = await svc.report(ReportEvent(community="cafe", reporter=UserRef("console", f"m{i}", f"m{i}"),
                                               text=f"he threatens me ({i}, {j})"))
            assert out.ok and out.case_number
            seen.append(await pg_committed_cases(postgres_dsn))  # when the member would be told "received"

    try:
        await asyncio.gather(*(member(i) for i in range(15)))
        assert 0 < store.commits < 30  # reports shared commits
        assert all(count >= k + 1 for k, count in enumerate(seen))
        assert await pg_committed_cases(postgres_dsn) == 30
        cases = await store.list_cases("cafe")
        assert sorted(c.number for c in cases) == list(range(1, 31))
        assert sum(1 for c in cases if c.flags.get("intake_queued")) == 15  # each member's second report waits
        entries = await store.audit_entries()
        assert len(entries) == 30 and verify_chain(entries, store.audit_chain.keys) is None
    finally:
        await store.close()


async def test_postgres_a_failed_report_in_a_group_leaves_the_others_and_the_chain(postgres_dsn):
    from safety_bot.crypto import new_key_text
    from safety_bot.domain import AuditEntry
    from safety_bot.store.base import verify_chain
    from safety_bot.store.postgres import PostgresStore

    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    now = time.time()

    def case():
        return Case(community="cafe", network="n", number=0, category="sextortion", urgency=Urgency.NORMAL,
                    status=Status.OPEN, created_at=now, updated_at=now)

    try:
        async with store.transaction(group=True) as first:
            a = await store.create_case(case())
            await store.append_audit(AuditEntry(at=now, actor="bot", action="a", case_id=a.id))
        with pytest.raises(RuntimeError):
            async with store.transaction(group=True):
                b = await store.create_case(case())
                await store.append_audit(AuditEntry(at=now, actor="bot", action="b", case_id=b.id))
                await store.audit_entries()  # a read inside the block writes the group's entries so far
                raise RuntimeError("this report fails")
        async with store.transaction(group=True) as third:
            c = await store.create_case(case())
            await store.append_audit(AuditEntry(at=now, actor="bot", action="c", case_id=c.id))
        assert not first.done() and not third.done()  # each block its own future, none resolved before the commit
        assert await pg_committed_cases(postgres_dsn) == 0  # nothing is visible before the group commits
        await store.commit()
        assert first.result() is None and third.result() is None
        # case numbers are taken like a sequence's values: the failed block's 2 is not given out again
        assert sorted(x.number for x in await store.list_cases("cafe")) == [1, 3]
        entries = await store.audit_entries()
        assert [e.action for e in entries] == ["a", "c"] and verify_chain(entries, store.audit_chain.keys) is None
        # a plain transaction commits the open group first
        async with store.transaction(group=True) as fourth:
            await store.create_case(case())
        await store.set_value("k", "v")
        assert fourth.done() and await pg_committed_cases(postgres_dsn) == 3
    finally:
        await store.close()


async def test_postgres_a_group_that_is_never_committed_tells_its_waiters_and_keeps_nothing(postgres_dsn):
    from safety_bot.crypto import new_key_text
    from safety_bot.store.postgres import PostgresStore

    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    now = time.time()
    async with store.transaction(group=True) as pending:
        await store.create_case(Case(community="cafe", network="n", number=0, category="sextortion",
                                     urgency=Urgency.NORMAL, status=Status.OPEN, created_at=now, updated_at=now))
    await store.close()
    with pytest.raises(StoreUnavailable):
        pending.result()
    assert await pg_committed_cases(postgres_dsn) == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_reports_in_one_group_see_each_others_rate_marks(backend, tmp_path, request):
    """The rate limit holds inside a group: each report reads the marks of the ones before it, uncommitted."""
    from safety_bot.crypto import new_key_text
    from safety_bot.store.postgres import PostgresStore
    from tests.postgres_server import fresh_database

    if backend == "sqlite":
        store = await SqliteStore.open(tmp_path / "db.sqlite3")
    else:
        store = await PostgresStore.open(await fresh_database(request.getfixturevalue("postgres_server")),
                                         key=new_key_text())
    svc = SafetyService(store, load_library(ROOT / "playbooks"), Config(base_dir=str(ROOT),
                                                                        limits={"reports_per_hour": 2}))
    svc.add_community(Community("cafe", "console", "n"))
    who = UserRef("console", "m1", "m1")
    try:
        outs = await asyncio.gather(*(svc.report(ReportEvent(community="cafe", reporter=who, text=f"threat {i}"))
                                      for i in range(4)))
        assert [o.ok for o in outs] == [True, True, False, False]
        assert len(await store.report_times_since(who.key, 0)) == 2
        assert len(await store.list_cases("cafe")) == 2
    finally:
        await store.close()


async def test_sqlite_audit_chain_holds_when_another_connection_writes_between_groups(tmp_path):
    """The audit head is checked against other writers once per group (under the write lock): entries
    written by another connection (the command line) between two groups are never forked from."""
    from safety_bot.domain import AuditEntry
    from safety_bot.store.base import verify_chain

    db = tmp_path / "db.sqlite3"
    a = await SqliteStore.open(db)
    b = await SqliteStore.open(db)
    try:
        for round_ in range(3):
            for i in range(3):  # several entries in one group: one look at the head for all of them
                async with a.transaction(group=True):
                    await a.append_audit(AuditEntry(at=float(i), actor="a", action=f"group{round_}.{i}"))
            await a.commit()
            await b.append_audit(AuditEntry(at=0.0, actor="cli", action=f"between{round_}"))
        entries = await a.audit_entries()
        assert [e.action for e in entries][-4:] == ["group2.0", "group2.1", "group2.2", "between2"]
        assert len(entries) == 12 and verify_chain(entries, a.audit_chain.keys) is None
    finally:
        await a.close()
        await b.close()
