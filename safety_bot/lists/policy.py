"""Watched Matrix policy lists (issue 19, item 3), platform-neutral: what `!safety watch` records, and what
the rules a policy room holds mean for the members of the protected rooms (ban_lists.py decides).

The Matrix adapter only translates: it joins the watched rooms, reads their state and new state events,
and lists the members of the protected rooms; it hands raw events here."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..actions import Outcome
from ..domain import UserRef
from ..store import SharedList
from .ban_lists import BAN_RECOMMENDATIONS, RULE_TYPES, ban_lists

if TYPE_CHECKING:
    from ..service import SafetyService


def rule_key(event_type: str, state_key: str) -> str:
    return json.dumps([event_type, state_key])


def ban_rule(event: dict) -> dict | None:
    """The ban rule a policy state event holds (Draupnir, Mjolnir and Meowlnir shapes), or None."""
    if event.get("type") not in RULE_TYPES or not isinstance(event.get("content"), dict):
        return None
    c = event["content"]
    entity, rec = c.get("entity"), c.get("recommendation")
    if not isinstance(entity, str) or not entity or rec not in BAN_RECOMMENDATIONS:
        return None
    return {"entity": entity[:255], "recommendation": rec, "reason": str(c.get("reason") or "")[:300]}


class PolicyLists:
    def __init__(self, svc: "SafetyService"):
        self.svc = svc
        self.store = svc.store
        self.lists = ban_lists(svc)

    async def watched(self, network: str) -> list[SharedList]:
        return [lst for lst in await self.store.shared_lists("policy") if lst.network == network]

    async def watch(self, network: str, room: str, apply: bool, actor: str) -> tuple[SharedList, bool]:
        """(the list, whether it is new). Watching again changes the mode."""
        action = "apply" if apply else "notify"
        lst = await self.store.get_shared_list(room)
        async with self.store.transaction():
            if lst is None:
                lst = await self.store.add_shared_list(SharedList(
                    name=room, kind="policy", network=network, source=room, action=action, added_by=actor,
                    added_at=self.svc.clock()))
                new = True
            else:
                lst.action, new = action, False
                await self.store.save_shared_list(lst)
            await self.svc.audit(actor, "list.watch", "", None, list=room, mode=action)
        self.lists.forget()
        return lst, new

    async def unwatch(self, network: str, room: str, actor: str) -> Outcome | None:
        """Stop watching; lift the bans the list made. None when the room is not watched."""
        lst = await self.store.get_shared_list(room)
        if lst is None or lst.kind != "policy" or lst.network != network:
            return None
        # Called from the unwatch command: the service already holds its lock (service.moderate).
        async with self.store.transaction():
            items = [json.loads(i.value or "{}") for i in (await self.store.list_items(lst.id)).values()]
            out = await self.lists.lift(network, lst, items, await self.lists.list_banned(network, lst))
            await self.store.delete_shared_list(lst.id)
            await self.svc.audit(actor, "list.unwatch", "", None, list=room)
            if out.actions:
                await self.svc.enqueue(out)
        self.lists.forget()
        return out

    async def rules(self, community: str, room: str, events: list[dict], members: list[UserRef], *,
                    full: bool) -> Outcome:
        """The policy room's rule events: all of its state (`full`) or new state events. New ban rules are
        checked against `members` (those of the protected rooms); removed ones lift the list's bans."""
        com = self.svc.communities.get(community)
        lst = await self.store.get_shared_list(room)
        if com is None or lst is None or lst.kind != "policy":
            return Outcome()
        out = Outcome()
        async with self.svc.exclusive():
            async with self.store.transaction():
                current = {k: json.loads(v.value or "{}") for k, v in (await self.store.list_items(lst.id)).items()}
                items = {} if full else dict(current)
                for ev in events:
                    if ev.get("type") not in RULE_TYPES or not isinstance(ev.get("state_key"), str):
                        continue
                    key = self.store.list_tag(rule_key(ev["type"], ev["state_key"]))
                    rule = ban_rule(ev)
                    if rule is None:
                        items.pop(key, None)  # emptied (removed) or not a ban: no longer a ban rule
                    else:
                        items[key] = rule
                added, removed = await self.lists.replace(lst, items)
                lst.last_fetch, lst.last_error = self.svc.clock(), ""
                await self.store.save_shared_list(lst)
                if removed:
                    out.extend(await self.lists.lift(com.network, lst, [r for _, r in removed],
                                                     await self.lists.list_banned(com.network, lst),
                                                     list(items.values())))
                    if out.actions:
                        await self.svc.enqueue(out)
        if added and members:
            out.extend(await self.lists.check_members(community, members, only=lst))
        return out


def policy_lists(svc: "SafetyService") -> PolicyLists:
    found = svc.__dict__.get("_policy_lists")
    if found is None:
        found = svc.__dict__["_policy_lists"] = PolicyLists(svc)
    return found
