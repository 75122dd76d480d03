"""SQLite's group blocks keep their writes in memory until the group commits (sqlite_group.py,
sqlite_kept.py): nothing is written while a report is decided, the reads of the next reports see the kept
rows, a refused row refuses only its own report, a rolled-back block leaves nothing, ids and case numbers
stay unique and gap-free, and the audit chain stays linked. Checked against the file, as a restart would."""

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from safety_bot.config import Config
from safety_bot.domain import AuditEntry, Case, Intake, Report, Status, Urgency, UserRef
from safety_bot.playbooks import load_library
from safety_bot.service import Community, ReportEvent, SafetyService
from safety_bot.store import StoreError
from safety_bot.store.base import verify_chain
from safety_bot.store.sqlite import SqliteStore
from tests.core.test_intake_floor import on_disk, reopened_entries

ROOT = Path(__file__).resolve().parents[2]
WHO = UserRef("console", "m1", "Member One")




def case(now: float, alias: str = "", accused: list | None = None) -> Case:
    return Case(community="cafe", network="n", number=0, category="sextortion", urgency=Urgency.NORMAL,
                status=Status.OPEN, created_at=now, updated_at=now, reporter=WHO, alias=alias,
                accused=accused or [])


def service_on(store: SqliteStore) -> SafetyService:
    svc = SafetyService(store, load_library(ROOT / "playbooks"), Config(base_dir=str(ROOT)))
    svc.add_community(Community("cafe", "console", "n"))
    return svc


async def a_report(store: SqliteStore, now: float, action: str, alias: str = "") -> Case:
    """One report's writes, as the report path makes them, inside the running block."""
    c = await store.create_case(case(now, alias))
    await store.add_report(Report(case_id=c.id, reporter=WHO, text=action, source="member", created_at=now))
    await store.put_intake(Intake(platform=WHO.platform, user_id=WHO.id, case_id=c.id, asked=[], current=None,
                                  locale="en", updated_at=now))
    await store.outbox_add_many([({"kind": "post", "n": action}, c.id)])
    await store.append_audit(AuditEntry(at=now, actor="bot", action=action, community="cafe", case_id=c.id))
    return c


async def refuse_alias(store: SqliteStore, alias: str) -> None:
    """A trigger that refuses one case's row, as a constraint would."""
    async with store.transaction():
        await store._write(f"CREATE TRIGGER refuse_{alias} BEFORE INSERT ON cases WHEN NEW.alias = '{alias}' "
                           "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")


@pytest.fixture
async def store(tmp_path):
    s = await SqliteStore.open(tmp_path / "db.sqlite3")
    yield s
    await s.close()


async def test_a_block_writes_nothing_until_the_commit_and_the_next_block_reads_its_rows(store, tmp_path):
    db = tmp_path / "db.sqlite3"
    now = time.time()
    conn = store.db._conn
    async with store.transaction(group=True) as first:
        changes = conn.total_changes
        a = await a_report(store, now, "a")
        assert conn.total_changes == changes  # kept in memory, not written on the event loop's thread
    async with store.transaction(group=True) as second:
        times, intake, open_case, about = await store.report_context(WHO, "n")
        assert len(times) == 1 and intake.case_id == a.id and open_case.id == a.id and about == []
        assert (await store.get_case_by_id(a.id)).number == 1
        b = await store.create_case(case(now))
        assert (b.id, b.number) == (a.id + 1, 2)
        assert conn.total_changes == changes
    assert on_disk(db, "SELECT COUNT(*) FROM cases") == [(0,)]
    assert not first.done() and not second.done()
    await store.commit()
    assert first.result() is None and second.result() is None
    assert on_disk(db, "SELECT number FROM cases ORDER BY id") == [(1,), (2,)]
    assert on_disk(db, "SELECT COUNT(*) FROM reports") == [(1,)]
    assert on_disk(db, "SELECT COUNT(*) FROM outbox WHERE status='pending'") == [(1,)]
    assert on_disk(db, "SELECT COUNT(*) FROM intakes") == [(1,)]
    entries = await store.audit_entries()
    assert [e.action for e in entries] == ["a"] and verify_chain(entries, store.audit_chain.keys) is None


async def test_a_second_report_of_a_member_in_one_group_waits_for_the_first_ones_questions(store):
    svc = service_on(store)
    accused = UserRef("console", "x9", "Extorter")
    before = store.commits
    first, joined, queued = await asyncio.gather(
        svc.report(ReportEvent(community="cafe", reporter=WHO, text="he threatens me", accused=accused)),
        svc.report(ReportEvent(community="cafe", reporter=WHO, text="he wrote again", accused=accused)),
        svc.report(ReportEvent(community="cafe", reporter=WHO, text="and someone else does")))
    assert store.commits - before == 1  # one group
    assert first.ok and joined.ok and queued.ok
    assert joined.case_number == first.case_number == 1 and queued.case_number == 2
    cases = await store.list_cases("cafe")
    assert [c.number for c in cases] == [1, 2] and cases[1].flags.get("intake_queued")
    assert [r.text for r in await store.reports_for(cases[0].id)] == ["he threatens me", "he wrote again"]
    assert [c.number for c in await store.cases_about("n", accused.key)] == [1]
    assert len(await store.report_times_since(WHO.key, 0)) == 3


async def test_a_refused_row_refuses_only_its_own_report(store, tmp_path):
    db = tmp_path / "db.sqlite3"
    await refuse_alias(store, "bad")
    now = time.time()
    async with store.transaction(group=True) as first:
        await a_report(store, now, "a")
    async with store.transaction(group=True) as second:
        await a_report(store, now, "b", alias="bad")
    async with store.transaction(group=True) as third:
        await a_report(store, now, "c")
    await store.commit()
    assert first.result() is None and third.result() is None
    with pytest.raises(StoreError):
        second.result()
    assert on_disk(db, "SELECT alias FROM cases ORDER BY id") == [("",), ("",)]
    assert on_disk(db, "SELECT COUNT(*) FROM reports") == [(2,)]
    assert on_disk(db, "SELECT COUNT(*) FROM outbox") == [(2,)]
    entries = await store.audit_entries()
    assert [e.action for e in entries] == ["a", "c"] and verify_chain(entries, store.audit_chain.keys) is None
    async with store.transaction(group=True) as fourth:  # the store goes on
        await a_report(store, now, "d")
    await store.commit()
    assert fourth.result() is None
    entries = await store.audit_entries()
    assert [e.action for e in entries] == ["a", "c", "d"] and verify_chain(entries, store.audit_chain.keys) is None
    assert len(set(on_disk(db, "SELECT number FROM cases"))) == 3


async def test_a_refused_earlier_block_is_told_when_a_later_block_needs_the_rows(store, tmp_path):
    """A statement the overlay does not cover writes the kept rows first: a refused one fails its own block."""
    db = tmp_path / "db.sqlite3"
    await refuse_alias(store, "bad")
    now = time.time()
    async with store.transaction(group=True) as first:
        await a_report(store, now, "a", alias="bad")
    async with store.transaction(group=True) as second:
        b = await a_report(store, now, "b")
        assert [c.id for c in await store.list_cases("cafe")] == [b.id]  # a read of its own: rows written first
        assert [e.action for e in await store.audit_entries()] == ["b"]
    with pytest.raises(StoreError):
        first.result()
    await store.commit()
    assert second.result() is None
    entries = await store.audit_entries()
    assert [e.action for e in entries] == ["b"] and verify_chain(entries, store.audit_chain.keys) is None
    assert on_disk(db, "SELECT COUNT(*) FROM cases") == [(1,)]


@pytest.mark.parametrize("direct", [False, True])
async def test_a_rolled_back_block_leaves_nothing_and_its_number_is_given_again(store, tmp_path, direct):
    db = tmp_path / "db.sqlite3"
    now = time.time()
    async with store.transaction(group=True) as first:
        a = await a_report(store, now, "a")
    with pytest.raises(RuntimeError):
        async with store.transaction(group=True) as failed:
            await a_report(store, now, "b")
            if direct:  # it ran a statement of its own: the earlier rows are written, its own in a savepoint
                assert len(await store.list_cases("cafe")) == 2
            raise RuntimeError("this report fails")
    with pytest.raises(RuntimeError):
        failed.result()
    async with store.transaction(group=True) as third:
        times, intake, open_case, _ = await store.report_context(WHO, "n")
        assert len(times) == 1 and open_case.id == a.id  # the failed block's mark and intake are gone
        c = await a_report(store, now, "c")
    assert c.number == 2
    await store.commit()
    assert first.result() is None and third.result() is None
    assert on_disk(db, "SELECT number FROM cases ORDER BY id") == [(1,), (2,)]
    assert on_disk(db, "SELECT COUNT(*) FROM reports") == [(2,)]
    assert on_disk(db, "SELECT COUNT(*) FROM outbox") == [(2,)]
    assert len(await store.report_times_since(WHO.key, 0)) == 2
    entries = await store.audit_entries()
    assert [e.action for e in entries] == ["a", "c"] and verify_chain(entries, store.audit_chain.keys) is None


async def test_ids_and_numbers_stay_unique_and_gap_free_when_another_connection_writes(tmp_path):
    db = tmp_path / "db.sqlite3"
    a = await SqliteStore.open(db)
    b = await SqliteStore.open(db)
    now = time.time()
    try:
        for round_ in range(3):
            for i in range(3):
                async with a.transaction(group=True):
                    await a_report(a, now, f"group{round_}.{i}")
            await a.commit()
            async with b.transaction():  # the command line, between two groups
                c = await b.create_case(case(now))
                await b.add_report(Report(case_id=c.id, reporter=WHO, text="cli", source="member", created_at=now))
                await b.outbox_add_many([({"kind": "cli"}, c.id)])
                await b.append_audit(AuditEntry(at=now, actor="cli", action=f"between{round_}"))
        assert on_disk(db, "SELECT number FROM cases ORDER BY number") == [(n,) for n in range(1, 13)]
        assert on_disk(db, "SELECT COUNT(DISTINCT id), COUNT(*) FROM reports") == [(12, 12)]
        assert on_disk(db, "SELECT COUNT(DISTINCT id), COUNT(*) FROM outbox") == [(12, 12)]
        entries = await a.audit_entries()
        assert len(entries) == 12 and verify_chain(entries, a.audit_chain.keys) is None
        assert [e.action for e in entries][-4:] == ["group2.0", "group2.1", "group2.2", "between2"]
    finally:
        await a.close()
        await b.close()
    await reopened_entries(db)  # the signed head written after the last commit holds


async def test_many_reports_share_a_commit_and_the_chain_verifies_after_reopening(tmp_path):
    db = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(db)
    svc = service_on(store)
    members = [UserRef("console", f"m{i}", f"m{i}") for i in range(20)]
    try:
        for _ in range(3):
            outs = await asyncio.gather(*(svc.report(ReportEvent(community="cafe", reporter=m, text="he threatens me"))
                                          for m in members))
            assert all(o.ok for o in outs)
        assert sorted(n for (n,) in on_disk(db, "SELECT number FROM cases")) == list(range(1, 61))
        assert store.commits < 60
    finally:
        await store.close()
    assert len(await reopened_entries(db)) == 60


async def test_the_next_group_fills_while_one_commits_and_reads_its_rows(store, tmp_path):
    """seal_group: the sealed group commits on aiosqlite's thread while the next block is decided; that block
    reads the sealed rows (from memory, the commit may not be done) and its own ids follow them."""
    db = tmp_path / "db.sqlite3"
    now = time.time()
    async with store.transaction(group=True) as first:
        a = await a_report(store, now, "a")
    committing = await store.seal_group()
    async with store.transaction(group=True) as second:
        assert not store._group.begun  # the connection is the commit's: this group has not begun
        times, intake, open_case, about = await store.report_context(WHO, "n")
        assert len(times) == 1 and intake.case_id == a.id and open_case.id == a.id and about == []
        b = await a_report(store, now, "b")
        assert (b.id, b.number) == (a.id + 1, 2)
    await committing
    assert first.result() is None and not second.done()
    assert on_disk(db, "SELECT number FROM cases") == [(1,)]
    async with store.transaction(group=True) as third:  # the second group took the transaction over
        c = await a_report(store, now, "c")
        assert [x.number for x in await store.list_cases("cafe")] == [1, 2, 3]  # a statement of its own
    await store.commit()
    assert second.result() is None and third.result() is None and c.number == 3
    assert on_disk(db, "SELECT number FROM cases ORDER BY id") == [(1,), (2,), (3,)]
    entries = await store.audit_entries()
    assert [e.action for e in entries] == ["a", "b", "c"] and verify_chain(entries, store.audit_chain.keys) is None


async def test_a_plain_transaction_waits_for_the_commit_running(store, tmp_path):
    db = tmp_path / "db.sqlite3"
    now = time.time()
    async with store.transaction(group=True) as first:
        await a_report(store, now, "a")
    committing = asyncio.ensure_future(await store.seal_group())
    async with store.transaction(group=True) as second:
        await a_report(store, now, "b")
    await store.set_value("k", "v")  # a plain transaction: after the commit running, and commits the next group
    assert first.result() is None and second.result() is None
    assert on_disk(db, "SELECT COUNT(*) FROM cases") == [(2,)] and on_disk(db, "SELECT value FROM kv WHERE key='k'")
    await committing
    other = sqlite3.connect(db, timeout=0)  # nobody holds the write lock now
    try:
        other.execute("BEGIN IMMEDIATE")
        other.rollback()
    finally:
        other.close()


async def test_a_full_group_is_committed_while_the_next_fills_and_numbers_stay_gap_free(tmp_path):
    db = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(db)
    svc = service_on(store)
    members = [UserRef("console", f"m{i}", f"m{i}") for i in range(2 * SqliteStore.SEAL_AT + 5)]
    try:
        for _ in range(3):
            outs = await asyncio.gather(*(svc.report(ReportEvent(community="cafe", reporter=m, text="he threatens me"))
                                          for m in members))
            assert all(o.ok for o in outs)
        assert 3 * 2 <= store.commits < 3 * len(members)
        assert sorted(n for (n,) in on_disk(db, "SELECT number FROM cases")) == list(range(1, 3 * len(members) + 1))
        [(distinct, count)] = on_disk(db, "SELECT COUNT(DISTINCT id), COUNT(*) FROM outbox")
        assert distinct == count >= 3 * len(members)
    finally:
        await store.close()
    assert len(await reopened_entries(db)) == 3 * len(members)


async def test_the_intake_read_in_groups_follows_every_change(store):
    """The intake row read for a report is remembered between groups: a commit of kept rows, a statement of
    our own and another connection's write all make the next report read it again."""
    now = time.time()

    async def open_intake():
        async with store.transaction(group=True):
            _, intake, open_case, _ = await store.report_context(WHO, "n")
        return intake, open_case

    async with store.transaction(group=True):
        a = await a_report(store, now, "a")
    await store.commit()
    intake, open_case = await open_intake()
    assert intake.case_id == open_case.id == a.id
    async with store.transaction(group=True):  # a kept change of the intake, committed
        b = await store.create_case(case(now))
        await store.put_intake(Intake(platform=WHO.platform, user_id=WHO.id, case_id=b.id, asked=[], current=None,
                                      locale="en", updated_at=now))
    await store.commit()
    intake, open_case = await open_intake()
    assert intake.case_id == open_case.id == b.id
    b.status = Status.CLOSED
    await store.save_case(b)  # a statement of our own
    intake, open_case = await open_intake()
    assert open_case.status == Status.CLOSED
    await store.commit()
    other = await SqliteStore.open(store.path)  # another connection
    try:
        await other.delete_intake(WHO.platform, WHO.id)
    finally:
        await other.close()
    assert await open_intake() == (None, None)
    await store.commit()
