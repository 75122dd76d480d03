"""The report path's shortcuts on SQLite (issue 21, intake at the fsync floor) keep the database the truth:
rate marks kept in memory are dropped when another connection wrote or a block rolled back; the open case
read for a new report decrypts its reporter and answers only when used; one failing report in a group
leaves the others and the audit chain."""

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from safety_bot.config import Config
from safety_bot.domain import AuditEntry, Case, Report, Status, Urgency, UserRef
from safety_bot.playbooks import load_library
from safety_bot.service import Community, ReportEvent, SafetyService
from safety_bot.store.base import verify_chain
from safety_bot.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
WHO = UserRef("console", "m1", "Member One")


def service_on(store: SqliteStore, per_hour: int) -> SafetyService:
    svc = SafetyService(store, load_library(ROOT / "playbooks"),
                        Config(base_dir=str(ROOT), limits={"reports_per_hour": per_hour}))
    svc.add_community(Community("cafe", "console", "n"))
    return svc


async def report(svc: SafetyService, text: str, who: UserRef = WHO):
    return await svc.report(ReportEvent(community="cafe", reporter=who, text=text))


def on_disk(db: Path, sql: str):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


async def reopened_entries(db: Path) -> list:
    """The audit entries as a new store opens them: the signed head written after the last commit must hold."""
    reopened = await SqliteStore.open(db)
    try:
        entries = await reopened.audit_entries()
        assert reopened.audit_chain.verify(entries) == ([], [])
        return entries
    finally:
        await reopened.close()


def case(now: float) -> Case:
    return Case(community="cafe", network="n", number=0, category="sextortion", urgency=Urgency.NORMAL,
                status=Status.OPEN, created_at=now, updated_at=now, reporter=WHO)


async def test_rate_marks_cleared_by_another_connection_are_seen(tmp_path):
    """The command line (another connection) removes the member's marks between two reports: the next report
    reads the database again instead of the marks remembered from the last one."""
    db = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(db)
    svc = service_on(store, per_hour=2)
    try:
        assert (await report(svc, "he threatens me")).ok
        assert (await report(svc, "he threatens me again")).ok
        assert not (await report(svc, "and again")).ok  # the limit holds: two an hour
        con = sqlite3.connect(db)
        con.execute("DELETE FROM kv WHERE key LIKE 'rate:%'")
        con.commit()
        con.close()
        assert (await report(svc, "a new threat")).ok
        assert len(await store.report_times_since(WHO.key, 0)) == 1
    finally:
        await store.close()


async def test_rate_marks_added_by_another_connection_are_seen(tmp_path):
    db = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(db)
    other = await SqliteStore.open(db)
    svc = service_on(store, per_hour=2)
    try:
        assert (await report(svc, "he threatens me")).ok  # our marks are now remembered
        now = time.time()
        async with other.transaction():  # another process takes a report from the same member
            c = await other.create_case(case(now))
            await other.add_report(Report(case_id=c.id, reporter=WHO, text="via the other process", source="member",
                                          created_at=now))
        refused = await report(svc, "and again")
        assert not refused.ok and refused.case_number is None
        assert len(await store.report_times_since(WHO.key, 0)) == 2
    finally:
        await other.close()
        await store.close()


async def test_a_rolled_back_rate_mark_is_forgotten(tmp_path):
    """A report that fails after writing its rate mark is rolled back; the mark it wrote (also kept in
    memory) must not count against the member."""
    db = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(db)
    svc = service_on(store, per_hour=2)
    try:
        assert (await report(svc, "he threatens me")).ok
        now = time.time()
        with pytest.raises(RuntimeError):
            async with store.transaction(group=True):
                c = await store.create_case(case(now))
                await store.add_report(Report(case_id=c.id, reporter=WHO, text="fails", source="member",
                                              created_at=now))
                assert len(await store.report_times_since(WHO.key, 0)) == 2  # seen inside the block
                raise RuntimeError("this report fails after its mark")
        assert len(await store.report_times_since(WHO.key, 0)) == 1
        assert (await report(svc, "he threatens me again")).ok  # the second of two an hour
        await store.commit()
        assert len(on_disk(db, "SELECT * FROM kv WHERE key LIKE 'rate:%'")) == 1
        assert len(await store.report_times_since(WHO.key, 0)) == 2
    finally:
        await store.close()


async def test_rate_marks_are_stored_as_before(tmp_path):
    """The marks written a number at a time are the JSON list the full encoder writes, oldest first."""
    db = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(db)
    svc = service_on(store, per_hour=10)
    try:
        for i, at in enumerate([1000.5, 1001.25, 1002.0, 999.0]):  # the last one earlier: re-sorted
            svc.clock = lambda at=at: at
            assert (await report(svc, f"threat {i}")).ok
        [(value,)] = on_disk(db, "SELECT value FROM kv WHERE key LIKE 'rate:%'")
        assert value == "[999.0,1000.5,1001.25,1002.0]"
    finally:
        await store.close()


async def test_the_open_case_read_for_a_report_is_the_stored_case(tmp_path):
    store = await SqliteStore.open(tmp_path / "db.sqlite3")
    svc = service_on(store, per_hour=10)
    try:
        first = await report(svc, "he threatens me")
        assert first.ok and first.prompt is not None  # questions are open
        stored = (await store.list_cases("cafe"))[0]
        async with store.transaction():
            times, intake, open_case, about = await store.report_context(WHO, "n")
        assert intake.case_id == stored.id and len(times) == 1 and about == []
        assert open_case == stored and open_case.reporter == WHO and type(open_case) is Case
        # a second report about nobody in particular waits for the first one's questions
        second = await report(svc, "there is more")
        assert second.ok and second.case_number == 2
        later = await store.get_case("cafe", 2)
        assert later.flags.get("intake_queued") and later.reporter == WHO
    finally:
        await store.close()


async def test_a_report_about_the_same_person_joins_the_open_case(tmp_path):
    store = await SqliteStore.open(tmp_path / "db.sqlite3")
    svc = service_on(store, per_hour=10)
    accused = UserRef("console", "x9", "Extorter")
    try:
        out = await svc.report(ReportEvent(community="cafe", reporter=WHO, text="he threatens me", accused=accused))
        again = await svc.report(ReportEvent(community="cafe", reporter=WHO, text="he wrote again", accused=accused))
        assert out.ok and again.ok and again.case_number == out.case_number
        joined = await store.get_case("cafe", out.case_number)
        assert joined.reporter == WHO  # the reporter (decrypted when the join saved the case) is intact
        assert [r.text for r in await store.reports_for(joined.id)] == ["he threatens me", "he wrote again"]
    finally:
        await store.close()


async def test_a_failing_report_in_a_group_leaves_the_others_and_the_chain(tmp_path):
    """Three reports in one group, the second fails half-way: the first and third are committed together,
    nobody is acknowledged before that commit, and the audit chain links the first to the third."""
    db = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(db)
    now = time.time()
    try:
        async with store.transaction(group=True) as first:
            a = await store.create_case(case(now))
            await store.add_report(Report(case_id=a.id, reporter=WHO, text="a", source="member", created_at=now))
            await store.append_audit(AuditEntry(at=now, actor="bot", action="a", case_id=a.id))
        with pytest.raises(RuntimeError):
            async with store.transaction(group=True):
                b = await store.create_case(case(now))
                await store.add_report(Report(case_id=b.id, reporter=WHO, text="b", source="member", created_at=now))
                await store.append_audit(AuditEntry(at=now, actor="bot", action="b", case_id=b.id))
                raise RuntimeError("this report fails")
        async with store.transaction(group=True) as third:
            c = await store.create_case(case(now))
            await store.add_report(Report(case_id=c.id, reporter=WHO, text="c", source="member", created_at=now))
            await store.append_audit(AuditEntry(at=now, actor="bot", action="c", case_id=c.id))
        assert not first.done() and not third.done()  # each block its own future, none resolved yet
        assert on_disk(db, "SELECT COUNT(*) FROM cases") == [(0,)]  # nothing durable: nobody may be told yet
        await store.commit()
        assert first.result() is None and third.result() is None
        assert on_disk(db, "SELECT number FROM cases ORDER BY number") == [(1,), (2,)]
        entries = await store.audit_entries()
        assert [e.action for e in entries] == ["a", "c"] and verify_chain(entries, store.audit_chain.keys) is None
        assert len(await store.report_times_since(WHO.key, 0)) == 2
    finally:
        await store.close()
    await reopened_entries(db)  # the signed head was written for the committed chain


async def test_concurrent_reports_are_each_durable_when_answered(tmp_path):
    db = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(db)
    svc = service_on(store, per_hour=100)
    seen: list[int] = []

    async def member(i: int):
        who = UserRef("console", f"m{i}", f"m{i}")
        for j in range(3):
            out = await report(svc, f"threat {i}.{j}", who)
            assert out.ok
            seen.append(on_disk(db, "SELECT COUNT(*) FROM reports")[0][0])

    try:
        await asyncio.gather(*(member(i) for i in range(10)))
        assert all(count >= k + 1 for k, count in enumerate(seen))
        assert on_disk(db, "SELECT COUNT(*) FROM reports") == [(30,)]
        entries = await store.audit_entries()
        assert verify_chain(entries, store.audit_chain.keys) is None
    finally:
        await store.close()


async def test_a_case_card_is_stored_once_and_read_back_with_its_text(tmp_path):
    """A new case's card goes to the outbox as its card only (the text is rendered from it when read), and
    the action read back is the one decided, text included."""
    from safety_bot.actions import PostToTeam, action_from_json

    store = await SqliteStore.open(tmp_path / "db.sqlite3")
    svc = service_on(store, per_hour=10)
    try:
        out = await report(svc, "he threatens to send my pictures")
        [post] = [a for a in out.actions if isinstance(a, PostToTeam)]
        assert post.card is not None and post.card_prefix is not None and post.text.startswith("New case 1")
        [stored] = [data for _, data in await store.outbox_pending() if data["kind"] == "post_to_team"]
        assert "text" not in stored and stored["card_prefix"] == post.card_prefix
        again = action_from_json(stored)
        assert again.text == post.text and again.card["statements"] == post.card["statements"]
        # a notice whose text is not its card's keeps its own text
        other = PostToTeam(community="cafe", text="something else", card=post.card, card_prefix=post.card_prefix)
        assert other.to_json()["text"] == "something else"
        assert action_from_json(other.to_json()).text == "something else"
        plain = PostToTeam(community="cafe", text="a notice")
        assert action_from_json(plain.to_json()).text == "a notice" and "text" in plain.to_json()
    finally:
        await store.close()


async def test_a_reporter_named_in_a_new_case_is_seen_as_accused(tmp_path):
    """Who is named in no case is remembered between reports; a case naming them (here, or written by another
    connection) makes their next report a possible retaliation again."""
    db = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(db)
    other = await SqliteStore.open(db)
    svc = service_on(store, per_hour=10)
    bob = UserRef("console", "bob", "Bob")
    carol = UserRef("console", "carol", "Carol")
    try:
        assert (await report(svc, "he threatens me", bob)).ok  # bob is named in no case: remembered
        out = await svc.report(ReportEvent(community="cafe", reporter=WHO, text="bob threatens me", accused=bob))
        assert out.ok
        again = await report(svc, "and now this", bob)
        case = await store.get_case("cafe", again.case_number)
        assert case.flags.get("retaliation_suspected") == [out.case_number]
        assert (await report(svc, "he threatens me", carol)).ok
        now = time.time()
        async with other.transaction():  # another process takes a report naming carol
            named = await other.create_case(Case(
                community="cafe", network="n", number=0, category="sextortion", urgency=Urgency.NORMAL,
                status=Status.OPEN, created_at=now, updated_at=now, reporter=WHO, accused=[carol]))
        later = await report(svc, "more", carol)
        assert (await store.get_case("cafe", later.case_number)).flags.get("retaliation_suspected") == [named.number]
    finally:
        await other.close()
        await store.close()
