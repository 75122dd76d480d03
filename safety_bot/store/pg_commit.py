"""Committing PostgreSQL's groups (a mixin of PostgresStore; the groups themselves: pg_group.py). A group
closed to new blocks (sealed) is committed on its own connection while the next one fills; groups commit
one at a time, in the order they were sealed. Its kept rows go in one statement; if the database refuses
one of them, block by block, each in its own savepoint, and only the blocks that fail are refused."""

from __future__ import annotations

from .base import StoreUnavailable
from .pg_batch import Part, flush_statement, merged
from .pg_group import _Group


class PgCommitting:
    async def seal_group(self):
        """Close the open group to new blocks and return an awaitable that commits it (it raises
        StoreUnavailable/StoreError when the commit fails). New blocks start the next group at once, on
        another connection, while this one commits: call this under the lock that orders the blocks, and
        wait for the commit after releasing it. Groups commit one at a time, in the order they were sealed."""
        async with self._glock:
            g, self._open = self._open, None
            if g is not None:
                self._sealed.append(g)
        return self._commit_sealed(g)

    async def _commit_sealed(self, g: _Group | None) -> None:
        async with self._commit_lock:  # every group sealed before this one has finished when it is taken
            if g is None:
                return
            try:
                await self._end_group(g, commit=True)
            finally:
                self._sealed.remove(g)

    async def commit(self) -> None:
        """Commit the open group (one WAL flush), if any, after the groups being committed. Raises
        StoreUnavailable/StoreError when it fails."""
        await (await self.seal_group())

    async def _end_group(self, g: _Group, *, commit: bool, error: BaseException | None = None) -> None:
        """COMMIT (or ROLLBACK) a group no block can join any more, and tell everyone waiting on it."""
        conn, parts = g.conn, g.parts
        refused: dict = {}
        try:
            if commit and error is None and not g.broken:
                try:
                    refused = await self._write_parts(g, parts)
                    if g.begun:
                        await conn.execute("COMMIT")
                        self.commits += 1
                except BaseException as exc:
                    error = exc
            elif error is None:
                error = StoreUnavailable("the group could not be completed")
            if error is not None and g.begun:
                try:
                    await conn.execute("ROLLBACK")
                except BaseException:
                    g.broken = True
        finally:
            if error is not None and (g.broken or isinstance(self._as_store_error(error), StoreUnavailable)):
                conn.terminate()  # in an unknown state: the next group opens a new one
            else:
                self._free.append(conn)
            g.done.set_result(None)
        failure = self._as_store_error(error) if error is not None else None
        for p in parts:
            if failure is None and p not in refused:
                p.future.set_result(None)
                continue
            p.future.set_exception(failure or self._as_store_error(refused[p]))
            p.future.exception()  # retrieved here: nobody may be waiting on it
        if commit and failure is not None:
            raise failure from error

    async def _write_parts(self, g: _Group, parts: list[Part]) -> dict:
        """The group's kept rows, in one statement; if a row fails, block by block. Returns the refused
        blocks (block -> error)."""
        parts = [p for p in parts if p.has_rows() or p.audit]
        if not parts:
            return {}
        conn = g.conn
        one = merged(parts)
        if one.audit:
            await self._link(g, [], savepoint="f")  # BEGIN, the lock, a savepoint; the head: two round trips
        else:
            await conn.execute(g.begin_sql(self._synchronous_commit) + "SAVEPOINT f")
        head = g.audit_head
        if one.audit:
            await self._link(g, one.audit)  # in memory: the head is known
        sql, args = flush_statement(one, one.audit, self._enc, self.owner, self.lease_seconds)
        try:
            await conn.execute(sql, *args)
            return {}
        except BaseException as exc:
            if isinstance(self._as_store_error(exc), StoreUnavailable) or not isinstance(exc, Exception):
                raise
        # one of the rows was refused: each block alone, so only the ones that fail are refused
        await conn.execute("ROLLBACK TO SAVEPOINT f")
        refused = {}
        for p in parts:
            g.audit_head = head
            try:
                if p.audit:
                    await self._link(g, p.audit, savepoint="b")
                else:
                    await conn.execute("SAVEPOINT b")
                sql, args = flush_statement(p, p.audit, self._enc, self.owner, self.lease_seconds, alone=True)
                if sql:
                    await conn.execute(sql, *args)
                await conn.execute("RELEASE SAVEPOINT b")
                head = g.audit_head
            except Exception as exc:
                if isinstance(self._as_store_error(exc), StoreUnavailable):
                    raise
                await conn.execute("ROLLBACK TO SAVEPOINT b")
                refused[p] = exc
        return refused
