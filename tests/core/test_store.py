"""The repository contract, run against both the SQLite store and the in-memory fake."""

import sqlite3
import time

import pytest

from safety_bot.crypto import WrongKey, new_key_text
from safety_bot.domain import AuditEntry, Case, Report, Status, Urgency, UserRef
from safety_bot.store import MemoryStore, StoreError, StoreUnavailable
from safety_bot.store.base import verify_chain
from safety_bot.store.migrations import LATEST
from safety_bot.store.sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite"])
async def store(request, tmp_path):
    if request.param == "memory":
        s = MemoryStore()
    else:
        s = await SqliteStore.open(tmp_path / "db.sqlite3")
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
    assert verify_chain(entries) is None
    entries[1].detail = {"changed": True}
    assert verify_chain(entries) == 2


async def test_sqlite_records_migrations_and_refuses_a_newer_database(tmp_path):
    path = tmp_path / "db.sqlite3"
    s = await SqliteStore.open(path)
    assert await s.schema_version() == LATEST
    await s.close()
    con = sqlite3.connect(path)
    rows = con.execute("SELECT version, description FROM schema_version").fetchall()
    assert rows == [(1, "initial schema"), (2, "hash bank")]
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
