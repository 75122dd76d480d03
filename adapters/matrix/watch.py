"""The Matrix adapter's side of watched policy lists (issue 19, item 3): it only translates.

It joins the policy rooms the team watches (`!safety watch`), hands their state and each new rule event to
the core (`safety_bot.lists.policy`), lists the members of the protected rooms for it, and hands over
members who join a protected room. The core decides what is shown, banned or lifted."""

from __future__ import annotations

import logging
import time

from safety_bot.domain import UserRef
from safety_bot.lists.ban_lists import ban_lists
from safety_bot.lists.policy import policy_lists
from safety_bot.text import inert_plain

from .connection import COMMUNITY, PLATFORM
from .text import _q

log = logging.getLogger("adapters.matrix.adapter")
_RULE_TYPES = ("m.policy.rule.user", "m.room.rule.user", "org.matrix.mjolnir.rule.user")
_RETRY_SECONDS = 600.0


class MatrixWatch:
    def _watched_rooms(self) -> dict[str, str]:
        return self.__dict__.setdefault("_watched", {})  # list name (as the team typed it) -> room id

    async def _watch_tick(self) -> None:
        """Join newly watched policy rooms and read their rules; leave rooms no longer watched."""
        watched = self._watched_rooms()
        try:
            names = {lst.name for lst in await policy_lists(self.svc).watched(self.community.network)}
        except Exception:
            log.exception("matrix: could not read the watched policy lists")
            return
        failed = self.__dict__.setdefault("_watch_failed", {})  # name -> when joining last failed
        for name in sorted(names - set(watched)):
            if name in failed and time.monotonic() - failed[name] < _RETRY_SECONDS:
                continue
            room = await self._join_policy_room(name, tell=name not in failed)
            if room is None:
                failed[name] = time.monotonic()
                continue
            failed.pop(name, None)
            watched[name] = room
            st, state = await self._api("GET", f"/_matrix/client/v3/rooms/{_q(room)}/state")
            if st != 200 or not isinstance(state, list):
                log.warning("matrix: cannot read the watched policy room's state (HTTP %s)", st)
                continue
            rules = [e for e in state if isinstance(e, dict) and e.get("type") in _RULE_TYPES]
            out = await policy_lists(self.svc).rules(COMMUNITY, name, rules, await self._protected_members(), full=True)
            await self.app.runtime.run(out)
        for name in sorted(set(watched) - names):
            room = watched.pop(name)
            if room not in self._configured_rooms():
                await self._api("POST", f"/_matrix/client/v3/rooms/{_q(room)}/leave", {})

    async def _join_policy_room(self, name: str, *, tell: bool = True) -> str | None:
        """The room's id once joined, or None (the team is told once; joining is retried every 10 minutes)."""
        room, problem = name, ""
        if name.startswith("#"):
            st, data = await self._api("GET", f"/_matrix/client/v3/directory/room/{_q(name)}")
            if st != 200:
                problem = self.svc.t("matrix_policy_room_not_found", "en", room=inert_plain(name), status=st)
            else:
                room = data["room_id"]
        if not problem:
            st, data = await self._api("POST", f"/_matrix/client/v3/join/{_q(room)}", {})
            if st == 200:
                return room
            problem = self.svc.t("matrix_policy_room_not_joined", "en", room=inert_plain(name),
                                 error=inert_plain(str(data.get('errcode', st))))
        if tell:
            await self._send_notice(self.management_room, self.svc.t("matrix_policy_room_retry", "en", problem=problem))
        return None

    async def _protected_members(self) -> list[UserRef]:
        members: dict[str, UserRef] = {}
        for room in self._media_rooms():
            st, data = await self._api("GET", f"/_matrix/client/v3/rooms/{_q(room)}/joined_members")
            if st != 200:
                continue
            for uid, info in (data.get("joined") or {}).items():
                if uid != self.user_id and uid not in members:
                    members[uid] = UserRef(PLATFORM, uid, (info or {}).get("display_name") or "")
        return list(members.values())

    def _policy_name(self, room_id: str) -> str | None:
        return next((n for n, r in self._watched_rooms().items() if r == room_id), None)

    async def _on_policy_event(self, room_id: str, source: dict) -> None:
        """A new state event in a watched policy room (a rule added, changed or removed)."""
        name = self._policy_name(room_id)
        if name is None or source.get("type") not in _RULE_TYPES or "state_key" not in source:
            return
        out = await policy_lists(self.svc).rules(COMMUNITY, name, [source], await self._protected_members(), full=False)
        await self.app.runtime.run(out)

    async def _on_member_event(self, room_id: str, source: dict) -> None:
        """Someone joined a protected room: the core checks the watched lists."""
        content = source.get("content") or {}
        prev = ((source.get("unsigned") or {}).get("prev_content") or {}).get("membership")
        uid = source.get("state_key")
        if content.get("membership") != "join" or prev == "join" or not uid or uid == self.user_id:
            return
        user = UserRef(PLATFORM, uid, str(content.get("displayname") or "")[:64])
        out = await ban_lists(self.svc).check_members(COMMUNITY, [user], joined=True)
        if out.actions:
            await self.app.runtime.run(out)
