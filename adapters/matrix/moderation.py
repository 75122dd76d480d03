"""The Matrix adapter's moderator side: `!safety ...` commands in the management room (obeyed only from
members with the configured power level, or the room's creators in v12+ rooms) and, with
`matrix.admin_api`, the reports members send with their client's Report button. A mixin of
:class:`MatrixAdapter`."""

from __future__ import annotations

import asyncio
import json
import logging

from safety_bot import commands as cmdparse
from safety_bot.domain import MessageRef, UserRef
from safety_bot.events import ModContext, ReportEvent, Resolved
from safety_bot.plugins import command_prefix
from safety_bot.respond import respond
from safety_bot.text import inert_plain

from .connection import COMMUNITY, PLATFORM
from .text import _q, parse_permalink, parse_user_id, permalink, render_prompt

log = logging.getLogger("adapters.matrix.adapter")

_KEY_SEEN_REPORTS = "seen_reports"
SHOWN_PREFIX = command_prefix(PLATFORM)  # in help and usage texts: "Usage: !safety case N"


class _RoomSurface:
    """The management room: moderators see the core's reply there (with what running the actions did)."""

    def __init__(self, adapter, room: str | None = None, reply_to: str | None = None):
        self.adapter, self.room = adapter, room or adapter.management_room  # or the escalation room
        self.reply_to = reply_to  # the command's event: answers are shown as replies to it

    async def reply(self, text: str) -> None:
        if text:
            await self.adapter._send_notice(self.room, text, title=False, reply_to=self.reply_to)

    async def prompt(self, prompt) -> None:
        await self.adapter._send_notice(self.room, render_prompt(prompt, self.adapter.svc.texts, self.adapter.locale),
                                        title=False, reply_to=self.reply_to)

    async def unshown(self, text: str) -> None:
        pass


class MatrixModeration:
    # ================================================================== moderator commands
    async def _on_command(self, sender: str, line: str, *, room: str | None = None, event_id: str | None = None) -> None:
        """A command from the management room, or (`room` = the escalation room) from the escalation
        destination: its members are the escalation contact (guard.py decides what they may do). Every answer
        is a reply to the command's event (`event_id`)."""
        room = room or self.management_room
        via_escalation = bool(self.escalation_room) and room == self.escalation_room
        is_mod = await self._is_moderator(sender)
        parsed = cmdparse.parse(line, SHOWN_PREFIX, self.svc.team_text)  # the team's texts, configured locale
        if isinstance(parsed, cmdparse.ParseError):
            allowed = is_mod or via_escalation
            await self._send_notice(room, parsed.message if allowed else self.svc.t("not_moderator", self.locale),
                                    reply_to=event_id)
            if not allowed:
                log.info("matrix: refused a command from a non-moderator")
            return
        resolved = Resolved()
        if is_mod or via_escalation:
            tokens = list(parsed.targets)
            if parsed.name == "assign" and parsed.text.strip():
                tokens = [parsed.text.split()[0]]
            for token in tokens:
                uid = parse_user_id(token)
                if uid is None:
                    await self._send_notice(room, self.svc.t("matrix_not_user_id", self.locale,
                                                             given=inert_plain(token[:60])) + " "
                                            + cmdparse.usage(parsed.name, SHOWN_PREFIX, self.svc.team_text),
                                            reply_to=event_id)
                    return
                resolved.targets.append(UserRef(PLATFORM, uid, ""))
                if await self._holds_power(uid):
                    resolved.moderators.add(f"{PLATFORM}:{uid}")
            if parsed.message:
                found = await self._resolve_message(parsed.message)
                if isinstance(found, str):
                    await self._send_notice(room, found, reply_to=event_id)
                    return
                if found is not None:
                    resolved.message, resolved.message_author = found
                    if await self._holds_power(resolved.message_author.id):
                        resolved.moderators.add(resolved.message_author.key)
        ctx = ModContext(actor=self._user(sender, room), community=COMMUNITY, is_moderator=is_mod,
                         locale=self.locale, command_prefix=SHOWN_PREFIX, via_escalation=via_escalation)
        await respond(self.app.runtime, await self.svc.moderate(ctx, parsed, resolved), _RoomSurface(self, room, event_id),
                      member=False)

    async def _resolve_message(self, token: str) -> tuple[MessageRef, UserRef] | str | None:
        """A permalink, or a bare event id looked up in the protected rooms: the message and its author.
        None when there is no such message; a refusal (text) when it is outside the protected rooms."""
        found = parse_permalink(token)
        if found is None:
            if not (token.startswith("$") and 1 < len(token) <= 255):
                return None
            rooms = sorted(self._media_rooms())
            events = await asyncio.gather(*(self._find_event(r, token) for r in rooms))
            hits = [(r, e) for r, e in zip(rooms, events) if e is not None]
            if not hits:
                return None
            room, event = hits[0]
        else:
            room, event_id = found
            if room.startswith("#"):
                st, data = await self._api("GET", f"/_matrix/client/v3/directory/room/{_q(room)}")
                if st != 200:
                    return None
                room = data["room_id"]
            if room not in self._media_rooms():
                # The management room, a DM or a room the bot does not protect: not the bot's to redact.
                return self.svc.team_text("matrix_outside_scope")
            event = await self._find_event(room, event_id)
            if event is None:
                return None
        sender = str(event.get("sender") or "")
        if not sender:
            return None
        ref = MessageRef(PLATFORM, COMMUNITY, room, event["event_id"], permalink(room, event["event_id"]))
        return ref, UserRef(PLATFORM, sender, "")

    async def _find_event(self, room: str, event_id: str) -> dict | None:
        st, data = await self._api("GET", f"/_matrix/client/v3/rooms/{_q(room)}/event/{_q(event_id)}")
        if st != 200 or not isinstance(data, dict):
            return None
        return dict(data, event_id=event_id)

    async def _holds_team_role(self, community: str, user: UserRef) -> bool:
        """For the core (guard.py): on the safety team now (read when needed, not at start-up)."""
        return await self._is_moderator(user.id)

    async def _reads(self, community: str, user: UserRef, destination: str) -> bool:
        """For the core (guard.py): whether this account is in the management ("safety") or escalation room now
        (joined or invited: it reads what is posted there)."""
        room_id = self.management_room if destination == "safety" else self.escalation_room
        if not room_id or await self._room_is_open(room_id):
            return False  # an open room gets only a short notice (connection.py): nothing to read there
        room = self.client.rooms.get(room_id) if self.client else None
        if room is not None and self.ready.is_set():  # nio keeps the members current from /sync
            return user.id in room.users
        st, data = await self._api("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/state/m.room.member/{_q(user.id)}")
        if st == 404:
            return False
        if st != 200 or not isinstance(data, dict):
            log.warning("matrix: cannot read a member of a team room (HTTP %s)", st)
            return False
        return data.get("membership") in ("join", "invite")

    async def _team(self, community: str) -> list[UserRef]:
        """For the core (team_named.py): the safety team now, with display names (who a report may name):
        members of the management room at the moderator power level, and the room's creators."""
        room = self.client.rooms.get(self.management_room) if self.client else None
        if room is not None and self.ready.is_set():  # nio keeps members and power levels current from /sync
            names = {uid: u.display_name or "" for uid, u in room.users.items()}
        else:
            st, data = await self._api("GET", f"/_matrix/client/v3/rooms/{_q(self.management_room)}/joined_members")
            if st != 200:
                log.warning("matrix: cannot read the management room's members (HTTP %s)", st)
                return []
            names = {uid: (m or {}).get("display_name") or "" for uid, m in (data.get("joined") or {}).items()}
        names.update({uid: names.get(uid, "") for uid in self._creators})
        return [UserRef(PLATFORM, uid, name) for uid, name in names.items() if await self._is_moderator(uid)]

    async def _holds_power(self, user_id: str) -> bool:
        """On the safety team, or in the escalation room: actions against them need the escalation room."""
        if await self._is_moderator(user_id):
            return True
        room = self.client.rooms.get(self.escalation_room) if self.client and self.escalation_room else None
        return room is not None and user_id in room.users

    async def _is_moderator(self, user_id: str) -> bool:
        """Power level in the management room; creators of v12+ rooms are above every level."""
        if user_id in self._creators:
            return True
        room = self.client.rooms.get(self.management_room) if self.client else None
        if room is not None and self.ready.is_set():
            # nio keeps the power levels current from /sync (the first sync loads the full state).
            return room.power_levels.get_user_level(user_id) >= self.cfg.mod_power_level
        st, pl = await self._api("GET", f"/_matrix/client/v3/rooms/{_q(self.management_room)}/state/m.room.power_levels/")
        if st != 200:
            log.warning("matrix: cannot read the management room's power levels (HTTP %s)", st)
            return False
        try:
            level = int((pl.get("users") or {}).get(user_id, pl.get("users_default", 0)))
        except (TypeError, ValueError):
            return False
        return level >= self.cfg.mod_power_level

    # ================================================================== homeserver reports
    async def _report_loop(self) -> None:
        raw = await self.state.get(_KEY_SEEN_REPORTS)
        seen: list[int] | None = json.loads(raw) if raw else None
        while not self._stopping.is_set():
            try:
                seen = await self._poll_reports(seen)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("matrix: polling homeserver reports failed (%s)", exc.__class__.__name__)
            await asyncio.sleep(self.cfg.report_poll_seconds)

    async def _poll_reports(self, seen: list[int] | None) -> list[int] | None:
        reports: list[dict] = []
        offset = 0
        seen_set = set(seen or [])
        for _ in range(10):
            st, data = await self._api("GET", "/_synapse/admin/v1/event_reports", admin=True,
                                       query={"dir": "b", "limit": 100, "from": offset})
            if st != 200:
                log.warning("matrix: event_reports returned HTTP %s (is the bot a server admin?)", st)
                return seen
            page = data.get("event_reports", [])
            reports += page
            if not data.get("next_token") or all(r.get("id") in seen_set for r in page):
                break
            offset = int(data["next_token"])
        if seen is None:
            # First start: reports made before the bot existed are not turned into cases.
            seen = sorted({int(r["id"]) for r in reports})[-2000:]
            await self.state.set(_KEY_SEEN_REPORTS, json.dumps(seen))
            log.info("matrix: %d existing homeserver report(s) marked as seen at first start", len(seen))
            return seen
        for r in sorted((r for r in reports if r.get("id") not in seen_set), key=lambda r: r["id"]):
            done = await self._take_report(r)
            if not done:
                break
            seen.append(int(r["id"]))
            seen = seen[-2000:]
            seen_set.add(r["id"])
            await self.state.set(_KEY_SEEN_REPORTS, json.dumps(seen))
        return seen

    async def _take_report(self, r: dict) -> bool:
        """Open a case for one homeserver report. False: try again on the next poll."""
        rid, room_id, event_id = r.get("id"), r.get("room_id"), r.get("event_id")
        reporter_id, accused_id = r.get("user_id"), r.get("sender")
        if not (room_id and event_id and reporter_id):
            return True
        if not await self._in_scope(room_id, reporter_id):
            log.info("matrix: homeserver report %s is about a room outside this community; left alone", rid)
            return True
        st, detail = await self._api("GET", f"/_synapse/admin/v1/event_reports/{rid}", admin=True)
        event = detail.get("event_json") if st == 200 else None
        snapshot = None
        if isinstance(event, dict):
            # event_json is the federation form: no event_id in it for current room versions.
            snapshot = await self._snapshot(room_id, dict(event, event_id=event_id))
        accused = UserRef(PLATFORM, accused_id, "") if accused_id else None
        ev = ReportEvent(community=COMMUNITY, reporter=self._user(reporter_id, room_id), text=r.get("reason") or "",
                         locale=self.locale, message=snapshot,
                         message_ref=MessageRef(PLATFORM, COMMUNITY, room_id, event_id, permalink(room_id, event_id)),
                         accused=accused, accused_is_moderator=bool(accused_id) and await self._is_moderator(accused_id),
                         source="homeserver")
        out = await self.svc.report(ev)
        if not out.ok:
            if out.reply == self.svc.t("store_unavailable", self.locale):
                return False
            log.info("matrix: homeserver report %s was not turned into a case", rid)
            return True
        log.info("matrix: homeserver report %s opened case %s", rid, out.case_number)
        out = await respond(self.app.runtime, out)
        # The normal acknowledgement, privately, as if they had written to the bot.
        room = await self._dm_room(reporter_id)
        if room:
            if out.reply:
                await self._send_notice(room, out.reply)
            if out.prompt is not None:
                await self._send_notice(room, render_prompt(out.prompt, self.svc.texts, self.locale))
        return True

    async def _in_scope(self, room_id: str, reporter_id: str) -> bool:
        if room_id in self._configured_rooms() or await self._dm_for(reporter_id) == room_id:
            return True
        st, data = await self._api("GET", f"/_synapse/admin/v1/users/{_q(reporter_id)}/joined_rooms", admin=True)
        if st != 200:
            return False
        return bool(set(data.get("joined_rooms", [])) & (set(self.protected_rooms) | {self.management_room}))
