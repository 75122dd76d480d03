"""The Matrix adapter's member side and its sending: a member's DM conversation with the bot (reports,
intake answers, replies to the team), the DM rooms the bot opens (encrypted, marked as direct), and
`m.notice` sending with nothing that pings. A mixin of :class:`MatrixAdapter`."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from safety_bot.actions import Outcome
from safety_bot.domain import UserRef
from safety_bot.ports import FAILED, FORBIDDEN, OK, Result
from safety_bot.respond import respond

from .platform import COMMUNITY, PLATFORM
from .text import _q, MEMBER_HELP, notice_html, render_prompt

log = logging.getLogger("adapters.matrix.adapter")

PREFIX = "!safety"
_KEY_DM = "dm."


class _DMSurface:
    """A member's DM room: the shared `respond` path shows the core's answers here."""

    def __init__(self, adapter, room_id: str, case_number: int | None):
        self.adapter, self.room_id, self.case_number = adapter, room_id, case_number

    async def reply(self, text: str) -> None:
        if text:
            await self.adapter._send_notice(self.room_id, text)

    async def prompt(self, prompt) -> None:
        await self.adapter._send_notice(self.room_id, render_prompt(prompt))

    async def unshown(self, text: str) -> None:
        log.warning("matrix: some actions were not done for a member message (case %s)", self.case_number)


class MatrixMessaging:
    def _private(self, room_id: str) -> bool:
        """Only the bot and one other person are in the room (joined or invited)."""
        room = self.client.rooms.get(room_id)
        if room is None:
            return False
        return (room.joined_count or 0) + (room.invited_count or 0) <= 2 and len(room.users) <= 2

    async def _is_dm_with(self, room_id: str, sender: str) -> bool:
        if not self._private(room_id):
            return False
        if await self._dm_for(sender) != room_id:
            await self._remember_dm(sender, room_id)
        return True

    async def _on_member_text(self, room_id: str, sender: str, body: str) -> None:
        user = self._user(sender, room_id)
        text = (body or "").strip()
        low = text.lower()
        if low.startswith("!resources"):
            out = await self.svc.resources_request(user, COMMUNITY, self.locale, text[len("!resources"):].strip() or None)
            out.reply = ""  # the resources arrive as the private message itself
            await self._member_finish(room_id, out)
            return
        if low.startswith(PREFIX):
            await self._send_notice(room_id, "Safety team commands work only in the management room. Nothing was changed.")
            return
        if low in ("!help", "!start"):
            await self._send_notice(room_id, MEMBER_HELP)
            return
        if low.startswith("!report"):
            out = await self.svc.member_message(user, COMMUNITY, text[len("!report"):].strip(), self.locale,
                                                start_report=True)
        else:
            out = await self.svc.member_message(user, COMMUNITY, text, self.locale, start_report=None)
        await self._member_finish(room_id, out)

    async def _member_finish(self, room_id: str, out: Outcome) -> None:
        """The member sees the reply first, then the actions' private messages, then the next question."""
        await respond(self.app.runtime, out, _DMSurface(self, room_id, out.case_number), reply_first=True)

    def _user(self, user_id: str, room_id: str | None = None) -> UserRef:
        name = ""
        room = self.client.rooms.get(room_id) if room_id and self.client else None
        if room is not None and user_id in room.users:
            dn = room.users[user_id].display_name
            if dn and dn != user_id:
                name = dn
        return UserRef(PLATFORM, user_id, name)

    # ================================================================== DMs
    async def _dm_for(self, user_id: str) -> str | None:
        if user_id in self._dm_cache:
            return self._dm_cache[user_id]
        room = await self.state.get(_KEY_DM + user_id)
        if room:
            self._dm_cache[user_id] = room
        return room

    async def _remember_dm(self, user_id: str, room_id: str) -> None:
        if self._dm_cache.get(user_id) == room_id:
            return
        self._dm_cache[user_id] = room_id
        await self.state.set(_KEY_DM + user_id, room_id)

    def _dm_usable(self, room_id: str, user_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        if room is None or not self._private(room_id):
            return False
        return user_id in room.users or user_id in room.invited_users

    async def _dm_room(self, user_id: str) -> str | None:
        """The user's DM with the bot; created (encrypted, marked as direct) when there is none."""
        async with self._dm_lock:
            room = await self._dm_for(user_id)
            if room and self._dm_usable(room, user_id):
                return room
            if room:
                st, m = await self._api("GET", f"/_matrix/client/v3/rooms/{_q(room)}/state/m.room.member/{_q(user_id)}")
                if st == 200 and m.get("membership") in ("join", "invite") and self._private(room):
                    return room
            body: dict[str, Any] = {"is_direct": True, "preset": "private_chat", "invite": [user_id]}
            if self.e2ee:
                body["initial_state"] = [{"type": "m.room.encryption", "state_key": "",
                                          "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
            st, data = await self._api("POST", "/_matrix/client/v3/createRoom", body)
            if st != 200:
                log.info("matrix: could not open a DM (HTTP %s %s)", st, data.get("errcode"))
                return None
            room = data["room_id"]
            await self._remember_dm(user_id, room)
            await self._mark_direct(user_id, room)
            await self._wait_for_room(room, user_id=user_id)
            log.info("matrix: opened DM %s", room)
            return room

    async def _mark_direct(self, user_id: str, room_id: str) -> None:
        path = f"/_matrix/client/v3/user/{_q(self.user_id)}/account_data/m.direct"
        st, data = await self._api("GET", path)
        direct = data if st == 200 and isinstance(data, dict) else {}
        rooms = list(direct.get(user_id) or [])
        if room_id not in rooms:
            rooms.append(room_id)
        direct[user_id] = rooms
        st, _ = await self._api("PUT", path, direct)
        if st != 200:
            log.warning("matrix: could not update m.direct (HTTP %s)", st)

    async def _wait_for_room(self, room_id: str, timeout: float = 15.0, user_id: str | None = None) -> None:
        """Until /sync has shown the room (and the invited user in it): nio encrypts to the members it knows."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            room = self.client.rooms.get(room_id)
            if room is not None and (user_id is None or user_id in room.users or user_id in room.invited_users):
                return
            await asyncio.sleep(0.03)

    async def _ensure_device_keys(self, room_id: str) -> None:
        """Query the device keys of members whose devices the bot does not know yet (a member just
        invited to a DM the bot opened), so the room key is shared with them too."""
        room = self.client.rooms.get(room_id)
        if not (self.e2ee and room is not None and room.encrypted):
            return
        now = time.monotonic()
        missing = [u for u in room.users if u != self.user_id
                   and not any(True for _ in self.client.device_store.active_user_devices(u))
                   and now - self._keys_asked.get(u, -1e9) > 30]
        if missing:
            for u in missing:
                self._keys_asked[u] = now
            self.client.olm.users_for_key_query.update(missing)
        if self.client.should_query_keys:
            await self.client.keys_query()

    # ================================================================== sending
    async def _send_notice(self, room_id: str, text: str, *, html: bool = True, title: bool = True,
                           ping: bool = False) -> Result:
        from nio import RoomSendResponse

        content: dict[str, Any] = {"msgtype": "m.notice", "body": text, "m.mentions": {}}
        if html:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = notice_html(text, title=title)
        if ping:
            content["body"] = "@room " + content["body"]
            if html:
                content["formatted_body"] = "@room " + content["formatted_body"]
            content["m.mentions"] = {"room": True}
        try:
            if room_id not in self.client.rooms:
                await self._wait_for_room(room_id, timeout=5.0)
            await self._ensure_device_keys(room_id)
            resp = await self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        except Exception as exc:
            log.warning("matrix: sending to %s failed (%s)", self._room_for_log(room_id), exc.__class__.__name__)
            return Result(FAILED, exc.__class__.__name__)
        if isinstance(resp, RoomSendResponse):
            return Result(OK)
        code = getattr(resp, "status_code", "") or ""
        log.warning("matrix: sending to %s failed (%s)", self._room_for_log(room_id), code)
        return Result(FORBIDDEN if code == "M_FORBIDDEN" else FAILED, f"Matrix refused the message ({code})")
