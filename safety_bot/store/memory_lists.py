"""MemoryStore's shared lists (issue 19): the in-memory fake of sqlite_lists.py, for core tests."""

from __future__ import annotations

import copy
import hashlib
import hmac

from .list_types import ListItem, SharedList


class MemoryListsMixin:
    def list_tag(self, text: str) -> str:
        return hmac.new(self._list_key, b"shared-list\x00" + text.encode(), hashlib.sha256).hexdigest()

    async def add_shared_list(self, lst):
        self._check()
        if any(x.name == lst.name for x in self.lists.values()):
            from .base import StoreError

            raise StoreError(f"a list named {lst.name} already exists")
        lst = copy.deepcopy(lst)
        lst.id = self._id()
        self.lists[lst.id] = lst
        self.list_rows[lst.id] = {}
        return copy.deepcopy(lst)

    async def save_shared_list(self, lst):
        self._check()
        if lst.id in self.lists:
            self.lists[lst.id] = copy.deepcopy(lst)

    async def shared_lists(self, kind=None):
        return [copy.deepcopy(x) for x in sorted(self.lists.values(), key=lambda x: x.name)
                if kind is None or x.kind == kind]

    async def get_shared_list(self, name):
        found = [x for x in self.lists.values() if x.name == name]
        return copy.deepcopy(found[0]) if found else None

    async def delete_shared_list(self, list_id):
        self._check()
        self.lists.pop(list_id, None)
        self.list_rows.pop(list_id, None)

    async def list_items(self, list_id):
        return copy.deepcopy(self.list_rows.get(list_id, {}))

    async def add_list_items(self, list_id, items):
        self._check()
        rows = self.list_rows.setdefault(list_id, {})
        for it in items:
            if it.key in rows:
                from .base import StoreError

                raise StoreError("duplicate list item")
            rows[it.key] = copy.deepcopy(it)

    async def remove_list_items(self, list_id, keys):
        self._check()
        rows = self.list_rows.get(list_id, {})
        for key in keys:
            rows.pop(key, None)

    async def entry_lists(self, ids):
        wanted = set(ids)
        return {it.entry_id: list_id for list_id, rows in self.list_rows.items() for it in rows.values()
                if it.entry_id in wanted}

    async def active_bans(self, network):
        return [copy.deepcopy(b) for b in self.bans if b.network == network and b.active]


__all__ = ["MemoryListsMixin", "ListItem", "SharedList"]
