"""The bot's connection to the homeserver, shared by the inbound side (`MatrixAdapter`: sync, DMs,
commands, reports) and the outbound side (`MatrixPlatform`, the `Platform` port): HTTP calls, reading and
decrypting events, the DM rooms the bot opens (encrypted, marked as direct), and `m.notice` sending with
nothing that pings. It decides nothing and never touches the store (DM rooms are kept through
`app.platform_state`)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
from typing import Any

from safety_bot.domain import AttachmentMeta, MessageRef, MessageSnapshot, UserRef
from safety_bot.ports import FAILED, FORBIDDEN, OK, CaptureFailed, Result

from .media import _MEDIA_TYPES
from .text import _q, notice_html, permalink

log = logging.getLogger("adapters.matrix.adapter")

PLATFORM = "matrix"
COMMUNITY = "matrix"
_KEY_DM = "dm."
_CLOSED_JOIN_RULES = ("invite", "knock")  # nobody joins without a member letting them in
_ACCESS_SECONDS = 5.0  # how long a room's join rule and history visibility are taken as read


class MatrixError(RuntimeError):
    pass


class MatrixConnection:
    """Set up by `MatrixAdapter` (which is one): `client`, `cfg`, `user_id`, the rooms, `state`, `ready`."""

    async def _connected(self) -> None:
        """Platform methods wait for the connection (resumed actions may run before run())."""
        if self.ready.is_set():
            return
        if self._start_task is None:
            raise MatrixError("the Matrix adapter is not running")
        await asyncio.shield(self._start_task)

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
            log.info("matrix: opened a DM")  # its id would link the member to the bot
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
                           ping: bool = False, open_room_ok: bool = False, reply_to: str | None = None) -> Result:
        from nio import RoomSendResponse

        if not open_room_ok and room_id in (self.management_room, self.escalation_room) \
                and await self._room_is_open(room_id):
            # Anyone can join or read it: a short notice only, never case details (like a public Discord channel)
            await self._send_notice(room_id, self.svc.team_text("matrix_open_room_notice"), ping=ping,
                                    open_room_ok=True, reply_to=reply_to)
            return Result(FAILED, self.svc.team_text("matrix_result_open_room"))
        content: dict[str, Any] = {"msgtype": "m.notice", "body": text, "m.mentions": {}}
        if reply_to:  # the answer to a command: shown as a reply to it
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
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
        return Result(FORBIDDEN if code == "M_FORBIDDEN" else FAILED, self.svc.team_text("matrix_result_refused", code=code))
    async def _get_event(self, room_id: str, event_id: str) -> dict | None:
        """The raw event (unredacted through the admin API when enabled); None when it does not exist."""
        if self.cfg.admin_api:
            st, data = await self._api("GET", f"/_synapse/admin/v1/fetch_event/{_q(event_id)}", admin=True)
            if st == 200 and isinstance(data.get("event"), dict) and data["event"].get("room_id") == room_id:
                return dict(data["event"], event_id=event_id)
            if st == 404:
                return None
        st, data = await self._api("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/event/{_q(event_id)}")
        if st == 404:
            return None
        if st != 200:
            raise CaptureFailed(self.svc.team_text("matrix_capture_http", status=st, code=data.get("errcode", "")))
        return dict(data, event_id=event_id)

    async def _room_is_open(self, room_id: str) -> bool:
        """Whether people outside the team can join the room without an invite, or read it without joining
        (read from the homeserver, at most every few seconds; unknown counts as open)."""
        cache = self.__dict__.setdefault("_room_access", {})
        known = cache.get(room_id)
        if known is not None and time.monotonic() - known[0] < _ACCESS_SECONDS:
            return known[1]
        base = f"/_matrix/client/v3/rooms/{_q(room_id)}/state/"
        (st1, rule), (st2, seen) = await asyncio.gather(self._api("GET", base + "m.room.join_rules/"),
                                                        self._api("GET", base + "m.room.history_visibility/"))
        if st1 not in (200, 404) or st2 not in (200, 404):
            is_open = True
        else:
            is_open = (rule.get("join_rule", "invite") if st1 == 200 else "invite") not in _CLOSED_JOIN_RULES or \
                (seen.get("history_visibility") if st2 == 200 else "") == "world_readable"
        cache[room_id] = (time.monotonic(), is_open)
        return is_open

    async def _snapshot(self, room_id: str, event: dict) -> MessageSnapshot | None:
        if event.get("type") == "m.room.encrypted":
            event = await self._decrypt_raw(room_id, event)
        content = event.get("content") or {}
        if not content and (event.get("unsigned") or {}).get("redacted_because"):
            return None
        etype = event.get("type", "")
        msgtype = content.get("msgtype", "")
        if etype == "m.room.encrypted":
            text = self.svc.team_text("matrix_evidence_encrypted")
        elif msgtype in _MEDIA_TYPES or etype == "m.sticker":
            kind = msgtype[2:] if msgtype else "sticker"
            caption = content.get("body", "") if content.get("filename") and content.get("body") != content.get("filename") else ""
            text = f"[{kind}]" + (f" {caption}" if caption else "")
        else:
            text = str(content.get("body", ""))
        atts: tuple[AttachmentMeta, ...] = ()
        info = content.get("info") if isinstance(content.get("info"), dict) else None
        if info is not None and (msgtype in _MEDIA_TYPES or etype == "m.sticker"):
            def num(v):
                return v if isinstance(v, int) else None
            atts = (AttachmentMeta(content_type=str(info.get("mimetype", ""))[:100], size=num(info.get("size")) or 0,
                                   width=num(info.get("w")), height=num(info.get("h"))),)
        sender = event.get("sender", "")
        eid = event.get("event_id", "")
        return MessageSnapshot(ref=MessageRef(PLATFORM, COMMUNITY, room_id, eid, permalink(room_id, eid)),
                               author=self._user(sender, room_id), text=text,
                               created_at=(event.get("origin_server_ts") or 0) / 1000, attachments=atts)

    async def _decrypt_raw(self, room_id: str, event: dict) -> dict:
        if not self.e2ee:
            return event
        from nio import Event, MegolmEvent

        try:
            ev = Event.parse_encrypted_event(dict(event, room_id=room_id))
            if isinstance(ev, MegolmEvent):
                ev.room_id = room_id
                dec = self.client.decrypt_event(ev)
                if dec is not None and isinstance(dec.source, dict) and dec.source.get("content"):
                    return dict(dec.source, sender=event.get("sender"), event_id=event.get("event_id"),
                                origin_server_ts=event.get("origin_server_ts"))
        except Exception:
            pass
        return event

    async def _content_for_media(self, room_id: str, event: dict) -> dict:
        return (await self._decrypted(room_id, event)).get("content") or {}

    async def _decrypted(self, room_id: str, event: dict) -> dict:
        if event.get("type") == "m.room.encrypted":
            event = await self._decrypt_raw(room_id, event)
        return event

    async def _api(self, method: str, path: str, body: Any = None, *, token: str | None = None,
                   query: dict | None = None, admin: bool = False, timeout: float = 30) -> tuple[int, Any]:
        """One call to the homeserver with the bot's token. Returns (status, JSON body or {}); 0 on no answer.
        Retries 429 using retry_after_ms."""
        if query:
            path += "?" + urllib.parse.urlencode(query)
        headers = {"Authorization": f"Bearer {token or self.client.access_token}"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        for attempt in range(5):
            try:
                resp = await self.client.send(method, path, data, headers=headers, timeout=timeout)
                try:
                    payload = await resp.json(content_type=None)
                except Exception:
                    payload = {}
                status = resp.status
                resp.release()
            except (asyncio.TimeoutError, OSError) as exc:
                log.warning("matrix: %s %s: no answer (%s)", method, path.split("?")[0][:60], exc.__class__.__name__)
                return 0, {}
            except Exception as exc:  # aiohttp client errors
                log.warning("matrix: %s request failed (%s)", method, exc.__class__.__name__)
                return 0, {}
            if status == 429 and attempt < 4:
                wait = (payload or {}).get("retry_after_ms", 1000) / 1000 if isinstance(payload, dict) else 1
                await asyncio.sleep(min(wait, 10))
                continue
            return status, payload if payload is not None else {}
        return 429, {}
