"""SqliteStore's shared lists (issue 19). A mixin of SqliteStore (see sqlite.py); PostgreSQL uses the same SQL."""

from __future__ import annotations

import hashlib
import hmac

from .list_types import ListItem, SharedList

_COLS = ("id, name, kind, network, source, action, added_by, added_at, public_key, every_seconds, etag, last_modified, "
         "last_fetch, last_error, size, category")


class ListsMixin:
    def list_tag(self, text: str) -> str:
        """The keyed tag a list item is stored under (the item itself never is, in the clear)."""
        return hmac.new(self._tag_key, b"shared-list\x00" + text.encode(), hashlib.sha256).hexdigest()

    def _shared(self, r) -> SharedList:
        return SharedList(id=r[0], name=r[1], kind=r[2], network=r[3], source=r[4], action=r[5], added_by=r[6],
                          added_at=r[7], public_key=r[8], every=r[9] or 0.0, etag=r[10], last_modified=r[11],
                          last_fetch=r[12], last_error=r[13] or "", size=r[14] or 0,
                          category=r[15] or "adult")

    async def add_shared_list(self, lst: SharedList) -> SharedList:
        lst.id = await self._write(
            "INSERT INTO shared_lists (name, kind, network, source, action, added_by, added_at, public_key, every_seconds, "
            "etag, last_modified, last_fetch, last_error, size, category) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (lst.name, lst.kind, lst.network, lst.source, lst.action, lst.added_by, lst.added_at, lst.public_key,
             lst.every, lst.etag, lst.last_modified, lst.last_fetch, lst.last_error, lst.size, lst.category))
        return lst

    async def save_shared_list(self, lst: SharedList) -> None:
        await self._write(
            "UPDATE shared_lists SET source=?, action=?, public_key=?, every_seconds=?, etag=?, last_modified=?, "
            "last_fetch=?, last_error=?, size=?, category=? WHERE id=?",
            (lst.source, lst.action, lst.public_key, lst.every, lst.etag, lst.last_modified, lst.last_fetch,
             lst.last_error, lst.size, lst.category, lst.id))

    async def shared_lists(self, kind: str | None = None) -> list[SharedList]:
        sql, params = f"SELECT {_COLS} FROM shared_lists", []
        if kind is not None:
            sql += " WHERE kind=?"
            params.append(kind)
        return [self._shared(r) for r in await self._rows(sql + " ORDER BY name", params)]

    async def get_shared_list(self, name: str) -> SharedList | None:
        rows = await self._rows(f"SELECT {_COLS} FROM shared_lists WHERE name=?", (name,))
        return self._shared(rows[0]) if rows else None

    async def delete_shared_list(self, list_id: int) -> None:
        await self._write("DELETE FROM shared_list_items WHERE list_id=?", (list_id,))
        await self._write("DELETE FROM shared_lists WHERE id=?", (list_id,))

    async def list_items(self, list_id: int) -> dict[str, ListItem]:
        rows = await self._rows("SELECT item_key, entry_id, value FROM shared_list_items WHERE list_id=?", (list_id,))
        return {r[0]: ListItem(r[0], r[1], self._dec(r[2]) or "") for r in rows}

    async def add_list_items(self, list_id: int, items: list[ListItem]) -> None:
        for it in items:
            await self._write("INSERT INTO shared_list_items (list_id, item_key, entry_id, value) VALUES (?, ?, ?, ?)",
                              (list_id, it.key, it.entry_id, self._enc(it.value)))

    async def remove_list_items(self, list_id: int, keys: list[str]) -> None:
        for key in keys:
            await self._write("DELETE FROM shared_list_items WHERE list_id=? AND item_key=?", (list_id, key))

    async def entry_lists(self, ids: list[int]) -> dict[int, int]:
        """Bank entry id -> the id of the list that brought it (entries from no list are absent)."""
        if not ids:
            return {}
        rows = await self._rows("SELECT entry_id, list_id FROM shared_list_items WHERE entry_id IN "
                                f"({','.join('?' * len(ids))})", [int(i) for i in ids])
        return {r[0]: r[1] for r in rows}

    async def active_bans(self, network: str):
        """Every active ban of the network (ban pools are exported from these)."""
        from ..domain import Ban

        rows = await self._rows("SELECT id, network, user_key, case_id, at, by, reason, active FROM bans "
                                "WHERE network=? AND active=1 ORDER BY id", (network,))
        return [Ban(id=r[0], network=r[1], user_id=r[2], case_id=r[3], at=r[4], by=r[5], reason=r[6], active=bool(r[7]))
                for r in rows]
