"""Ban lists from other communities, with the team in control (issue 19, items 3 and 4).

Two kinds, one engine:
- `policy`: a Matrix policy room watched with `!safety watch <room> [--apply]`. Its `m.policy.rule.user`
  rules (and the legacy `m.room.rule.user` / `org.matrix.mjolnir.rule.user`) with the recommendation
  `m.ban` or `org.matrix.mjolnir.ban` name a user id or a glob (`@*:evil.example`).
- `bans`: a Discord ban pool followed with `safety-bot bans follow FILE|URL --network N` (lists/ban_pools.py).

A listed member who is in a protected place, or joins one, is shown to the team (`notify`, the default) with
a one-command ban (and, for a ban pool, a case whose alert carries a one-press ban button), or banned like
the bot's own bans (`apply`). Either way the guards of issue 13 hold:
- a member of the safety team is never banned by a list: the escalation destination is told instead;
- someone the team unbanned is never banned again by a list (the team's unban wins);
- more than `two_person.MULTI_TARGET` bans from one change, or more list bans in an hour than
  `limits.mod_actions_per_hour`, are not applied: the team is shown them, and a ban of many takes a second
  person (`confirm`), as for any moderator.
A rule removed from the list lifts the bans that list made (only those: the ban's reason names the list).
Reasons written by other communities are shown as inert text, never as markup."""

from __future__ import annotations

import fnmatch
import json
import logging
from typing import TYPE_CHECKING

from ..actions import BanUser, Outcome, PostToTeam, UnbanUser
from ..domain import UserRef
from ..store import ListItem, SharedList
from ..text import inert_plain

if TYPE_CHECKING:
    from ..service import SafetyService

log = logging.getLogger(__name__)
RULE_TYPES = ("m.policy.rule.user", "m.room.rule.user", "org.matrix.mjolnir.rule.user")
BAN_RECOMMENDATIONS = ("m.ban", "org.matrix.mjolnir.ban")
CACHE_SECONDS = 60.0
MAX_SHOWN = 10  # more matches than this at once are summed up in one post
SUMMARY_IDS = 20


def list_reason(name: str) -> str:
    """The reason of a list's ban. Not a team text: it also tells the list's bans from the team's own
    (`lift`, ban_pools), so it must not change with the configured locale."""
    return f"Ban from the shared list {name}"


def rule_matches(item: dict, user: UserRef) -> bool:
    entity = str(item.get("entity") or "")
    if not entity:
        return False
    if any(ch in entity for ch in "*?"):
        return fnmatch.fnmatchcase(user.id, entity.replace("[", "[[]"))
    return entity == user.id


class BanLists:
    def __init__(self, svc: "SafetyService"):
        self.svc = svc
        self.store = svc.store
        self._cache: dict[str, tuple[float, list]] = {}  # network -> (loaded at, [(list, key, item)])

    # ------------------------------------------------------------------ what is listed
    def forget(self) -> None:
        self._cache.clear()

    async def listed(self, network: str) -> list[tuple[SharedList, str, dict]]:
        now = self.svc.clock()
        hit = self._cache.get(network)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        rows = []
        for lst in await self.store.shared_lists():
            if lst.kind in ("policy", "bans") and lst.network == network:
                for key, it in (await self.store.list_items(lst.id)).items():
                    rows.append((lst, key, json.loads(it.value or "{}")))
        self._cache[network] = (now, rows)
        return rows

    async def replace(self, lst: SharedList, items: dict[str, dict]) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
        """Make the list's stored items exactly `items` (key -> item). Returns (added, removed). Call in a
        transaction."""
        current = await self.store.list_items(lst.id)
        added = [(k, v) for k, v in items.items() if k not in current]
        removed = [(k, json.loads(current[k].value or "{}")) for k in current if k not in items]
        changed = [k for k, v in items.items() if k in current and json.loads(current[k].value or "{}") != v]
        await self.store.remove_list_items(lst.id, [k for k, _ in removed] + changed)
        await self.store.add_list_items(lst.id, [ListItem(k, None, json.dumps(v, sort_keys=True)) for k, v in added]
                                        + [ListItem(k, None, json.dumps(items[k], sort_keys=True)) for k in changed])
        lst.size = len(items)
        await self.store.save_shared_list(lst)
        self.forget()
        return added + [(k, items[k]) for k in changed], removed

    # ------------------------------------------------------------------ members meet the lists
    async def check_members(self, community: str, members: list[UserRef], *, only: SharedList | None = None,
                            joined: bool = False) -> Outcome:
        """Members present in (or joining) a protected place of `community`: shown to the team or banned."""
        com = self.svc.communities.get(community)
        out = Outcome()
        if com is None or not members:
            return out
        hits: list[tuple[UserRef, SharedList, dict]] = []
        for lst, _key, item in await self.listed(com.network):
            if only is not None and lst.id != only.id:
                continue
            for m in members:
                if self._matches(lst, item, m) and all(h[0].key != m.key for h in hits):
                    hits.append((m, lst, item))
        if not hits:
            return out
        async with self.svc.exclusive():
            async with self.store.transaction():
                to_ban, shown = [], []
                for m, lst, item in hits:
                    if await self.store.active_ban(com.network, m.key) is not None:
                        continue
                    why = await self._why_not_apply(com, m, lst)
                    if why == "team":
                        out.extend(await self._notify(com, m, lst, item, why, joined))
                    elif why is None:
                        to_ban.append((m, lst, item))
                    else:
                        shown.append((m, lst, item, why))
                if to_ban and len(to_ban) > min(await self._room_for_bans(com.network), _multi_target()):
                    why = "multi" if len(to_ban) > _multi_target() else "hour_limit"
                    shown += [(m, lst, item, why) for m, lst, item in to_ban]
                    to_ban = []
                if len(shown) > MAX_SHOWN:
                    out.extend(await self._summary(com, shown))
                else:
                    for m, lst, item, why in shown:
                        out.extend(await self._notify(com, m, lst, item, why, joined))
                for m, lst, item in to_ban:
                    out.extend(await self._apply(com, m, lst, item))
                if out.actions:
                    await self.svc.enqueue(out)
        return out

    async def _summary(self, com, shown: list) -> Outcome:
        """Many matches at once (a broad glob, a big pool): one post, no case each, the ids to ban."""
        lists = ", ".join(dict.fromkeys(inert_plain(lst.name, limit=120) for _, lst, _, _ in shown))
        ids = [m.id for m, _, _, _ in shown]
        t = self.svc.team_text
        text = t("list_summary", count=len(ids), lists=lists, why=t(f"list_why_{shown[0][3] or 'notify'}"),
                 ban=f"{_prefix(com)}ban " + " ".join(ids[:SUMMARY_IDS])) \
            + (" " + t("list_summary_more", count=len(ids) - SUMMARY_IDS) if len(ids) > SUMMARY_IDS else "")
        for _, lst, _, _ in shown:
            await self.svc.audit(f"list:{lst.name}", "list.match_shown", com.id, None, list=lst.name, many=len(ids))
            break
        return Outcome(actions=[PostToTeam(community=com.id, text=text)])

    def _matches(self, lst: SharedList, item: dict, user: UserRef) -> bool:
        if lst.kind == "policy":
            return user.platform == "matrix" and rule_matches(item, user)
        return user.platform == "discord" and item.get("user_id") == user.id

    async def _why_not_apply(self, com, m: UserRef, lst: SharedList) -> str | None:
        from ..guard import holds_team_role

        if await holds_team_role(self.svc, com.id, m):
            return "team"  # in either mode: only the escalation destination hears of it
        if lst.action != "apply":
            return ""
        if await self._team_unbanned(m):
            return "unbanned"  # the team lifted a ban on this account before (team text list_why_unbanned)
        return None

    async def _team_unbanned(self, m: UserRef) -> bool:
        return any(a.action == "ban.lift_requested" and a.detail.get("target") == m.key and
                   not str(a.actor).startswith("list:")
                   for a in await self.store.audit_entries(actions=("ban.lift_requested",)))

    async def _room_for_bans(self, network: str) -> int:
        """How many more list bans this hour allows (limits.mod_actions_per_hour, as for one moderator)."""
        since = self.svc.clock() - 3600
        recent = sum(1 for a in await self.store.audit_entries(actions=("list.ban",))
                     if a.action == "list.ban" and a.at >= since and a.detail.get("network") == network)
        return max(0, self.svc.config.limits.mod_actions_per_hour - recent)

    async def _notify(self, com, m: UserRef, lst: SharedList, item: dict, why: str, joined: bool) -> Outcome:
        from ..plugins import command_prefix

        out = Outcome()
        who = inert_plain(m.name or m.id, limit=64)
        t = self.svc.team_text
        where = t("list_joined" if joined else "list_present")
        source = t("list_source_policy", name=inert_plain(lst.name, limit=120)) if lst.kind == "policy" else \
            t("list_source_pool", name=inert_plain(lst.name, limit=64))
        reason = inert_plain(str(item.get("reason") or t("list_no_reason")), limit=160)
        if why == "team":
            out.actions.append(PostToTeam(community=com.id, destination="escalation", text=t(
                "list_team_match", who=who, id=inert_plain(m.id, limit=80), source=source, reason=reason)))
            await self.svc.audit(f"list:{lst.name}", "list.team_match", com.id, None, list=lst.name, target=m.key)
            return out
        ban = f"{command_prefix(com.platform)}ban {m.id}"
        text = t("list_match_why" if why else "list_match", who=who, id=inert_plain(m.id, limit=80), where=where,
                 source=source, reason=reason, why=t(f"list_why_{why}") if why else "", ban=ban)
        buttons: tuple = ()
        case_number = None
        if lst.kind == "bans":
            case = await self._case_for(com, m, lst, item)
            if case is not None:
                from ..case_buttons import uploader_ban

                case_number = case.number
                buttons = (dict(uploader_ban(case.number, m), label="discord_button_banlisted"),)
                text += f" --case {case.number}"
        out.actions.append(PostToTeam(community=com.id, text=text, case_number=case_number, buttons=buttons))
        await self.svc.audit(f"list:{lst.name}", "list.match_shown", com.id, None, list=lst.name, target=m.key)
        return out

    async def _case_for(self, com, m: UserRef, lst: SharedList, item: dict):
        """A ban pool's match gets a case (the one-press ban lives on it); one open case per account and list."""
        from ..domain import Case, CaseNote, Report, Status, Urgency

        category = {"sextortion": "sextortion", "child_safety": "child_safety"}.get(str(item.get("reason")), "harassment")
        if category not in self.svc.lib.playbooks:
            category = "sextortion"
        for c in await self.store.cases_about(com.network, m.key):
            if c.community == com.id and c.status in ("open", "acting") and c.flags.get("ban_pool") == lst.name:
                return c
        now = self.svc.clock()
        pb = self.svc.lib.playbook(category)
        case = await self.store.create_case(Case(
            community=com.id, network=com.network, number=0, category=category,
            urgency=Urgency.URGENT if pb.always_urgent else Urgency.NORMAL, status=Status.OPEN, created_at=now,
            updated_at=now, locale=self.svc.config.locale, accused=[m],
            flags={"opened_by_bot": True, "intake_done": True, "ban_pool": lst.name}))
        await self.store.add_report(Report(case_id=case.id, reporter=None, text="", source="moderator", created_at=now))
        await self.store.add_note(CaseNote(case.id, "system", "system", self.svc.team_text(
            "list_note_pool_case", name=lst.name, reason=item.get("reason"), date=item.get("date")), now))
        await self.svc.audit("bot", "case.open", com.id, case, category=category, ban_pool=lst.name)
        return case

    async def _apply(self, com, m: UserRef, lst: SharedList, item: dict) -> Outcome:
        out = Outcome()
        for target in self.svc.network_communities(com.network, m.platform):
            out.actions.append(BanUser(community=target.id, user=m, case_id=None, reason=list_reason(lst.name)))
        t = self.svc.team_text
        out.actions.append(PostToTeam(community=com.id, text=t(
            "list_banned", who=inert_plain(m.name or m.id, limit=64), id=inert_plain(m.id, limit=80),
            name=inert_plain(lst.name, limit=120), reason=inert_plain(str(item.get("reason") or t("list_no_reason")),
                                                                        limit=160),
            unban=f"{_prefix(com)}unban {m.id} <reason>")))
        await self.svc.audit(f"list:{lst.name}", "list.ban", com.id, None, list=lst.name, target=m.key,
                             network=com.network)
        return out

    # ------------------------------------------------------------------ rules removed: lift the list's bans
    async def lift(self, network: str, lst: SharedList, removed: list[dict], banned: list[UserRef],
                   remaining: list[dict] = ()) -> Outcome:
        """Unban the accounts among `banned` that a removed rule names and no remaining rule does, when their
        active ban is this list's. Call in a transaction."""
        out = Outcome()
        for user in banned:
            if not any(self._matches(lst, item, user) for item in removed) or \
                    any(self._matches(lst, item, user) for item in remaining):
                continue
            ban = await self.store.active_ban(network, user.key)
            if ban is None or ban.reason != list_reason(lst.name):
                continue  # the team's own ban (or none): a list never lifts it
            for target in self.svc.network_communities(network, user.platform):
                out.actions.append(UnbanUser(community=target.id, user=user,
                                             reason=self.svc.team_text("list_unban_reason", name=lst.name)))
            await self.svc.audit(f"list:{lst.name}", "ban.lift_requested", "", None, target=user.key,
                                 reason=f"rule removed from the list {lst.name}", ban_id=ban.id)
        return out

    async def list_banned(self, network: str, lst: SharedList) -> list[UserRef]:
        """Accounts this list banned and whose ban is still active."""
        users: dict[str, UserRef] = {}
        for a in await self.store.audit_entries(actions=("list.ban",)):
            if a.action == "list.ban" and a.detail.get("list") == lst.name and a.detail.get("network") == network:
                platform, _, uid = str(a.detail.get("target", "")).partition(":")
                users[a.detail["target"]] = UserRef(platform, uid, uid)
        return [u for u in users.values() if (b := await self.store.active_ban(network, u.key)) is not None
                and b.reason == list_reason(lst.name)]


def _multi_target() -> int:
    from ..two_person import MULTI_TARGET

    return MULTI_TARGET


def _prefix(com) -> str:
    from ..plugins import command_prefix

    return command_prefix(com.platform)


def ban_lists(svc: "SafetyService") -> BanLists:
    """The service's one BanLists (its cache is shared by the adapters and the commands)."""
    found = svc.__dict__.get("_ban_lists")
    if found is None:
        found = svc.__dict__["_ban_lists"] = BanLists(svc)
    return found
