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
