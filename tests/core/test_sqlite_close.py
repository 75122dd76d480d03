"""Closing a SQLite store while a handler still reads (a Discord event answered during shutdown): statements
on the event loop's thread would race aiosqlite's worker closing the connection, which crashed the process
(a segmentation fault in sqlite3). From the moment close() starts closing the connection, every statement is
refused with StoreUnavailable, which callers already handle, and none reaches the connection."""

import asyncio

import pytest

from safety_bot.store import StoreUnavailable
from safety_bot.store.sqlite import SqliteStore
from tests.core.test_sqlite_group import case


async def test_reads_during_and_after_close_are_refused_as_unavailable(tmp_path):
    store = await SqliteStore.open(tmp_path / "db.sqlite3")
    async with store.transaction():
        c = await store.create_case(case(1000.0, "a"))
    assert (await store.get_case_by_id(c.id)).alias == "a"
    closing = asyncio.create_task(store.close())
    outcomes = []
    while not closing.done():  # every read while it closes: an answer from before, or StoreUnavailable
        try:
            outcomes.append((await store.get_case_by_id(c.id)).alias)
        except StoreUnavailable:
            outcomes.append("unavailable")
        await asyncio.sleep(0)
    await closing
    assert outcomes and outcomes[-1] == "unavailable"
    assert set(outcomes) <= {"a", "unavailable"}
    for read in (lambda: store.get_case_by_id(c.id), lambda: store.list_cases("cafe"),
                 lambda: store.get_value("k"), lambda: store.set_value("k", "v")):
        with pytest.raises(StoreUnavailable):
            await read()
