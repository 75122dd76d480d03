"""SqliteStore's outbox (actions and messages waiting to be sent) and its key-value settings. A mixin of
SqliteStore (see sqlite.py)."""

from __future__ import annotations

import json

from .base import SENT_ACTION
from .sqlite_common import _j


class OutboxMixin:
    # ---------------------------------------------------------------- outbox and kv
    async def outbox_add(self, action: dict, case_id) -> int:
        return await self._write("INSERT INTO outbox (action, case_id) VALUES (?, ?)", (self._enc(_j(action)), case_id))

    async def outbox_add_many(self, items: list[tuple[dict, int | None]]) -> list[int]:
        if not items:
            return []
        async with self._maybe_tx():
            rows = await self._rows("INSERT INTO outbox (action, case_id) VALUES " + ", ".join(["(?, ?)"] * len(items))
                                    + " RETURNING id", tuple(x for a, c in items for x in (self._enc(_j(a)), c)))
        return sorted(r[0] for r in rows)

    async def outbox_done(self, outbox_id, status, detail=""):
        if status == "sending":  # the idempotency record: the action is kept until its result is in
            await self._write("UPDATE outbox SET status=?, detail=? WHERE id=?", (status, detail, outbox_id))
        else:  # carried out: no copy of what it said (a case card, a DM to the reporter) outlives the case
            await self._write("UPDATE outbox SET status=?, detail=?, action=? WHERE id=?",
                              (status, detail, SENT_ACTION, outbox_id))

    async def outbox_pending(self):
        rows = await self._rows("SELECT id, action FROM outbox WHERE status='pending' ORDER BY id")
        return [(r[0], json.loads(self._dec(r[1]))) for r in rows]

    # One process owns an SQLite file: it holds every lease, always leads and needs no change notices.
    shared = False

    async def outbox_claim(self, limit: int | None = None):
        pending = await self.outbox_pending()
        return pending if limit is None else pending[:limit]

    async def outbox_renew(self, ids) -> None:
        return None

    async def try_lead(self) -> bool:
        return True

    async def on_bank_change(self, callback) -> None:
        return None

    async def outbox_sending(self):
        rows = await self._rows("SELECT id, action FROM outbox WHERE status='sending' ORDER BY id")
        return [(r[0], json.loads(self._dec(r[1]))) for r in rows]

    async def get_value(self, key):
        rows = await self._rows("SELECT value FROM kv WHERE key=?", (key,))
        return rows[0][0] if rows else None

    async def set_value(self, key, value):
        self._rate_cache.pop(key, None)
        await self._write("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                          (key, value))

    # ---------------------------------------------------------------- two-person confirmations (two_person.py)
    async def put_confirmation(self, code: str, community: str, data: str, created_at: float, expires_at: float) -> None:
        """A pending action waiting for a second person; `data` is stored encrypted. Expired ones are dropped."""
        async with self._maybe_tx():
            await self._write("DELETE FROM pending_confirmations WHERE expires_at < ?", (created_at,))
            await self._write("INSERT INTO pending_confirmations (code, community, data, created_at, expires_at) "
                              "VALUES (?, ?, ?, ?, ?)", (code, community, self._enc(data), created_at, expires_at))

    async def get_confirmation(self, code: str, now: float) -> tuple[str, str] | None:
        """(community, data) of an unexpired pending action, or None."""
        rows = await self._rows("SELECT community, data FROM pending_confirmations WHERE code=? AND expires_at >= ?",
                                (code, now))
        return (rows[0][0], self._dec(rows[0][1])) if rows else None

    async def take_confirmation(self, code: str) -> bool:
        """Remove it; True for exactly one caller, however many processes confirm the same code at once."""
        async with self._maybe_tx():
            rows = await self._rows("DELETE FROM pending_confirmations WHERE code=? RETURNING code", (code,))
        return bool(rows)
