"""Storage failures: the wrong key, a read-only database and a full disk at report time.

A member must be told to try again, and the database must be exactly as before (no case without its report,
no report without its outbox entries). Through the console harness on a real SQLite database. CI runs as
root, so file modes cannot make the database read-only: SQLite's `query_only` and `max_page_count` do.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from safety_bot.crypto import WrongKey, new_key_text
from safety_bot.domain import Report, UserRef
from safety_bot.store.sqlite import SqliteStore
from tests.harness import make_harness, write_config

ROOT = Path(__file__).resolve().parents[2]
SAVED = "Your report is saved"
TRY_AGAIN = "could not save that just now"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _row_counts(path: str) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: con.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


@pytest.fixture
async def hs(tmp_path):
    h = await make_harness(tmp_path, sqlite=True)
    yield h
    await h.app.__aexit__(None, None, None)


# ------------------------------------------------------------------------------------------ the wrong key
async def _db_with_a_case(path: Path, key: str | None) -> None:
    from safety_bot.domain import Case, Status, Urgency

    store = await SqliteStore.open(path, key=key)
    try:
        async with store.transaction():
            case = await store.create_case(Case(community="cafe", network="n", number=0, category="sextortion",
                                                urgency=Urgency.NORMAL, status=Status.OPEN, created_at=1.0,
                                                updated_at=1.0, reporter=UserRef("console", "alice", "alice")))
            await store.add_report(Report(case_id=case.id, reporter=UserRef("console", "alice", "alice"),
                                          text="he threatens me", source="member", created_at=1.0))
    finally:
        await store.close()


@pytest.mark.parametrize("first", ["configured key", "key file"])
async def test_wrong_key_is_a_clear_error_and_changes_nothing(tmp_path, first):
    db = tmp_path / "db.sqlite3"
    await _db_with_a_case(db, new_key_text() if first == "configured key" else None)
    files = sorted(tmp_path.iterdir())
    before = {f.name: _digest(f) for f in files}
    with pytest.raises(WrongKey) as err:
        await SqliteStore.open(db, key=new_key_text())
    assert "different key" in str(err.value) and "Nothing was changed" in str(err.value)
    assert str(db) in str(err.value)
    after = {f.name: _digest(f) for f in sorted(tmp_path.iterdir()) if f.name in before}
    assert after == before  # the database and its key file, byte for byte
    assert not (tmp_path / "db.sqlite3-wal").exists() or (tmp_path / "db.sqlite3-wal").stat().st_size == 0


def test_wrong_key_through_the_cli_exits_cleanly(tmp_path):
    """`safety-bot run` with the wrong key: exit 2, one clear line, no traceback, database unchanged."""
    import asyncio

    db = tmp_path / "db.sqlite3"
    asyncio.run(_db_with_a_case(db, None))
    (tmp_path / "db.sqlite3.key").write_text(new_key_text() + "\n")  # someone replaced the key file
    before = _digest(db)
    config = write_config(tmp_path, db=str(db))
    proc = subprocess.run([sys.executable, "-m", "safety_bot.cli", "run", "--config", str(config)], cwd=ROOT,
                          input="quit\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "different key" in proc.stderr and "Traceback" not in proc.stderr
    assert _digest(db) == before


# ---------------------------------------------------------------------------- read-only at report time
async def test_read_only_database_at_report_time(hs):
    out = await hs.run("report he threatens me")
    assert SAVED in hs.private("alice", out)
    before = _row_counts(hs.store.path)
    await hs.store.db.execute("PRAGMA query_only=ON")  # every write now fails: 'attempt to write a readonly database'
    try:
        out = await hs.run("as bob", "report he threatens me too")
    finally:
        await hs.store.db.execute("PRAGMA query_only=OFF")
    assert TRY_AGAIN in hs.private("bob", out) and SAVED not in "\n".join(out)
    assert "New case" not in hs.team("cafe", out)
    assert _row_counts(hs.store.path) == before  # nothing half-written
    assert await hs.store.outbox_pending() == []
    out = await hs.run("report he threatens me too")
    assert SAVED in hs.private("bob", out) and "New case 2" in hs.team("cafe", out)


# --------------------------------------------------------------------------------------------- disk full
async def test_disk_full_at_report_time(hs):
    out = await hs.run("report he threatens me")
    assert SAVED in hs.private("alice", out)
    db = hs.store.db
    await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    [(pages,)] = await db.execute_fetchall("PRAGMA page_count")
    [(limit,)] = await db.execute_fetchall(f"PRAGMA max_page_count={pages}")
    assert limit == pages  # the database is now full
    before = _row_counts(hs.store.path)
    refused = 0
    for i in range(3):  # a long report needs new pages: refused every time, cleanly
        out = await hs.run("as bob", "report " + f"he threatens me {i} " + "x" * 3000)
        refused += TRY_AGAIN in hs.private("bob", out)
        assert SAVED not in "\n".join(out) and "New case" not in hs.team("cafe", out)
    assert refused == 3
    assert _row_counts(hs.store.path) == before  # nothing half-written
    assert await hs.store.outbox_pending() == []
    await db.execute_fetchall("PRAGMA max_page_count=1073741823")  # space again
    out = await hs.run("report he threatens me again " + "x" * 3000)
    assert SAVED in hs.private("bob", out) and "New case 2" in hs.team("cafe", out)
    cases = await hs.store.list_cases("cafe")
    assert [c.number for c in cases] == [1, 2]
    for c in cases:
        assert await hs.store.reports_for(c.id)


async def test_disk_full_after_the_report_does_not_stop_the_bot_or_repeat_outcomes(hs):
    """The disk fills up right after the first-aid DM went out (its 'done' cannot be written): the bot keeps
    running, tells the member, and the first aid is sent once more on the next start (safe to repeat);
    a notice whose send is unknown is not."""
    platform = hs.console.platform
    sent: list[str] = []
    texts: list[str] = []

    class FillsTheDisk:
        name = platform.name

        async def send_private(self, a):
            result = await platform.send_private(a)
            sent.append(a.purpose)
            texts.append(a.text.splitlines()[1])
            await hs.store.db.execute("PRAGMA query_only=ON")  # nothing more can be written
            return result

        def __getattr__(self, item):
            return getattr(platform, item)

    hs.app.runtime.add_platform(FillsTheDisk())
    try:
        out = await hs.run("report he threatens me")
        assert sent == ["ack"] and SAVED in hs.private("alice", out)
        out = await hs.run("report he threatens me again")  # the bot still answers, with a clear message
        assert TRY_AGAIN in hs.private("alice", out)
    finally:
        await hs.store.db.execute("PRAGMA query_only=OFF")
    hs.app.runtime.add_platform(platform)
    start = len(hs.lines)
    assert await hs.app.runtime.resume() >= 1
    again = hs.private("alice", hs.lines[start:])
    assert again.count(texts[0]) == 1  # the first aid once more, and only once
    assert await hs.store.outbox_sending() == [] and await hs.store.outbox_pending() == []
