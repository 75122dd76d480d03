"""One `SqliteStore.transaction()` block (see sqlite.py).

A small class instead of a generator-based context manager: a report opens one per write path, and the
generator machinery was a measurable part of a report's cost. The store's lock is held for the whole
block; a group is opened when none is (sqlite_commit.py). A plain block is a SAVEPOINT inside the group's
transaction: leaving it without an error RELEASEs the savepoint and commits the group. A group block keeps
its writes in a `Part` (sqlite_group.py) and runs no statement unless it needs one (then it gets its own
savepoint); leaving it adds the part to the group. An error drops the block's part and rolls back its
savepoint only (or, when that fails, the whole group, whose waiters are told) and is raised as
StoreUnavailable/StoreError where it is SQLite's."""

from __future__ import annotations

import asyncio
import sqlite3

from .base import StoreUnavailable
from .sqlite_kept import Part


class Transaction:
    __slots__ = ("store", "group", "pending")

    def __init__(self, store, group: bool):
        self.store = store
        self.group = group
        self.pending: asyncio.Future | None = None

    async def __aenter__(self):
        store = self.store
        await store._lock.acquire()
        try:
            if store._group is None:
                await store._open_group(block=self.group)
            elif not self.group and not store._group.begun:
                await store._ensure_begun()
            store._in_tx = True
            store._tx_block = object()
        except BaseException:
            store._lock.release()
            raise
        if self.group:  # its writes are kept (sqlite_group.py); a savepoint only if it runs statements
            part = self.pending = Part(asyncio.get_running_loop().create_future())
            part.saved = dict(store._next)
            store._kblock = part
            return part.future
        await self._statement("SAVEPOINT tx")
        return None

    async def __aexit__(self, exc_type, exc, tb):
        store = self.store
        if exc is None:
            part = store._kblock
            if part is not None:
                if part.direct:
                    await self._statement("RELEASE tx")
                store._kblock = None
                store._group.parts.append(part)
                store._seal_full()
                store._in_tx = False
                store._tx_block = None
                store._lock.release()
                return False
            await self._statement("RELEASE tx")
            store._in_tx = False
            store._tx_block = None
            try:
                if not self.group:
                    await store._end_group(commit=True)
            finally:
                store._lock.release()
            return False
        converted = await self._rolled_back(exc)
        if converted is exc:
            return False  # the block's own exception goes on
        raise converted from exc

    async def _statement(self, sql: str) -> None:
        """Run the block's own SAVEPOINT or RELEASE; when it fails, the block is rolled back and left (the
        lock released) and the store's exception for it raised."""
        try:
            self.store._inline(sql)
        except BaseException as exc:
            converted = await self._rolled_back(exc)
            if converted is exc:
                raise
            raise converted from exc

    async def _rolled_back(self, exc: BaseException) -> BaseException:
        """Undo this block (or the whole group when the savepoint cannot be rolled back), leave the block,
        release the lock; returns the exception to raise."""
        store = self.store
        part, store._kblock = store._kblock, None
        try:
            store._forget()  # cached values are re-read after a rollback (kept rows are laid over them)
            if part is not None and not part.direct:
                store._next = part.saved  # nothing of it was written: its ids and numbers are free again
            else:
                try:
                    store._raw_rows("ROLLBACK TO tx")
                    store._raw_rows("RELEASE tx")
                except sqlite3.Error:
                    await store._end_group(commit=False, error=exc)
            store._kept = any(p.has_rows() for p in store._kparts)
        finally:
            store._in_tx = False
            store._tx_block = None
            store._lock.release()
        failure = store._converted(exc)
        if part is not None:  # its kept rows are dropped
            store._unindex([part], dropped=True)
            part.clear()
        if part is not None and not part.future.done():
            part.future.set_exception(failure)
            part.future.exception()  # retrieved here: the block's caller gets the exception itself
        return failure
