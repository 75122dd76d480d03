"""The repository contract, run against the SQLite store, the PostgreSQL store and the in-memory fake."""

import asyncio
import base64
import sqlite3
import time

import asyncpg

import pytest

from safety_bot.crypto import WrongKey, new_key_text
from safety_bot.domain import (AuditEntry, Ban, Case, CaseNote, Evidence, Intake, MessageRef, Report, Status, Strike,
                               Urgency, UserRef)
from safety_bot.store import BankEntry, MemoryStore, StoreError, StoreUnavailable
from safety_bot.store.base import verify_chain
from safety_bot.store.migrations import LATEST, MIGRATIONS
from safety_bot.store.pg_migrations import PG_MIGRATIONS
from safety_bot.store.postgres import PostgresStore
from safety_bot.store.sqlite import SqliteStore
from tests.postgres_server import fresh_database


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request, tmp_path):
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = await SqliteStore.open(tmp_path / "db.sqlite3")
    else:
        s = await PostgresStore.open(await fresh_database(request.getfixturevalue("postgres_server")), key=new_key_text())
    yield s
    await s.close()


def new_case(community="cafe", reporter="alice", accused="bob"):
    now = time.time()
    return Case(community=community, network="n", number=0, category="sextortion", urgency=Urgency.NORMAL,
                status=Status.OPEN, created_at=now, updated_at=now, reporter=UserRef("x", reporter, reporter),
                accused=[UserRef("x", accused, accused)], answers={"danger": "no"}, alias="r-1")


async def test_case_numbers_are_per_community(store):
    a1 = await store.create_case(new_case("a"))
    a2 = await store.create_case(new_case("a"))
    b1 = await store.create_case(new_case("b"))
    assert (a1.number, a2.number, b1.number) == (1, 2, 1)
    got = await store.get_case("a", 2)
    assert got.id == a2.id and got.reporter.id == "alice" and got.answers == {"danger": "no"}
    assert [c.number for c in await store.cases_about("n", "x:bob")] == [1, 2, 1]


async def test_failed_transaction_keeps_nothing(store):
    with pytest.raises(RuntimeError):
        async with store.transaction():
            case = await store.create_case(new_case())
            await store.add_report(Report(case_id=case.id, reporter=None, text="t", source="member", created_at=1.0))
            raise RuntimeError("boom")
    assert await store.list_cases() == []


async def test_audit_chain_detects_tampering(store):
    for i in range(3):
        await store.append_audit(AuditEntry(at=float(i), actor="a", action=f"x{i}"))
    entries = await store.audit_entries()
    assert store.audit_chain.verify(entries)[0] == []
    entries[1].detail = {"changed": True}
    assert store.audit_chain.verify(entries)[0] == ["entry 2 was edited: its link does not match its content"]


async def test_sqlite_records_migrations_and_refuses_a_newer_database(tmp_path):
    path = tmp_path / "db.sqlite3"
    s = await SqliteStore.open(path)
    assert await s.schema_version() == LATEST
    await s.close()
    con = sqlite3.connect(path)
    rows = con.execute("SELECT version, description FROM schema_version").fetchall()
    assert rows == [(v, d) for v, d, _ in MIGRATIONS]
    con.execute("INSERT INTO schema_version VALUES (999, 'from the future', 0)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this safety-bot"):
        await SqliteStore.open(path)


async def test_sensitive_text_is_encrypted_at_rest_and_a_wrong_key_is_refused(tmp_path):
    path = tmp_path / "db.sqlite3"
    key = new_key_text()
    s = await SqliteStore.open(path, key=key)
    case = await s.create_case(new_case(reporter="secret-reporter"))
    await s.add_report(Report(case_id=case.id, reporter=case.reporter, text="very private words", source="member",
                              created_at=1.0))
    await s.close()
    raw = path.read_bytes() + (path.with_name(path.name + "-wal").read_bytes() if path.with_name(path.name + "-wal").exists() else b"")
    assert b"very private words" not in raw and b"secret-reporter" not in raw
    with pytest.raises(WrongKey, match="different key"):
        await SqliteStore.open(path, key=new_key_text())
    s = await SqliteStore.open(path, key=key)
    assert (await s.reports_for(case.id))[0].text == "very private words"
    await s.close()


async def test_locked_database_is_reported_as_unavailable(tmp_path):
    path = tmp_path / "db.sqlite3"
    s = await SqliteStore.open(path, busy_timeout_ms=50)
    blocker = sqlite3.connect(path, timeout=0.01)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable):
            async with s.transaction():
                await s.create_case(new_case())
    finally:
        blocker.rollback()
        blocker.close()
    assert await s.list_cases() == []
    await s.close()


async def test_reports_evidence_notes_round_trip(store):
    case = await store.create_case(new_case())
    ref = MessageRef("x", "cafe", "c1", "m1", "https://example.invalid/m1")
    await store.add_report(Report(case_id=case.id, reporter=case.reporter, text="words", source="member",
                                  created_at=10.5, reported_message=ref, locale="de"))
    await store.add_evidence(Evidence(case_id=case.id, ref=ref, author=UserRef("x", "bob", "bob"), text="threat",
                                      message_created_at=9.25, captured_at=11.0, captured_by="system",
                                      attachments=[{"content_type": "image/png", "size": 3}], note="n"))
    await store.add_note(CaseNote(case_id=case.id, author="x:mod", kind="note", text="called back", at=12.0))
    [report] = await store.reports_for(case.id)
    assert (report.text, report.reported_message, report.locale, report.created_at) == ("words", ref, "de", 10.5)
    [ev] = await store.evidence_for(case.id)
    assert (ev.text, ev.author.id, ev.attachments, ev.message_created_at) == ("threat", "bob", [{"content_type": "image/png", "size": 3}], 9.25)
    assert [n.text for n in await store.notes_for(case.id)] == ["called back"]
    assert await store.report_times_since("x:alice", 10.0) == [10.5]
    assert await store.report_times_since("x:alice", 11.0) == []
    await store.clear_evidence_text(case.id)
    await store.withdraw_reports(case.id)
    assert (await store.evidence_for(case.id))[0].text == ""
    assert (await store.reports_for(case.id))[0].text == ""


async def test_save_case_list_cases_and_accused_index(store):
    case = await store.create_case(new_case())
    case.status = Status.CLOSED
    case.accused = [UserRef("x", "carol", "carol")]
    case.flags = {"minor": True}
    case.updated_at = 1234567890.123456
    await store.save_case(case)
    got = await store.get_case_by_id(case.id)
    assert (got.status, got.flags, got.updated_at) == (Status.CLOSED, {"minor": True}, 1234567890.123456)
    assert await store.cases_about("n", "x:bob") == []
    assert [c.id for c in await store.cases_about("n", "x:carol")] == [case.id]
    assert [c.id for c in await store.list_cases("cafe", ("closed",))] == [case.id]
    assert await store.list_cases("cafe", ("open",)) == []
    assert await store.get_case("cafe", 99) is None


async def test_strikes_bans_intakes_outbox_and_values(store):
    case = await store.create_case(new_case())
    await store.add_strike(Strike(network="n", user_id="x:bob", reason="spam", at=1.0, by="x:mod", case_id=case.id))
    assert [s.reason for s in await store.strikes_for("n", "x:bob")] == ["spam"]
    ban = await store.add_ban(Ban(network="n", user_id="x:bob", case_id=case.id, at=2.0, by="x:mod", reason="sextortion"))
    assert (await store.active_ban("n", "x:bob")).id == ban.id
    await store.end_ban(ban.id)
    assert await store.active_ban("n", "x:bob") is None
    await store.put_intake(Intake(platform="x", user_id="alice", case_id=case.id, asked=["q1"], current="q2", updated_at=3.0))
    await store.put_intake(Intake(platform="x", user_id="alice", case_id=case.id, asked=["q1", "q2"], current=None, updated_at=4.0))
    got = await store.get_intake("x", "alice")
    assert (got.asked, got.current, got.updated_at) == (["q1", "q2"], None, 4.0)
    intake, its_case = await store.get_intake_with_case("x", "alice")  # one read for the report path
    assert intake == got and its_case == await store.get_case_by_id(case.id)
    assert len(await store.list_intakes()) == 1
    await store.delete_intake("x", "alice")
    assert await store.get_intake("x", "alice") is None
    assert await store.get_intake_with_case("x", "alice") == (None, None)
    first = await store.outbox_add({"kind": "ban", "user": "bob"}, case.id)
    more = await store.outbox_add_many([({"kind": "delete", "n": 1}, case.id), ({"kind": "dm"}, None)])
    assert len(more) == 2 and first < more[0] < more[1]
    await store.outbox_done(first, "done")
    assert [a for _, a in await store.outbox_pending()] == [{"kind": "delete", "n": 1}, {"kind": "dm"}]
    assert await store.get_value("sync") is None
    await store.set_value("sync", "a")
    await store.set_value("sync", "b")
    assert await store.get_value("sync") == "b"


async def test_purge_case_deletes_everything_stored_with_it(store):
    case = await store.create_case(new_case())
    await store.add_report(Report(case_id=case.id, reporter=case.reporter, text="t", source="member", created_at=1.0))
    await store.put_intake(Intake(platform="x", user_id="alice", case_id=case.id))
    done = await store.outbox_add({"kind": "dm"}, case.id)
    await store.outbox_done(done, "done")
    pending = await store.outbox_add({"kind": "ban"}, case.id)
    await store.purge_case(case.id)
    assert await store.get_case_by_id(case.id) is None
    assert await store.reports_for(case.id) == []
    assert await store.get_intake("x", "alice") is None
    assert [i for i, _ in await store.outbox_pending()] == [pending]  # an action not yet done is kept


async def test_bank_entries_round_trip_and_withdrawal(store):
    entry = await store.add_bank_entry(BankEntry(network="n", category="adult", status="active", quality=90,
                                                 added_by="x:mod", added_at=5.0, pdq=["ab" * 32], sha256="s" * 64,
                                                 md5="m" * 32, case_id=None, community="cafe"))
    got = await store.get_bank_entry(entry.id)
    assert (got.pdq, got.sha256, got.md5, got.quality) == (["ab" * 32], "s" * 64, "m" * 32, 90)
    assert (await store.bank_entries("n", ("active",)))[0].pdq == []  # without hashes unless asked
    await store.set_bank_status(entry.id, "suspended", 6.0)
    assert await store.bank_entries("n", ("active",)) == []
    await store.withdraw_bank_entry(entry.id, 7.0)
    got = await store.get_bank_entry(entry.id)
    assert (got.status, got.pdq, got.sha256, got.updated_at) == ("withdrawn", [], None, 7.0)
    assert await store.bank_entries(ids=[]) == []


async def test_audit_entries_by_case(store):
    case = await store.create_case(new_case())
    await store.append_audit(AuditEntry(at=1.0, actor="a", action="open", case_id=case.id, detail={"k": "v"}))
    await store.append_audit(AuditEntry(at=2.0, actor="a", action="other"))
    assert [e.action for e in await store.audit_entries(case.id)] == ["open"]
    assert [e.seq for e in await store.audit_entries()] == [1, 2]
    await store.append_audit(AuditEntry(at=3.0, actor="b", action="open", detail={"n": 3}))
    # only some actions, filtered by the store (the lists and the two-person rule ask this way)
    assert [(e.seq, e.detail) for e in await store.audit_entries(actions=("open",))] == [(1, {"k": "v"}), (3, {"n": 3})]
    assert [e.seq for e in await store.audit_entries(actions=("other", "open"))] == [1, 2, 3]
    assert [e.seq for e in await store.audit_entries(case.id, actions=("open",))] == [1]
    assert await store.audit_entries(case.id, actions=("other",)) == []


# ---------------------------------------------------------------- PostgreSQL specifics

def test_postgres_migrations_mirror_the_sqlite_ones():
    assert [(v, d) for v, d, _ in PG_MIGRATIONS] == [(v, d) for v, d, _ in MIGRATIONS]


async def test_postgres_records_migrations_and_refuses_a_newer_database(postgres_dsn):
    key = new_key_text()
    s = await PostgresStore.open(postgres_dsn, key=key)
    assert await s.schema_version() == LATEST
    await s.close()
    conn = await asyncpg.connect(postgres_dsn)
    try:
        rows = await conn.fetch("SELECT version, description FROM schema_version ORDER BY version")
        assert [tuple(r) for r in rows] == [(v, d) for v, d, _ in MIGRATIONS]
        await conn.execute("INSERT INTO schema_version VALUES (999, 'from the future', 0)")
    finally:
        await conn.close()
    with pytest.raises(StoreError, match="newer than this safety-bot"):
        await PostgresStore.open(postgres_dsn, key=key)


async def test_postgres_encrypts_at_rest_and_refuses_a_wrong_or_missing_key(postgres_dsn):
    key = new_key_text()
    s = await PostgresStore.open(postgres_dsn, key=key)
    case = await s.create_case(new_case(reporter="secret-reporter"))
    await s.add_report(Report(case_id=case.id, reporter=case.reporter, text="very private words", source="member",
                              created_at=1.0))
    await s.close()
    conn = await asyncpg.connect(postgres_dsn)
    try:
        dump = repr([tuple(r) for t in ("cases", "reports") for r in await conn.fetch(f"SELECT * FROM {t}")])
    finally:
        await conn.close()
    assert "very private words" not in dump and "secret-reporter" not in dump
    with pytest.raises(WrongKey, match="different key"):
        await PostgresStore.open(postgres_dsn, key=new_key_text())
    with pytest.raises(StoreError, match="storage.key is required"):
        await PostgresStore.open(postgres_dsn, key=None)
    s = await PostgresStore.open(postgres_dsn, key=key)
    assert (await s.reports_for(case.id))[0].text == "very private words"
    await s.close()


async def test_postgres_unreachable_is_reported_as_unavailable(tmp_path):
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        await PostgresStore.open(f"postgresql://nobody@/none?host={tmp_path}", key=new_key_text())


async def test_two_processes_worth_of_stores_never_fork_the_chain_or_share_a_case_number(postgres_dsn):
    key = new_key_text()
    a, b = await PostgresStore.open(postgres_dsn, key=key), await PostgresStore.open(postgres_dsn, key=key)
    try:
        async def work(s, who):
            for i in range(15):
                async with s.transaction():
                    case = await s.create_case(new_case())
                    await s.append_audit(AuditEntry(at=float(i), actor=who, action="open", case_id=case.id))

        await asyncio.gather(work(a, "a"), work(b, "b"), work(a, "a2"), work(b, "b2"))
        entries = await a.audit_entries()
        assert len(entries) == 60 and verify_chain(entries, a.audit_chain.keys) is None
        assert sorted(c.number for c in await b.list_cases("cafe")) == list(range(1, 61))
    finally:
        await a.close()
        await b.close()


async def test_postgres_rotate_key_re_encrypts_everything(postgres_dsn):
    old, new = new_key_text(), new_key_text()
    s = await PostgresStore.open(postgres_dsn, key=old)
    case = await s.create_case(new_case(reporter="secret-reporter"))
    await s.add_report(Report(case_id=case.id, reporter=case.reporter, text="very private words", source="member",
                              created_at=1.0))
    assert await s.rotate_key(base64.b64decode(new)) > 0
    await s.close()
    with pytest.raises(WrongKey, match="different key"):
        await PostgresStore.open(postgres_dsn, key=old)
    s = await PostgresStore.open(postgres_dsn, key=new)
    try:
        assert (await s.reports_for(case.id))[0].text == "very private words"
        assert (await s.get_case_by_id(case.id)).reporter.id == "secret-reporter"
    finally:
        await s.close()


async def test_shared_lists_and_their_items_round_trip(store):
    from safety_bot.store import ListItem, SharedList

    lst = await store.add_shared_list(SharedList(name="peers", kind="hashes", network="n", source="http://x/l",
                                                 action="flag", added_by="op", added_at=1.0, every=3600.0,
                                                 category="minor"))
    assert lst.id is not None
    with pytest.raises(StoreError):
        await store.add_shared_list(SharedList(name="peers", kind="bans", network="n", source="f", action="notify",
                                               added_by="op", added_at=2.0))
    entry = await store.add_bank_entry(BankEntry(network="n", category="adult", status="active", quality=100,
                                                 added_by="list:peers", added_at=1.0, md5="a" * 32))
    key = store.list_tag("md5 " + "a" * 32)
    assert key == store.list_tag("md5 " + "a" * 32) and "a" * 32 not in key
    await store.add_list_items(lst.id, [ListItem(key, entry.id), ListItem("k2", None, '{"user_id": "1"}')])
    items = await store.list_items(lst.id)
    assert items[key].entry_id == entry.id and items["k2"].value == '{"user_id": "1"}'
    assert await store.entry_lists([entry.id, 999]) == {entry.id: lst.id}
    lst.etag, lst.last_fetch, lst.last_error, lst.size, lst.action = '"e1"', 5.0, "HTTP 500", 2, "remove"
    await store.save_shared_list(lst)
    got = await store.get_shared_list("peers")
    assert (got.etag, got.last_fetch, got.last_error, got.size, got.action, got.every, got.category) == \
        ('"e1"', 5.0, "HTTP 500", 2, "remove", 3600.0, "minor")
    assert [x.name for x in await store.shared_lists("hashes")] == ["peers"] and await store.shared_lists("bans") == []
    await store.remove_list_items(lst.id, ["k2"])
    assert list(await store.list_items(lst.id)) == [key]
    await store.delete_shared_list(lst.id)
    assert await store.get_shared_list("peers") is None and await store.entry_lists([entry.id]) == {}


async def test_report_context_reads_what_a_new_report_needs(store):
    """Rate marks, the open intake with its case, and the cases about the reporter (PostgreSQL: one query)."""
    alice = UserRef("x", "alice", "Alice")
    assert await store.report_context(alice, "n") == ([], None, None, [])
    mine = await store.create_case(new_case(reporter="alice", accused="bob"))
    about_her = await store.create_case(new_case(reporter="carol", accused="alice"))
    await store.add_report(Report(case_id=mine.id, reporter=alice, text="t", source="member", created_at=10.5))
    await store.put_intake(Intake(platform="x", user_id="alice", case_id=mine.id, asked=["q1"], current="q1",
                                  updated_at=11.0))
    times, intake, case, about = await store.report_context(alice, "n")
    assert times == [10.5]
    assert (intake.case_id, intake.asked, intake.current, intake.updated_at) == (mine.id, ["q1"], "q1", 11.0)
    assert case == await store.get_case_by_id(mine.id)
    assert about == [await store.get_case_by_id(about_her.id)]
    assert (await store.report_context(alice, "other network"))[3] == []
