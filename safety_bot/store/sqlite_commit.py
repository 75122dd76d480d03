"""SQLite's group transactions: opening, sealing and committing them (a mixin of SqliteStore; the kept rows:
sqlite_group.py, sqlite_kept.py; the blocks: sqlite_tx.py).

A group is opened by the first block that needs one and holds SQLite's write lock from its BEGIN IMMEDIATE
(ids and case numbers are given out in memory under it). Its commit writes the kept rows and COMMITs in
one call on aiosqlite's worker thread.

`seal_group()` closes the open group to new blocks and returns an awaitable that commits it: the service
waits for it without holding its lock, so the next reports are decided meanwhile. Their group cannot use
the connection while the commit runs, so it starts without a BEGIN: its blocks keep everything in memory
and read through a second, read-only connection (WAL: it sees what is committed), with the kept rows of
the group being committed and of their own group laid over the answers. The commit's worker call BEGINs
again right after its COMMIT (one call: nobody can slip in between) and the waiting group takes that
transaction over; if another connection did write meanwhile (`PRAGMA data_version`), what was read from
the database is read again, and a kept row that now collides is refused at commit (its report only).
A statement of its own (any other store method) waits for the commit first (`_ensure_begun`).
A group whose blocks ran statements of their own (rows only its transaction sees) is committed before
sealing returns: nothing is read past it.
"""

from __future__ import annotations

import asyncio
import sqlite3

from .base import StoreError, StoreUnavailable
from .sqlite_common import _unavailable
from .sqlite_kept import write_parts


class _Group:
    __slots__ = ("done", "parts", "begun", "direct", "audit")

    def __init__(self, begun: bool):
        self.done = asyncio.get_running_loop().create_future()  # committed or rolled back (always a result)
        self.parts: list = []  # its finished blocks, their futures not resolved yet
        self.begun = begun  # BEGIN IMMEDIATE done: the connection's transaction is its
        self.direct = False  # rows were written into its transaction (not only kept)
        self.audit = False  # audit entries were appended in it: the signed head is written after its commit


async def _nothing() -> None:
    return None


class GroupCommitMixin:
    seals_between_blocks = True  # seal_group needs only the store's lock (a block holds it to its end)

    def _init_groups(self) -> None:
        self._group: _Group | None = None  # the open group, which blocks join
        self._sealed: list[_Group] = []  # groups being committed, oldest first
        self._sealed_parts: list = []  # their blocks (their kept rows are laid over reads)
        self._commit_lock = asyncio.Lock()
        self._begin_lock = asyncio.Lock()
        self._reader: sqlite3.Connection | None = None  # read-only, for groups not begun yet
        self._releasing = False  # a commit lets the write lock go: the next group must BEGIN itself

    @property
    def _kparts(self) -> list:
        g = self._group
        return g.parts if g is not None else []

    def _lazy(self) -> bool:
        """The open group has not begun (a commit before it runs): reads go to the reader connection."""
        g = self._group
        return g is not None and not g.begun

    async def _begin(self) -> None:
        if self._closing:  # close() has begun: the connection is going (see SqliteStore.close)
            raise StoreUnavailable("the store was closed")
        self._worker_busy = True
        try:
            await self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(str(exc)) from exc
        finally:
            self._worker_busy = False
        self._head_checked = False  # see _others_wrote: once per BEGIN (we hold the write lock)

    async def _open_group(self, *, block: bool) -> None:
        """With the lock held and no group open: a new group. A group block while a commit runs starts one
        that has not begun (see the module's text); otherwise BEGIN IMMEDIATE now."""
        if block and self._sealed and self._reader is not None and not self._releasing:
            self._group = _Group(begun=False)
            self._head_checked = True  # looked at when it takes the transaction over
            return
        while self._sealed:
            await asyncio.shield(self._sealed[-1].done)
        await self._begin()
        self._group = _Group(begun=True)
        if block:
            self._others_wrote()  # before any id is given out in this group

    async def _ensure_begun(self) -> None:
        """Before a statement of its own: the commits running finish, and the open group has begun."""
        while self._sealed:
            await asyncio.shield(self._sealed[-1].done)
        g = self._group
        if g is not None and not g.begun:
            async with self._begin_lock:
                if not g.begun and self._group is g:
                    await self._begin()
                    g.begun = True
                    self._others_wrote()

    # ---------------------------------------------------------------- sealing and committing
    async def seal_group(self):
        """Close the open group to new blocks and return an awaitable that commits it (raising
        StoreUnavailable/StoreError when the commit fails). Call it under the lock that orders the blocks
        and wait for the commit after releasing it: the next blocks fill the next group meanwhile."""
        async with self._lock:
            g = self._group
            if g is None:
                return _nothing()
            if g.direct or self._reader is None:
                await self._end_group(commit=True)
                return _nothing()
            self._detach()
        return self._commit_sealed(g)

    def _detach(self) -> _Group:
        """With the lock held: the open group is sealed (no block joins it any more)."""
        g, self._group = self._group, None
        g.audit = g.audit or self._tx_dirty_audit
        self._tx_dirty_audit = False
        self._sealed.append(g)
        self._sealed_parts = [p for s in self._sealed for p in s.parts]
        return g

    # A group that reached this many blocks while no commit runs is sealed and committed at once, without
    # waiting for the service's committer: a bound on a group's size (its memory, and how long its first
    # report waits for the fsync). Not lower: on a quiet 2-core machine 24 split 50 concurrent members into
    # two uneven groups whose commits the event loop then waited for (about 2,500 to 2,900 reports/s against
    # 3,500 to 3,900 with 200 or more, where the service's committer forms the groups; bench/intake.py).
    SEAL_AT = 200

    def _seal_full(self) -> None:
        """With the lock held, after a block: seal the open group and start its commit if it is full."""
        g = self._group
        if (len(g.parts) >= self.SEAL_AT and not self._sealed and not g.direct and g.begun
                and self._reader is not None):
            asyncio.ensure_future(self._commit_quietly(self._detach()))

    async def _commit_quietly(self, g: _Group) -> None:
        try:
            await self._commit_sealed(g)
        except StoreError:
            pass  # each block's future tells its report

    async def _commit_sealed(self, g: _Group) -> None:
        async with self._commit_lock:  # in the order they were sealed
            try:
                await self._finish(g, commit=True, again=True)
            finally:
                self._sealed.remove(g)
                self._sealed_parts = [p for s in self._sealed for p in s.parts]
                if not g.done.done():
                    g.done.set_result(None)

    async def commit(self) -> None:
        """Commit the open group (one fsync), if any. Raises StoreUnavailable/StoreError when it fails."""
        await (await self.seal_group())

    async def _end_group(self, *, commit: bool, error: BaseException | None = None) -> None:
        """With the lock held: COMMIT (or ROLLBACK) the open group and tell everyone waiting on it."""
        g, self._group = self._group, None
        if g is None:
            return
        g.audit = g.audit or self._tx_dirty_audit
        self._tx_dirty_audit = False
        try:
            await self._finish(g, commit=commit, error=error)
        finally:
            self._kept = False  # its rows are written or dropped
            if not g.done.done():
                g.done.set_result(None)

    async def _finish(self, g: _Group, *, commit: bool, error: BaseException | None = None,
                      again: bool = False) -> None:
        """COMMIT (or ROLLBACK) a group no block can join any more; its blocks' futures are told."""
        parts = g.parts
        refused: dict = {}
        head = versions = None
        last = next((p.audit[-1] for p in reversed(parts) if p.audit), None)
        linked = (last.seq, last.hash) if last is not None else None  # entries may be linked again
        if commit and error is None:
            self._worker_busy = True
            try:
                refused, head, versions = await self.db._execute(self._commit_group, parts, not g.begun, g.audit,
                                                                 again)
                self.commits += 1
            except BaseException as exc:
                error = exc
            finally:
                self._worker_busy = False
        elif error is None:
            error = StoreUnavailable("the group could not be completed")
        if error is not None:
            self._forget()
            try:
                await self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            failure = self._converted(error)
            self._unindex(parts, dropped=True)
            for p in parts:
                p.clear()
                if not p.future.done():
                    p.future.set_exception(failure)
                    p.future.exception()  # retrieved here: nobody may be waiting on it
            if commit:
                raise failure from error
            return
        began, taken = versions
        for version in (began, taken):
            if version is not None and version != self._seen_version:  # another connection wrote
                self._seen_version = version
                self._forget()
        if refused or (linked is not None and head != linked):
            self._forget()  # entries were linked again: the head is looked up again
        if g.audit and head is not None:  # the signed head of what was committed, after the commit
            self.audit_chain.anchor(*head)
        if taken is not None:
            later = self._sealed[self._sealed.index(g) + 1:] if g in self._sealed else []
            nxt = later[0] if later else self._group  # the group that commits next
            if nxt is not None and not nxt.begun:
                nxt.begun = True  # it takes the transaction begun after the commit over
            else:  # nobody needs it: the write lock is let go (before anyone is told, so that a group
                self._releasing = True  # opened meanwhile BEGINs itself and looks for other writers)
                try:
                    await self.db.execute("COMMIT")
                except sqlite3.Error:
                    pass
                finally:
                    self._releasing = False
        self._committed_rows(parts)
        for p in parts:
            p.clear()
            if not p.future.done():
                if p in refused:
                    p.future.set_exception(StoreError(f"the database refused the report: {refused[p]}"))
                    p.future.exception()  # retrieved here: nobody may be waiting on it
                else:
                    p.future.set_result(None)

    def _commit_group(self, parts: list, begin: bool, audit: bool, again: bool):
        """On aiosqlite's worker thread: (BEGIN IMMEDIATE,) the kept rows, COMMIT (one fsync) and, with
        `again`, BEGIN IMMEDIATE for the next group. Returns the refused blocks, the audit head committed and
        the data_version after each BEGIN (None where there was none)."""
        conn = self.db._conn
        began = taken = None
        if begin:
            conn.execute("BEGIN IMMEDIATE")
            began = conn.execute("PRAGMA data_version").fetchone()[0]
        refused, head = write_parts(conn, parts, self.audit_chain, _unavailable)
        if audit and head is None:
            row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            head = (row[0], row[1]) if row else None
        conn.execute("COMMIT")
        if again:
            try:
                conn.execute("BEGIN IMMEDIATE")
                taken = conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                taken = None
        return refused, head, (began, taken)
