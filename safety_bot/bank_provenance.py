"""Which shared list (safety_bot.lists) a bank entry came from, and what that list's action makes of a match (issue 19, item 5).

Looked up lazily, only for entries that matched, and forgotten on every bank refresh, so a list's action
changed from the command line takes effect within a minute without loading anything up front."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    name: str
    action: str  # remove | flag


class Provenance:
    def __init__(self, store):
        self.store = store
        self._known: dict[int, Source | None] = {}

    def forget(self) -> None:
        self._known.clear()

    async def sources(self, entry_ids) -> dict[int, Source]:
        """The list of each entry that came from one (own entries are absent)."""
        wanted = [i for i in dict.fromkeys(entry_ids) if i not in self._known]
        if wanted:
            found = await self.store.entry_lists(wanted)
            lists = {lst.id: lst for lst in await self.store.shared_lists("hashes")} if found else {}
            for entry_id in wanted:
                lst = lists.get(found.get(entry_id))
                self._known[entry_id] = Source(lst.name, lst.action) if lst is not None else None
        return {i: s for i in entry_ids if (s := self._known.get(i)) is not None}

    async def apply(self, hits: list) -> list:
        """Hits from a `flag` list become flags: only the team is told."""
        src = await self.sources([h.entry_id for h in hits])
        for h in hits:
            s = src.get(h.entry_id)
            if s is not None and s.action == "flag" and h.decision == "remove":
                h.decision = "flag"
        return hits

    def label(self, entry_id: int, t) -> str:
        """' (from the shared list NAME)' (team text `bank_from_list`, through `t`) for an entry from a list, else ''."""
        s = self._known.get(entry_id)
        return t("bank_from_list", name=s.name) if s is not None else ""
