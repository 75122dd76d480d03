"""Where several processes meet on one PostgreSQL database, besides the audit chain and case numbers
(pg_group.py): outbox leases (each action run by one process; a dead process's leases expire and another
takes them over), the leader (timers and the retention purge in one process at a time), and hash-bank
changes reaching every process (LISTEN/NOTIFY). A mixin of PostgresStore (see postgres.py)."""

from __future__ import annotations

import asyncio
import json
import logging

import asyncpg

from .base import SENT_ACTION
from .sqlite_common import _j

log = logging.getLogger("safety_bot.store.postgres")

LOCK_LEADER = 0x5AFE_0004  # held by the process that runs timers and the retention purge
BANK_CHANNEL = "safety_bot_bank"  # NOTIFY channel: a hash-bank entry changed
_NOW = "extract(epoch from clock_timestamp())::float8"  # the database's clock: the same for every process


class PgShared:
    async def create_case(self, case):
        """Outside a group: the case number from the community's counter (see pg_group.py); a transaction
        that fails leaves a gap."""
        case.number = await self._number_now(case.community)  # not in the transaction: no lock held
        async with self.transaction():
            conn = self._conn_var.get()
            case.id = await conn.fetchval(
                "INSERT INTO cases (community, network, number, category, urgency, status, created_at, updated_at, "
                "reporter, accused, assignee, close_reason, answers, flags, hidden_from, locale, alias) VALUES "
                "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
                case.community, case.network, case.number, *self._case_values(case))
            await self._sync_accused(case, fresh=True)
        return case

    # ---------------------------------------------------------------- outbox leases
    # An action is leased to the process that wrote it, for `lease_seconds`, renewed while it runs. A process
    # that dies stops renewing; once the lease has expired any process may claim the action (FOR UPDATE SKIP
    # LOCKED: two claimers never get the same row) and finishes it after asking the platform whether it
    # already happened. This process's own pending actions are always its to claim (the runtime skips the
    # ones it is running right now).
    async def outbox_add(self, action: dict, case_id) -> int:
        return (await self.outbox_add_many([(action, case_id)]))[0]

    async def outbox_add_many(self, items):
        if not items:
            return []
        async with self.transaction():
            rows = await self._conn_var.get().fetch(
                f"INSERT INTO outbox (action, case_id, lease_owner, lease_until) SELECT a, c, $3, {_NOW} + $4 "
                "FROM unnest($1::text[], $2::bigint[]) AS t(a, c) RETURNING id",
                [self._enc(_j(a)) for a, _ in items], [c for _, c in items], self.owner, float(self.lease_seconds))
        return sorted(r[0] for r in rows)

    # The runtime's own writes (an action's result, claims) touch only actions whose transaction committed:
    # outside a transaction they are statements of their own on the pool. Through `transaction()` they would
    # first commit this process's open group of reports (see postgres.py), a commit per action result.
    async def outbox_done(self, outbox_id, status, detail=""):
        if status == "sending":  # the idempotency record: the send is this process's, so it keeps the lease
            sql = "UPDATE outbox SET status=$1, detail=$2 WHERE id=$3"
        else:  # carried out: no copy of what it said outlives the case (base.SENT_ACTION)
            sql = (f"UPDATE outbox SET status=$1, detail=$2, action='{SENT_ACTION}', lease_owner=NULL, lease_until=NULL "
                   "WHERE id=$3")
        if self._conn_var.get() is not None:
            await self._conn_var.get().execute(sql, status, detail, outbox_id)
            return
        await self._on_pool("execute", sql, status, detail, outbox_id)

    async def _on_pool(self, method: str, sql: str, *args):
        try:
            return await getattr(self.pool, method)(sql, *args)
        except BaseException as exc:
            failure = self._as_store_error(exc)
            if failure is exc:
                raise
            raise failure from exc

    async def outbox_sending(self):
        """Sends whose outcome is unknown and that no live process holds (its lease ran out, or it is ours)."""
        rows = await self.pool.fetch(
            f"SELECT id, action FROM outbox WHERE status='sending' AND (lease_until IS NULL OR lease_until < {_NOW} "
            "OR lease_owner = $1) ORDER BY id", self.owner)
        return [(r[0], json.loads(self._dec(r[1]))) for r in rows]

    async def outbox_claim(self, limit: int | None = None):
        sql = (f"UPDATE outbox SET lease_owner=$1, lease_until={_NOW} + $2 WHERE id IN (SELECT id FROM outbox "
               f"WHERE status='pending' AND (lease_until IS NULL OR lease_until < {_NOW} OR lease_owner = $1) "
               "ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id, action")
        args = (self.owner, float(self.lease_seconds), limit or 1000)
        async with self._claiming:  # one claim at a time in this process; one statement, so one transaction
            if self._conn_var.get() is not None:
                rows = await self._conn_var.get().fetch(sql, *args)
            else:
                rows = await self._on_pool("fetch", sql, *args)
        return sorted((r[0], json.loads(self._dec(r[1]))) for r in rows)

    async def outbox_renew(self, ids) -> None:
        if ids:
            await self.pool.execute(f"UPDATE outbox SET lease_until={_NOW} + $1 WHERE id = ANY($2::bigint[]) "
                                    "AND lease_owner=$3 AND status IN ('pending', 'sending')",
                                    float(self.lease_seconds), list(ids), self.owner)

    async def leases_held(self) -> list[tuple[int, str, float]]:
        """(outbox id, owner, seconds left) of every lease on an action not yet done."""
        rows = await self.pool.fetch(f"SELECT id, lease_owner, lease_until - {_NOW} FROM outbox "
                                     "WHERE status IN ('pending', 'sending') AND lease_owner IS NOT NULL ORDER BY id")
        return [(r[0], r[1], r[2]) for r in rows]

    # ---------------------------------------------------------------- the leader
    async def try_lead(self) -> bool:
        """Whether this process leads (runs timers and the purge). The leader holds a session advisory lock
        on its own connection; if the process dies the server drops the connection and the lock with it."""
        if self._leader is not None:
            try:
                await self._leader.fetchval("SELECT 1")
                return True
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                log.warning("lost the leader's database connection; leadership is open again")
                self._leader = None
        try:
            conn = await asyncpg.connect(self.dsn, server_settings={"application_name": "safety-bot leader"})
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError):
            return False
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_LEADER):
            self._leader = conn
            log.info("this process now runs the timers and the retention purge")
            return True
        await conn.close()
        return False

    # ---------------------------------------------------------------- hash-bank changes reach every process
    async def on_bank_change(self, callback) -> None:
        """callback() soon after any process commits a change to the hash bank (LISTEN/NOTIFY)."""
        self._listener = await asyncpg.connect(self.dsn, server_settings={"application_name": "safety-bot listener"})
        await self._listener.add_listener(BANK_CHANNEL, lambda *_: callback())

    async def _notify_bank(self, entry_id) -> None:
        async with self.transaction():  # delivered when the change commits, never before
            await self._conn_var.get().execute("SELECT pg_notify($1, $2)", BANK_CHANNEL, str(entry_id))

    async def add_bank_entry(self, entry):
        async with self.transaction():
            entry = await super().add_bank_entry(entry)
            await self._notify_bank(entry.id)
        return entry

    async def set_bank_status(self, entry_id, status, at):
        async with self.transaction():
            await super().set_bank_status(entry_id, status, at)
            await self._notify_bank(entry_id)

    async def set_case_bank_category(self, case_id, category):
        async with self.transaction():
            changed = await super().set_case_bank_category(case_id, category)
            for entry_id in changed:
                await self._notify_bank(entry_id)
        return changed

    async def withdraw_bank_entry(self, entry_id, at):
        async with self.transaction():
            await super().withdraw_bank_entry(entry_id, at)
            await self._notify_bank(entry_id)


