"""Discord ban pools across networks (issue 19, item 4): `safety-bot bans export --network N` and
`bans follow FILE|URL --network N [--mode notify|apply]`.

A pool file is `<user id> <reason code> <YYYY-MM-DD>` per line (fileformat.py), optionally Ed25519-signed,
read strictly like hash lists: a bad file changes nothing and is kept as the pool's last error. What a
listed account meets here (shown with a one-press ban, or banned, never a team member, never against the
team's unban) is ban_lists.py's. Bans a pool made and no pool names any more are lifted by the running bot
(`reconcile`), whichever process changed the pool. Export writes the network's active bans made here (not those from other
pools) as user ids, a reason code from the case's category, and the date: never case data, never a
reporter, never a moderator's words."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..domain import UserRef
from ..store import SharedList
from ..store.list_types import BAN_ACTIONS
from .ban_lists import ban_lists, list_reason
from .fetch import DEFAULT_MAX_BYTES
from .fileformat import BanItem, ban_list_text, parse_ban_list, sign
from .hash_lists import ListError, SyncResult, add_new_list, follow_due, read_list, restore_settings

if TYPE_CHECKING:
    from ..service import SafetyService

log = logging.getLogger(__name__)
PLATFORM = "discord"


def member_finders(svc: "SafetyService") -> dict[str, Callable]:
    """platform -> async (community, user ids) -> [UserRef of those who are members]: adapters register one
    (translation only), so the core can tell who on a pool is present."""
    return svc.__dict__.setdefault("member_finders", {})


def default_name(source: str) -> str:
    stem = Path(source.split("?", 1)[0].rstrip("/")).stem or "pool"
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in stem)[:64]


class BanPools:
    def __init__(self, svc: "SafetyService", *, max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = 30.0):
        self.svc = svc
        self.store = svc.store
        self.lists = ban_lists(svc)
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def follow(self, source: str, name: str, *, network: str, mode: str | None = None,
                     public_key: str | None = None, every: float = 3600.0, actor: str = "operator") -> tuple[SharedList, SyncResult]:
        if not name or len(name) > 64 or any(c.isspace() for c in name):
            raise ListError("--list: a name of 1 to 64 characters without spaces")
        if mode is not None and mode not in BAN_ACTIONS:
            raise ListError("--mode must be notify or apply")
        lst = await self.store.get_shared_list(name)
        if lst is not None and (lst.kind != "bans" or lst.network != network):
            raise ListError(f"a list named {name} already exists for something else; choose another --list")
        new = lst is None
        if new:
            lst = SharedList(name=name, kind="bans", network=network, source=source, action=mode or "notify",
                             added_by=actor, added_at=self.svc.clock(), public_key=public_key, every=every)
        else:
            kept = dataclasses.replace(lst)
            lst.source, lst.action = source, mode or lst.action
            lst.public_key, lst.every = public_key or lst.public_key, every or lst.every
            lst.etag = lst.last_modified = None
        try:
            return lst, await self.sync(lst, actor=actor, create=new)
        except ListError:
            if not new:  # a refused read keeps how the pool was read before; only its last error is new
                await restore_settings(self.store, kept, lst)
            raise

    async def sync(self, lst: SharedList, *, actor: str = "bot", create: bool = False) -> SyncResult:
        now = self.svc.clock()
        read = await read_list(lst, parse_ban_list, self.store, self.svc.audit, now=now, actor=actor, create=create,
                               max_bytes=self.max_bytes, timeout=self.timeout)
        if read is None:
            return SyncResult(size=lst.size, unchanged=True)
        items, signed = read
        wanted = {self.store.list_tag(f"discord {i.user_id}"): {"user_id": i.user_id, "reason": i.reason,
                                                                "date": i.date} for i in items}
        async with self.svc.exclusive():
            async with self.store.transaction():
                if create:
                    lst = await add_new_list(self.store, lst)
                added, removed = await self.lists.replace(lst, wanted)  # lifts: the running bot (reconcile)
                await self.svc.audit(actor, "list.synced", "", None, list=lst.name, network=lst.network,
                                     added=len(added), withdrawn=len(removed), size=len(items), signed=signed)
        return SyncResult(added=len(added), withdrawn=len(removed), size=len(items), signed=signed)

    async def follow_due(self) -> list[tuple[str, str]]:
        return await follow_due(self.store, "bans", self.sync, self.svc.clock(), "ban pool")

    async def check_present(self):
        """Accounts on a pool who are members of a protected server: shown to the team once (a case with a
        one-press ban) or banned. Returns the Outcome to run."""
        from ..actions import Outcome

        out = Outcome()
        finder = member_finders(self.svc).get(PLATFORM)
        if finder is None:
            return out
        for lst in await self.store.shared_lists("bans"):
            ids = [it["user_id"] for ll, _k, it in await self.lists.listed(lst.network) if ll.id == lst.id]
            if not ids:
                continue
            for com in self.svc.network_communities(lst.network, PLATFORM):
                present = [u for u in await finder(com.id, ids) if not await self._shown(lst, com.id, u)]
                if present:
                    out.extend(await self.lists.check_members(com.id, present, only=lst))
                    for u in present:
                        await self._mark_shown(lst, com.id, u)
        return out

    async def _shown(self, lst: SharedList, community: str, u: UserRef) -> bool:
        raw = await self.store.get_value(f"lists.shown.{lst.id}")
        return f"{community}/{u.key}" in (raw or "").split("\n")

    async def _mark_shown(self, lst: SharedList, community: str, u: UserRef) -> None:
        raw = await self.store.get_value(f"lists.shown.{lst.id}") or ""
        await self.store.set_value(f"lists.shown.{lst.id}", (raw + "\n" if raw else "") + f"{community}/{u.key}")

    async def remove_pool(self, name: str, actor: str = "operator") -> int:
        """Stop following a pool. The running bot lifts the bans it made (`reconcile`); returns how many."""
        lst = await self.store.get_shared_list(name)
        if lst is None or lst.kind != "bans":
            raise ListError(f"there is no ban pool named {name}")
        banned = await self.lists.list_banned(lst.network, lst)
        async with self.store.transaction():
            await self.store.delete_shared_list(lst.id)
            await self.svc.audit(actor, "list.removed", "", None, list=name, bans=len(banned))
        self.lists.forget()
        return len(banned)

    async def export(self, network: str, *, signed: bool = False) -> tuple[bytes, int]:
        """The network's active Discord bans made here: user id, reason code, date."""
        rows: list[BanItem] = []
        for ban in await self.store.active_bans(network):
            platform, _, uid = ban.user_id.partition(":")
            if platform != PLATFORM or ban.reason.startswith(list_reason("")):
                continue  # other platforms' ids; bans that came from someone else's list are theirs to share
            reason = "other"
            if ban.case_id is not None:
                case = await self.store.get_case_by_id(ban.case_id)
                reason = case.category if case is not None and case.category in ("sextortion", "child_safety",
                                                                                  "harassment") else "other"
            date = dt.datetime.fromtimestamp(ban.at, dt.timezone.utc).date().isoformat()
            rows.append(BanItem(uid, reason, date))
        stamp = dt.datetime.fromtimestamp(self.svc.clock(), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = ban_list_text(network, rows, stamp)
        await self.svc.audit("operator:cli", "list.bans_exported", "", None, network=network, bans=len(rows),
                             signed=signed)
        return (sign(body, self.store.audit_chain.keys) if signed else body), len(rows)

    async def tick(self, runtime) -> None:
        """The running bot's share (app.py's ticker): re-read due pools, lift what they dropped (also when
        the change was made from the command line), and check the protected servers' members."""
        from ..actions import Outcome

        await self.follow_due()
        self.lists.forget()
        out = Outcome()
        pools = await self.store.shared_lists("bans")
        seen = tuple((p.id, p.name, p.size, p.last_fetch) for p in pools)
        if seen != getattr(self, "_seen", None):
            out.extend(await self.reconcile(pools))
            self._seen = seen
        out.extend(await self.check_present())
        if out.actions:
            await runtime.run(out)

    async def reconcile(self, pools: list[SharedList]):
        """Lift the active bans a pool made that no pool entry names any more (a pool removed, or entries
        dropped, from the command line or another process). Only bans whose reason names a pool."""
        from ..actions import Outcome, UnbanUser

        out = Outcome()
        by_name = {p.name: p for p in pools}
        listed = {(p.name, it.get("user_id")) for p in pools for ll, _k, it in await self.lists.listed(p.network)
                  if ll.id == p.id}
        made: dict[tuple[str, str, str], str] = {}
        for a in await self.store.audit_entries(actions=("list.ban",)):
            if a.action == "list.ban" and str(a.detail.get("target", "")).startswith(PLATFORM + ":"):
                made[(str(a.detail.get("network")), str(a.detail["target"]), str(a.detail.get("list")))] = a.community
        async with self.store.transaction():
            for (network, key, name), _community in made.items():
                uid = key.partition(":")[2]
                if name in by_name and (name, uid) in listed:
                    continue
                if name not in by_name and await self.store.get_shared_list(name) is not None:
                    continue  # a Matrix policy list, or another kind: not a pool
                ban = await self.store.active_ban(network, key)
                if ban is None or ban.reason != list_reason(name):
                    continue
                if any(isinstance(a, UnbanUser) and a.user.key == key for a in out.actions):
                    continue
                user = UserRef(PLATFORM, uid, uid)
                for com in self.svc.network_communities(network, PLATFORM):
                    out.actions.append(UnbanUser(community=com.id, user=user, reason=self.svc.team_text("pool_unban_reason", name=name)))
                await self.svc.audit(f"list:{name}", "ban.lift_requested", "", None, target=key,
                                     reason=f"no longer on the ban pool {name}", ban_id=ban.id)
            if out.actions:
                await self.svc.enqueue(out)
        return out


def ban_pools(svc: "SafetyService") -> BanPools:
    found = svc.__dict__.get("_ban_pools")
    if found is None:
        found = svc.__dict__["_ban_pools"] = BanPools(svc)
    return found
