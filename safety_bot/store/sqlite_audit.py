"""SqliteStore's audit log, key rotation and retention (purging a case). A mixin of SqliteStore (see
sqlite.py)."""

from __future__ import annotations

import base64
import json

from ..crypto import Cipher
from ..domain import AuditEntry
from .sqlite_common import _j

# Every column that holds encrypted text. `rotate_key` re-encrypts exactly these; add new ones here.
ENCRYPTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "cases": ("reporter", "answers"),
    "reports": ("reporter", "text"),
    "evidence": ("author", "text", "attachments"),
    "notes": ("text",),
    "strikes": ("reason",),
    "outbox": ("action",),
    "bank_entries": ("pdq", "sha256", "md5"),
    "shared_list_items": ("value",),
    "audit": ("detail",),
}
_PK = {"cases": "id", "reports": "id", "evidence": "id", "notes": "id", "strikes": "id", "outbox": "id",
       "bank_entries": "id", "shared_list_items": "id", "audit": "seq"}


class AuditMixin:
    # ---------------------------------------------------------------- audit
    async def append_audit(self, entry: AuditEntry) -> AuditEntry:
        async with self._maybe_tx():  # the signed head is written when this transaction commits
            # Another process (the `safety-bot` command line) may have written before our BEGIN; once we
            # hold the write lock (BEGIN IMMEDIATE) nobody else can, so one look per transaction group.
            self._others_wrote()
            if self._audit_head is None:
                rows = await self._rows("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                self._audit_head = (rows[0][0], rows[0][1]) if rows else (0, "")
            entry.seq = self._audit_head[0] + 1
            entry.prev_hash = self._audit_head[1]
            entry.hash = self.audit_chain.link(entry.prev_hash, entry)
            self._audit_head = (entry.seq, entry.hash)
            self._tx_dirty_audit = True
            await self._write(
                "INSERT INTO audit (seq, at, actor, action, community, case_id, detail, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (entry.seq, entry.at, entry.actor, entry.action, entry.community, entry.case_id,
                 self._enc(_j(entry.detail)), entry.prev_hash, entry.hash))
        return entry

    async def audit_entries(self, case_id=None, *, actions: tuple[str, ...] = ()):
        """The log in order: one case's entries, and/or only some actions (filtered by the database, so a
        caller that needs a few kinds of entry does not decrypt the whole log)."""
        sql = "SELECT seq, at, actor, action, community, case_id, detail, prev_hash, hash FROM audit"
        where: list[str] = []
        params: tuple = ()
        if case_id is not None:
            where.append("case_id=?")
            params += (case_id,)
        if actions:
            where.append("action IN (" + ", ".join("?" for _ in actions) + ")")
            params += tuple(actions)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self._rows(sql + " ORDER BY seq", params)
        return [AuditEntry(seq=r[0], at=r[1], actor=r[2], action=r[3], community=r[4], case_id=r[5],
                           detail=json.loads(self._dec(r[6])), prev_hash=r[7], hash=r[8]) for r in rows]

    # ---------------------------------------------------------------- key rotation and retention
    async def rotate_key(self, new_key: bytes) -> int:
        """Re-encrypt every encrypted column with `new_key` in one transaction. Returns values rewritten."""
        new = Cipher(new_key)
        count = 0
        async with self.transaction():
            for table, columns in ENCRYPTED_COLUMNS.items():
                pk = _PK.get(table, "rowid")
                rows = await self._rows(f"SELECT {pk}, {', '.join(columns)} FROM {table}")
                for row in rows:
                    values = [new.encrypt(self.cipher.decrypt(v)) if v is not None else None for v in row[1:]]
                    await self.db.execute(f"UPDATE {table} SET {', '.join(c + '=?' for c in columns)} WHERE {pk}=?",
                                          (*values, row[0]))
                    count += sum(v is not None for v in values)
            await self.db.execute("UPDATE kv SET value=? WHERE key='key_check'", (new.encrypt("safety-bot"),))
            for (seed,) in await self._rows("SELECT value FROM kv WHERE key='audit_seed'"):  # PostgreSQL's audit key
                await self.db.execute("UPDATE kv SET value=? WHERE key='audit_seed'", (new.encrypt(self.cipher.decrypt(seed)),))
            # the reporter-tag key is carried over (re-encrypted), so rate limits survive a rotation
            await self.db.execute("UPDATE kv SET value=? WHERE key='tag_key'",
                                  (new.encrypt(base64.b64encode(self._tag_key).decode()),))
        self.cipher = new
        return count

    async def purge_case(self, case_id: int) -> dict[str, int]:
        """Delete a case and the personal data stored with it, everywhere: reports (with their tags),
        evidence, notes, intakes, finished outbox entries, and the details of its audit entries (emptied so
        that their links still verify). Hash-bank entries are unlinked from the case, not deleted: they keep
        blocking re-uploads of the person's images. Returns what was removed, by kind."""
        removed: dict[str, int] = {}
        async with self._maybe_tx():
            async def delete(kind: str, where: str) -> None:  # counted first: works the same on PostgreSQL
                removed[kind] = (await self._rows(f"SELECT COUNT(*) FROM {where}", (case_id,)))[0][0]
                await self._write(f"DELETE FROM {where}", (case_id,))

            for kind, table in (("reports", "reports"), ("evidence items", "evidence"), ("notes", "notes"),
                                ("intake conversations", "intakes")):
                await delete(kind, f"{table} WHERE case_id=?")
            await delete("sent messages and actions", "outbox WHERE case_id=? AND status!='pending'")
            emptied = 0
            for e in await self.audit_entries(case_id):
                if set(e.detail) == {"purged_detail_mac"}:
                    continue
                await self._write("UPDATE audit SET detail=? WHERE seq=?",
                                  (_j(self.audit_chain.keys.purged_detail(e)), e.seq))
                emptied += 1
            removed["audit details"] = emptied
            removed["hash-bank entries unlinked"] = (
                await self._rows("SELECT COUNT(*) FROM bank_entries WHERE case_id=?", (case_id,)))[0][0]
            await self._write("UPDATE bank_entries SET case_id=NULL, case_number=NULL WHERE case_id=?", (case_id,))
            await delete("cases", "cases WHERE id=?")
        return removed
