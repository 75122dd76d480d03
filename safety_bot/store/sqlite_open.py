"""What SqliteStore.open() checks and upgrades once, before anything else is written: the data key and the
audit key (a wrong key is refused with nothing changed), the reporter-tag key, and two one-time upgrades
of older databases (per-case reporter tags; the keyed audit chain)."""

from __future__ import annotations

import base64
import hmac
import json
import time

from ..audit_chain import unkeyed_link
from ..crypto import WrongKey
from ..domain import AuditEntry, UserRef
from .sqlite_common import _j

AUDIT_CHAIN_VERSION = "hmac-sha256/1"


class OpeningMixin:
    async def _check_key(self) -> None:
        """A known value encrypted with the key: a wrong key is a clear error before anything changes."""
        async with self.db.execute("SELECT value FROM kv WHERE key='key_check'") as cur:
            row = await cur.fetchone()
        if row is None:
            await self.db.execute("INSERT INTO kv VALUES ('key_check', ?)", (self.cipher.encrypt("safety-bot"),))
            return
        try:
            ok = self.cipher.decrypt(row[0]) == "safety-bot"
        except WrongKey:
            ok = False
        if not ok:
            raise WrongKey(
                f"the database {self.path} was encrypted with a different key; check storage.key "
                "(or the .key file beside the database). Nothing was changed."
            )

    async def _check_audit_key(self) -> None:
        """A keyed check value: a wrong audit key is refused before anything is written."""
        check = self.audit_chain.keys.check_value()
        async with self.db.execute("SELECT value FROM kv WHERE key='audit_key_check'") as cur:
            row = await cur.fetchone()
        if row is None:
            await self.db.execute("INSERT INTO kv VALUES ('audit_key_check', ?)", (check,))
        elif not hmac.compare_digest(row[0], check):
            raise WrongKey(f"the audit key is not the one {self.path}'s audit log was written with; check "
                           "storage.audit_key (or the .audit-key file beside the database). Nothing was changed.")

    async def _load_tag_key(self) -> None:
        """The reporter-tag key lives (encrypted) in the database, so `rotate_key` keeps tags and therefore
        rate limits. Databases from before this keep the key their tags were made with."""
        async with self.db.execute("SELECT value FROM kv WHERE key='tag_key'") as cur:
            row = await cur.fetchone()
        if row is not None:
            self._tag_key = base64.b64decode(self.cipher.decrypt(row[0]))
            return
        await self.db.execute("INSERT INTO kv VALUES ('tag_key', ?)",
                              (self.cipher.encrypt(base64.b64encode(self._tag_key).decode()),))

    async def _upgrade_tags(self) -> None:
        """Once per database: intakes keyed by tag instead of the account, per-case reporter tags."""
        if await self.get_value("reporter_tags") == "per-case/1":
            return
        async with self.transaction():
            for platform, user_id in await self._rows("SELECT platform, user_id FROM intakes WHERE user_id NOT LIKE 't:%'"):
                await self.db.execute("UPDATE intakes SET user_id=? WHERE platform=? AND user_id=?",
                                      (self._intake_tag(platform, user_id), platform, user_id))
            for rid, case_id, reporter in await self._rows("SELECT id, case_id, reporter FROM reports WHERE reporter IS NOT NULL"):
                key = UserRef.from_dict(json.loads(self._dec(reporter))).key
                await self.db.execute("UPDATE reports SET reporter_tag=? WHERE id=?", (self._tag(f"{case_id}:{key}"), rid))
            await self.db.execute("INSERT INTO kv VALUES ('reporter_tags', 'per-case/1') "
                                  "ON CONFLICT (key) DO UPDATE SET value=excluded.value")

    async def _upgrade_audit_chain(self) -> None:
        """Once per database: re-link an older (unkeyed SHA-256) log with the audit key, encrypt its
        details, and sign the head. A break found in the old chain is itself recorded in the log."""
        async with self.db.execute("SELECT value FROM kv WHERE key='audit_chain'") as cur:
            row = await cur.fetchone()
        if row is not None:
            return
        entries = await self.audit_entries()
        broken, prev = None, ""
        for e in entries:
            if broken is None and (e.prev_hash != prev or unkeyed_link(prev, e) != e.hash):
                broken = e.seq
            prev = e.hash
        async with self.transaction():
            prev = ""
            for e in entries:
                e.prev_hash, e.hash = prev, self.audit_chain.link(prev, e)
                prev = e.hash
                await self.db.execute("UPDATE audit SET detail=?, prev_hash=?, hash=? WHERE seq=?",
                                      (self._enc(_j(e.detail)), e.prev_hash, e.hash, e.seq))
            self._audit_head = (entries[-1].seq, prev) if entries else (0, "")
            self._tx_dirty_audit = True
            if broken is not None:
                await self.append_audit(AuditEntry(at=time.time(), actor="bot", action="audit.legacy_chain_broken",
                                                   detail={"first_broken_entry": broken}))
            await self.db.execute("INSERT INTO kv VALUES ('audit_chain', ?)", (AUDIT_CHAIN_VERSION,))
