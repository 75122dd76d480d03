"""PostgreSQL group commit with the group's rows kept in memory until the commit (pg_group.py, pg_batch.py):
what a report reads inside its group, a statement of its own in the middle of a group, and a row the
database refuses at commit (only that report is refused; the others in its group are committed and
answered, nobody before the commit). Checked from another connection, as another process would see it."""

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from safety_bot.config import Config
from safety_bot.crypto import new_key_text
from safety_bot.domain import AuditEntry, Case, Intake, Report, Status, Urgency, UserRef
from safety_bot.playbooks import load_library
from safety_bot.service import Community, ReportEvent, SafetyService
from safety_bot.store import StoreError
from safety_bot.store.base import verify_chain
from safety_bot.store.postgres import PostgresStore
from safety_bot.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]

# A real refusal by the database: reports whose source is 'poison' are rejected by a trigger.
POISON = """
CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.source = 'poison' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_poison BEFORE INSERT ON reports FOR EACH ROW EXECUTE FUNCTION refuse_poison();
"""


async def outside(dsn: str, sql: str):
    """What another connection sees (committed rows only)."""
    conn = await asyncpg.connect(dsn)
    try:
        if not sql.lstrip().upper().startswith("SELECT"):
            return await conn.execute(sql)  # several statements
        return await conn.fetch(sql)
    finally:
        await conn.close()


def new_case(now: float, accused: list | None = None) -> Case:
    return Case(community="cafe", network="n", number=0, category="sextortion", urgency=Urgency.NORMAL,
                status=Status.OPEN, created_at=now, updated_at=now, accused=accused or [])


def service_on(store, **limits) -> SafetyService:
    svc = SafetyService(store, load_library(ROOT / "playbooks"), Config(base_dir=str(ROOT), limits=limits))
    svc.add_community(Community("cafe", "console", "n"))
    return svc


async def test_a_row_refused_at_commit_refuses_only_its_report(postgres_dsn):
    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    await outside(postgres_dsn, POISON)
    now = time.time()
    futures = []
    try:
        for i, source in enumerate(["member", "poison", "member"]):
            async with store.transaction(group=True) as done:
                case = await store.create_case(new_case(now))
                who = UserRef("console", f"m{i}", f"m{i}")
                await store.add_report(Report(case_id=case.id, reporter=who, text=f"threat {i}", source=source,
                                              created_at=now))
                await store.put_intake(Intake(platform="console", user_id=who.id, case_id=case.id, updated_at=now))
                await store.outbox_add_many([({"kind": "send", "n": i}, case.id)])
                await store.append_audit(AuditEntry(at=now, actor="bot", action=f"report{i}", case_id=case.id))
            futures.append(done)
        assert not any(f.done() for f in futures)  # nobody may be told "received" before the commit
        assert (await outside(postgres_dsn, "SELECT COUNT(*) FROM reports"))[0][0] == 0
        await store.commit()  # the commit itself succeeds: two of the three reports are in it
        assert futures[0].result() is None and futures[2].result() is None
        with pytest.raises(StoreError):
            futures[1].result()
        rows = await outside(postgres_dsn, "SELECT c.number, r.source FROM reports r JOIN cases c ON c.id = r.case_id "
                                           "ORDER BY c.number")
        assert [(r[0], r[1]) for r in rows] == [(1, "member"), (3, "member")]  # the refused one's number is skipped
        assert (await outside(postgres_dsn, "SELECT COUNT(*) FROM cases"))[0][0] == 2
        assert (await outside(postgres_dsn, "SELECT COUNT(*) FROM intakes"))[0][0] == 2
        assert (await outside(postgres_dsn, "SELECT COUNT(*) FROM outbox"))[0][0] == 2
        entries = await store.audit_entries()
        assert [e.action for e in entries] == ["report0", "report2"]
        assert verify_chain(entries, store.audit_chain.keys) is None
    finally:
        await store.close()


async def test_members_in_a_group_with_a_refused_report_are_answered_after_the_commit(postgres_dsn):
    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    await outside(postgres_dsn, POISON)
    svc = service_on(store)
    seen: dict[int, int] = {}

    async def member(i: int):
        out = await svc.report(ReportEvent(community="cafe", reporter=UserRef("console", f"m{i}", f"m{i}"),
                                           text=f"he threatens me ({i})", source="poison" if i == 3 else "member"))
        seen[i] = (await outside(postgres_dsn, "SELECT COUNT(*) FROM reports"))[0][0]
        return out

    try:
        before = store.commits
        outs = await asyncio.gather(*(member(i) for i in range(6)))
        assert store.commits - before < 6  # reports shared commits (the refused one with others)
        assert [o.ok for o in outs] == [True, True, True, False, True, True]
        assert outs[3].reply == svc.t("store_unavailable", "en") and not outs[3].actions
        assert all(seen[i] >= 1 for i in range(6) if i != 3)  # each was answered with its report committed
        cases = await store.list_cases("cafe")
        assert len(cases) == 5 and sorted(o.case_number for o in outs if o.ok) == sorted(c.number for c in cases)
        entries = await store.audit_entries()
        assert sum(e.action == "report.received" for e in entries) == 5
        assert verify_chain(entries, store.audit_chain.keys) is None
    finally:
        await store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_reports_in_one_group_read_each_others_cases_and_questions(backend, tmp_path, request):
    """A second report about the same person joins the case opened by the first one (its open questions
    are read inside the group), and a report against the first reporter is marked as possible retaliation:
    the same on SQLite and on PostgreSQL, where the first report is not written yet."""
    from tests.postgres_server import fresh_database

    if backend == "sqlite":
        store = await SqliteStore.open(tmp_path / "db.sqlite3")
    else:
        store = await PostgresStore.open(await fresh_database(request.getfixturevalue("postgres_server")),
                                         key=new_key_text())
    svc = service_on(store)
    a, b = UserRef("console", "a", "a"), UserRef("console", "b", "b")
    try:
        # a bot that has been running: an earlier case, committed
        assert (await svc.report(ReportEvent(community="cafe", reporter=UserRef("console", "w", "w"),
                                             text="someone threatens me"))).ok
        before = store.commits
        first, third, second = await asyncio.gather(
            svc.report(ReportEvent(community="cafe", reporter=a, text="b threatens me", accused=b)),
            svc.report(ReportEvent(community="cafe", reporter=b, text="a is lying", accused=a)),
            svc.report(ReportEvent(community="cafe", reporter=a, text="b again", accused=b)))
        assert store.commits - before == 1  # all three in one group
        assert first.ok and second.ok and third.ok
        assert third.case_number == 3
        assert second.case_number == first.case_number == 2  # joined the open case
        assert second.reply == svc.t("report_joined", "en", number=2)
        cases = {c.number: c for c in await store.list_cases("cafe")}
        assert sorted(cases) == [1, 2, 3]
        assert cases[3].flags.get("retaliation_suspected") == [2]
        assert cases[2].flags.get("retaliation_reports") == [3]
        assert [r.text for r in await store.reports_for(cases[2].id)] == ["b threatens me", "b again"]
        assert [c.number for c in await store.cases_about("n", b.key)] == [2]
        assert [c.number for c in await store.cases_about("n", a.key)] == [3]
        intake = await store.get_intake("console", "a")
        assert intake is not None and intake.case_id == cases[2].id
    finally:
        await store.close()


async def test_a_statement_of_its_own_inside_a_group_sees_the_group_and_fails_alone(postgres_dsn):
    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    now = time.time()
    try:
        async with store.transaction(group=True) as first:
            kept = await store.create_case(new_case(now))
        with pytest.raises(RuntimeError):
            async with store.transaction(group=True):
                found = await store.get_case_by_id(kept.id)  # not an overlay read: the group's rows go first
                assert found is not None and found.number == 1
                await store.create_case(new_case(now))
                await store.set_value("half", "done")
                raise RuntimeError("this block fails after its own statements")
        async with store.transaction(group=True) as third:
            again = await store.create_case(new_case(now))
        assert again.number == 3  # numbers are taken like a sequence's: the failed block's 2 is a gap
        assert (await outside(postgres_dsn, "SELECT COUNT(*) FROM cases"))[0][0] == 0
        await store.commit()
        assert first.result() is None and third.result() is None
        assert sorted(c.number for c in await store.list_cases("cafe")) == [1, 3]
        assert await store.get_value("half") is None
    finally:
        await store.close()


async def test_two_processes_groups_take_case_numbers_without_waiting_for_each_other(postgres_dsn):
    """Each process's open group holds no lock on case numbers: the second process creates and commits its
    cases while the first one's group is still open, and no number is given out twice."""
    key = new_key_text()
    one = await PostgresStore.open(postgres_dsn, key=key)
    two = await PostgresStore.open(postgres_dsn, key=key)
    now = time.time()
    try:
        async with one.transaction(group=True) as first:
            a = await one.create_case(new_case(now))

        async def the_other_process():
            for _ in range(3):
                async with two.transaction(group=True):
                    await two.create_case(new_case(now))
            await two.commit()

        await asyncio.wait_for(the_other_process(), timeout=30)  # would wait for `one` if a lock were held
        assert not first.done()
        async with one.transaction(group=True):
            b = await one.create_case(new_case(now))
        await one.commit()
        numbers = [r[0] for r in await outside(postgres_dsn, "SELECT number FROM cases ORDER BY number")]
        assert len(numbers) == 5 and len(set(numbers)) == 5
        assert a.number == 1 and b.number > a.number
    finally:
        await one.close()
        await two.close()


async def test_case_numbers_go_on_from_the_cases_already_there(postgres_dsn):
    """A database filled another way (migrate-store copies the cases) goes on after its highest number,
    inside a group and outside one."""
    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    now = time.time()
    try:
        await outside(postgres_dsn, "INSERT INTO cases (community, network, number, category, urgency, status, "
                                    f"created_at, updated_at) VALUES ('cafe', 'n', 7, 'sextortion', 'normal', 'open', "
                                    f"{now}, {now})")
        async with store.transaction(group=True):
            grouped = await store.create_case(new_case(now))
        await store.commit()
        await outside(postgres_dsn, "INSERT INTO cases (community, network, number, category, urgency, status, "
                                    f"created_at, updated_at) VALUES ('cafe', 'n', 20, 'sextortion', 'normal', 'open', "
                                    f"{now}, {now})")
        alone = await store.create_case(new_case(now))
        assert (grouped.number, alone.number) == (8, 21)
    finally:
        await store.close()


async def wait_for(condition, what: str) -> None:
    """Wait (bounded) until condition() holds."""
    async def poll():
        while not condition():
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(poll(), timeout=60)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_the_next_group_fills_while_one_commits_and_reads_its_rows(postgres_dsn):
    """While a group commits (held here at the audit lock, as by another process's commit), the next
    report runs at once in a new group, sees the committing group's rows (its questions are open, so the
    second report waits), and nobody is answered before their own group has committed."""
    from safety_bot.store.pg_group import LOCK_AUDIT

    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    svc = service_on(store)
    who = UserRef("console", "m", "m")
    other = await asyncpg.connect(postgres_dsn)
    try:
        # a bot that has been running: an earlier case, committed
        assert (await svc.report(ReportEvent(community="cafe", reporter=UserRef("console", "w", "w"),
                                             text="someone threatens me"))).ok
        await other.execute("SELECT pg_advisory_lock($1)", LOCK_AUDIT)
        first = asyncio.ensure_future(svc.report(ReportEvent(community="cafe", reporter=who, text="he threatens me")))
        await wait_for(lambda: store._sealed, "the first group to be committing")
        second = asyncio.ensure_future(svc.report(ReportEvent(community="cafe", reporter=who, text="and again")))
        await wait_for(lambda: store._open is not None and store._open.parts, "the second report's block")
        assert not first.done() and not second.done()
        assert (await outside(postgres_dsn, "SELECT COUNT(*) FROM cases"))[0][0] == 1
        await other.execute("SELECT pg_advisory_unlock($1)", LOCK_AUDIT)
        one, two = await asyncio.wait_for(asyncio.gather(first, second), timeout=60)
        assert one.ok and two.ok and (one.case_number, two.case_number) == (2, 3)
        assert svc.t("report_questions_later", "en") in two.reply  # it saw the first one's open questions
        cases = {c.number: c for c in await store.list_cases("cafe")}
        assert cases[3].flags.get("intake_queued") and not cases[2].flags.get("intake_queued")
        entries = await store.audit_entries()
        assert len(entries) == 3 and verify_chain(entries, store.audit_chain.keys) is None
    finally:
        await other.close()
        await store.close()


async def test_a_report_resting_on_a_group_that_failed_is_not_acknowledged(postgres_dsn):
    """The first report's rows are refused at its commit while the next group already used them (a second
    report about the same person joined its case): the second is not acknowledged either, and a report
    that did not depend on it is committed."""
    from safety_bot.store.pg_group import LOCK_AUDIT

    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    await outside(postgres_dsn, POISON)
    svc = service_on(store)
    who, accused = UserRef("console", "m", "m"), UserRef("console", "x", "x")
    other = await asyncpg.connect(postgres_dsn)
    try:
        assert (await svc.report(ReportEvent(community="cafe", reporter=UserRef("console", "w", "w"),
                                             text="someone threatens me"))).ok  # an earlier case
        await other.execute("SELECT pg_advisory_lock($1)", LOCK_AUDIT)
        first = asyncio.ensure_future(svc.report(ReportEvent(community="cafe", reporter=who, text="x threatens me",
                                                             accused=accused, source="poison")))
        await wait_for(lambda: store._sealed, "the first group to be committing")
        alone = asyncio.ensure_future(svc.report(ReportEvent(community="cafe", reporter=UserRef("console", "n", "n"),
                                                             text="someone threatens me")))
        await wait_for(lambda: store._open is not None and store._open.parts, "the independent report's block")
        joining = asyncio.ensure_future(svc.report(ReportEvent(community="cafe", reporter=who, text="x again",
                                                               accused=accused)))
        await other.execute("SELECT pg_advisory_unlock($1)", LOCK_AUDIT)
        one, two, three = await asyncio.wait_for(asyncio.gather(first, alone, joining, return_exceptions=True),
                                                 timeout=60)
        assert not one.ok and one.reply == svc.t("store_unavailable", "en")
        assert two.ok
        assert not isinstance(three, BaseException), three  # an answer, not an exception: try again
        assert not three.ok and three.reply == svc.t("store_unavailable", "en")  # never "received"
        reports = await outside(postgres_dsn, "SELECT source FROM reports")
        assert [r[0] for r in reports] == ["member", "member"]  # the first one's, and the independent report
        assert [c.number for c in await store.list_cases("cafe")] == [1, two.case_number]
        entries = await store.audit_entries()
        assert verify_chain(entries, store.audit_chain.keys) is None
    finally:
        await other.close()
        await store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_rate_marks_older_than_a_day_are_swept_by_a_later_report(backend, tmp_path, request):
    from tests.postgres_server import fresh_database

    if backend == "sqlite":
        store = await SqliteStore.open(tmp_path / "db.sqlite3")
    else:
        store = await PostgresStore.open(await fresh_database(request.getfixturevalue("postgres_server")),
                                         key=new_key_text())
    now = time.time()
    old, recent, today = UserRef("console", "old", "o"), UserRef("console", "recent", "r"), UserRef("console", "t", "t")
    try:
        case = await store.create_case(new_case(now))
        for who, at in ((old, now - 2 * 86400), (recent, now - 3600 * 20), (today, now)):
            async with store.transaction(group=True):
                await store.add_report(Report(case_id=case.id, reporter=who, text="x", source="member", created_at=at))
            await store.commit()
        assert await store.report_times_since(old.key, 0) == []  # more than a day old when `today` reported
        assert await store.report_times_since(recent.key, 0) == [now - 3600 * 20]
        assert await store.report_times_since(today.key, 0) == [now]
    finally:
        await store.close()


async def test_reports_of_a_message_keep_their_evidence_in_the_group(postgres_dsn):
    """A report of a message (Discord's "Report message", a Matrix report) keeps its snapshot with the
    group's other rows: written at the commit, readable as it was captured."""
    from safety_bot.domain import MessageRef, MessageSnapshot

    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    svc = service_on(store)
    now = time.time()
    accused = UserRef("console", "x", "x")

    def snapshot(i: int) -> MessageSnapshot:
        return MessageSnapshot(ref=MessageRef("console", "cafe", "general", f"msg{i}"), author=accused,
                               text=f"pay me or else ({i})", created_at=now - 60)

    try:
        before = store.commits
        outs = await asyncio.gather(*(svc.report(ReportEvent(community="cafe", reporter=UserRef("console", f"m{i}", f"m{i}"),
                                                             text="look at this", message=snapshot(i)))
                                      for i in range(3)))
        assert all(o.ok for o in outs) and store.commits - before < 3
        for i, out in enumerate(outs):
            case = await store.get_case("cafe", out.case_number)
            evidence = await store.evidence_for(case.id)
            assert [(e.ref.message_id, e.author.key, e.captured_by) for e in evidence] == [(f"msg{i}", accused.key,
                                                                                          "reporter")]
        texts = [r[0] for r in await outside(postgres_dsn, "SELECT text FROM evidence")]
        assert len(texts) == 3 and not any("pay me" in (t or "") for t in texts)  # encrypted at rest
    finally:
        await store.close()


async def test_a_kept_case_that_changed_whom_it_is_about_is_read_as_changed(postgres_dsn):
    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    now = time.time()
    x, y = UserRef("console", "x", "x"), UserRef("console", "y", "y")
    try:
        async with store.transaction(group=True):
            case = await store.create_case(new_case(now, accused=[x]))
            assert [c.id for c in await store.cases_about("n", x.key)] == [case.id]
        async with store.transaction(group=True):
            case.accused = [y]
            await store.save_case(case)
            assert await store.cases_about("n", x.key) == []
            assert [c.id for c in await store.cases_about("n", y.key)] == [case.id]
        await store.commit()
        assert await store.cases_about("n", x.key) == []
        assert [c.accused[0].key for c in await store.cases_about("n", y.key)] == [y.key]
    finally:
        await store.close()


async def test_the_runtimes_outbox_writes_leave_the_open_group_open(postgres_dsn):
    """An action's result and a claim touch only committed actions: they do not commit the group of
    reports that is filling (a commit per action result would shrink every group to one report)."""
    store = await PostgresStore.open(postgres_dsn, key=new_key_text())
    now = time.time()
    try:
        async with store.transaction():
            case = await store.create_case(new_case(now))
            [done_id] = await store.outbox_add_many([({"kind": "send"}, case.id)])
        async with store.transaction(group=True) as pending:
            kept = await store.create_case(new_case(now))
            await store.outbox_add_many([({"kind": "post"}, kept.id)])
        claimed = await store.outbox_claim()
        assert [oid for oid, _ in claimed] == [done_id]  # the open group's action is not there yet
        await store.outbox_done(done_id, "sending")
        await store.outbox_done(done_id, "done")
        assert not pending.done()  # still filling, not committed for them
        assert (await outside(postgres_dsn, "SELECT COUNT(*) FROM cases"))[0][0] == 1
        assert [r[0] for r in await outside(postgres_dsn, "SELECT status FROM outbox")] == ["done"]
        await store.commit()
        assert pending.result() is None
        assert sorted(r[0] for r in await outside(postgres_dsn, "SELECT status FROM outbox")) == ["done", "pending"]
    finally:
        await store.close()
