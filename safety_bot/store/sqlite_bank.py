"""SqliteStore's exposed-media hash bank. A mixin of SqliteStore (see sqlite.py)."""

from __future__ import annotations

import json

from .base import BankEntry
from .sqlite_common import _j


class BankMixin:
    # ---------------------------------------------------------------- exposed-media hash bank
    _BANK_META = ("id, network, category, status, quality, case_id, case_number, community, added_by, added_at, "
                  "updated_at, kind")

    def _bank(self, r, hashes=None) -> BankEntry:
        entry = BankEntry(id=r[0], network=r[1], category=r[2], status=r[3], quality=r[4], case_id=r[5],
                          case_number=r[6], community=r[7], added_by=r[8], added_at=r[9], updated_at=r[10],
                          kind=r[11] or "image")
        if hashes is not None:
            pdq = self._dec(hashes[0])
            entry.pdq = json.loads(pdq) if pdq else []
            entry.sha256, entry.md5 = self._dec(hashes[1]), self._dec(hashes[2])
        return entry

    async def add_bank_entry(self, entry: BankEntry) -> BankEntry:
        entry.updated_at = entry.updated_at or entry.added_at
        entry.id = await self._write(
            "INSERT INTO bank_entries (network, category, status, quality, pdq, sha256, md5, case_id, case_number, "
            "community, added_by, added_at, updated_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.network, entry.category, entry.status, entry.quality, self._enc(_j(list(entry.pdq))),
             self._enc(entry.sha256), self._enc(entry.md5), entry.case_id, entry.case_number, entry.community,
             entry.added_by, entry.added_at, entry.updated_at, entry.kind))
        return entry

    async def get_bank_entry(self, entry_id, *, with_hashes=True):
        found = await self.bank_entries(ids=[entry_id], with_hashes=with_hashes)
        return found[0] if found else None

    async def bank_entries(self, network=None, statuses=(), *, with_hashes=False, ids=None):
        cols = self._BANK_META + (", pdq, sha256, md5" if with_hashes else "")
        sql, params = f"SELECT {cols} FROM bank_entries WHERE 1=1", []
        if network is not None:
            sql += " AND network=?"
            params.append(network)
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            params.extend(statuses)
        if ids is not None:
            if not ids:
                return []
            sql += f" AND id IN ({','.join('?' * len(ids))})"
            params.extend(int(i) for i in ids)
        rows = await self._rows(sql + " ORDER BY id", params)
        return [self._bank(r, r[12:15] if with_hashes else None) for r in rows]

    async def set_bank_status(self, entry_id, status, at):
        await self._write("UPDATE bank_entries SET status=?, updated_at=? WHERE id=?", (status, at, entry_id))

    async def set_case_bank_category(self, case_id, category):
        rows = await self._rows("UPDATE bank_entries SET category=? WHERE case_id=? AND category!=? RETURNING id",
                                (category, case_id, category))
        return [r[0] for r in rows]

    async def withdraw_bank_entry(self, entry_id, at):
        """The victim's choice: the hashes are deleted; the row stays as an audited record without them."""
        await self._write("UPDATE bank_entries SET status='withdrawn', pdq=NULL, sha256=NULL, md5=NULL, quality=0, "
                          "updated_at=? WHERE id=?", (at, entry_id))
