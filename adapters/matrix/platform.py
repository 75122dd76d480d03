"""The `Platform` port on Matrix (`safety_bot/ports.py`): private messages, team notices, evidence,
redaction with media quarantine, bans across the protected rooms with policy rules, and the homeserver
HTTP calls. Reasons visible on Matrix are only the generic `action.reason`. Its own object (`MatrixAdapter.platform`), on the shared `MatrixConnection`."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from safety_bot.actions import (BanUser, LiftSuspension, PostToTeam, RemoveMessage, SendPrivate, TimeoutUser, UnbanUser, WarnUser,
                                removal_reason)
from safety_bot.domain import MessageRef, MessageSnapshot
from safety_bot.ports import ALREADY, FAILED, FORBIDDEN, NOT_FOUND, OK, BeforePurge, CaptureFailed, Result

from .connection import PLATFORM, MatrixConnection
from .text import _q, media_ids, policy_state_key, render_prompt, server_of

log = logging.getLogger("adapters.matrix.adapter")

# Before a ban purge: the newest events of the accused captured per protected room, and which types. More
# than this in one room is a flood; the newest are kept and the rest is purged with them.
_PURGE_CAPTURE_MAX = 200
_PURGE_CAPTURE_TYPES = ("m.room.message", "m.sticker", "m.room.encrypted")


class MatrixPlatform:
    """The outbound side, its own object: it gets the connection and (optionally) how to bank a removed
    message's image, and never calls back into the inbound side."""

    name = PLATFORM
    captures_before_purge = True  # `ban` takes `before_purge` (safety_bot/ports.py)

    def __init__(self, conn: MatrixConnection, *,
                 bank_media: Callable[[RemoveMessage, dict], Awaitable[str]] | None = None,
                 texts, locale: str = "en"):
        self.conn = conn
        self._bank_media = bank_media
        self.texts, self.locale = texts, locale  # the locale files: how to answer a question, the team's texts

    def _d(self, key: str, **kw) -> str:
        """What happened, for the team (a result's detail): a team text in the configured locale."""
        return self.texts.t(key, self.locale, **kw)

    async def send_private(self, action: SendPrivate) -> Result:
        await self.conn._connected()
        room = await self.conn._dm_room(action.to.id)
        if room is None:
            return Result(FORBIDDEN, self._d("matrix_result_no_dm"))
        text = action.text + ("\n\n" + render_prompt(action.prompt, self.texts, self.locale) if action.prompt else "")
        return await self.conn._send_notice(room, text, html=False)

    async def warn(self, action: WarnUser) -> Result:
        await self.conn._connected()
        room = await self.conn._dm_room(action.user.id)
        if room is None:
            return Result(FORBIDDEN, self._d("matrix_result_no_dm"))
        return await self.conn._send_notice(room, action.text, html=False)

    async def post_to_team(self, action: PostToTeam) -> Result:
        await self.conn._connected()
        if action.destination == "escalation":
            if not self.conn.escalation_room:
                return Result(FAILED, self._d("matrix_result_no_escalation"))
            room = self.conn.escalation_room
        else:
            room = self.conn.management_room
        return await self.conn._send_notice(room, action.text, ping=action.ping)

    async def fetch_message(self, ref: MessageRef) -> MessageSnapshot | None:
        await self.conn._connected()
        event = await self.conn._get_event(ref.channel_id, ref.message_id)
        if event is None:
            return None
        return await self.conn._snapshot(ref.channel_id, event)

    async def remove_message(self, action: RemoveMessage) -> Result:
        await self.conn._connected()
        room_id, event_id = action.ref.channel_id, action.ref.message_id
        try:
            event = await self.conn._get_event(room_id, event_id)
        except CaptureFailed as exc:
            return Result(FAILED, str(exc))
        if event is None:
            return Result(NOT_FOUND, self._d("result_message_gone"))
        banked = ""
        if action.block_media and self._bank_media is not None:  # the image is banked before it is gone
            banked = await self._bank_media(action, event) or ""
        media = media_ids(await self.conn._content_for_media(room_id, event))
        already = bool((event.get("unsigned") or {}).get("redacted_because")) or not event.get("content")
        result = Result(NOT_FOUND, self._d("matrix_result_already_removed"))
        if not already:
            # decided by the core; never more than the case number
            reason = action.reason or removal_reason(lambda key, **kw: self.texts.t(key, self.locale, **kw), None)
            st, data = await self.conn._api("PUT", f"/_matrix/client/v3/rooms/{_q(room_id)}/redact/{_q(event_id)}/{uuid.uuid4().hex}",
                                       {"reason": reason})
            if st == 404:
                return Result(NOT_FOUND, self._d("result_message_gone"))
            if st != 200:
                code = data.get("errcode", st)
                return Result(FORBIDDEN if st == 403 else FAILED, self._d("matrix_result_redaction_refused", code=code))
            result = Result(OK, banked)
        if self.conn.cfg.admin_api and media:
            failed = 0
            for server, media_id in media:
                st, _ = await self.conn._api("POST", f"/_synapse/admin/v1/media/quarantine/{_q(server)}/{_q(media_id)}", {},
                                        admin=True)
                failed += st != 200
            if failed:
                log.warning("matrix: %d media item(s) of event %s could not be quarantined", failed, event_id)
            else:
                log.info("matrix: quarantined %d media item(s) of event %s", len(media), event_id)
        return result

    async def ban(self, action: BanUser, *, before_purge: BeforePurge | None = None) -> Result:
        await self.conn._connected()
        uid = action.user.id
        rooms = [r for r in self.conn.protected_rooms if r]
        if not rooms and not self.conn.policy_room:
            return Result(FAILED, self._d("matrix_result_no_rooms"))

        # Straight to the bans, all at once: no membership read first. The homeserver is the bottleneck
        # (one ban is about 12 ms of its time), and 50 reads would delay the last ban by about 100 ms.
        # Bans the bot made are known to the core, which does not ask again; a room where a moderator had
        # banned by hand gets a second ban event with the generic reason, which changes nothing.
        async def one(room: str) -> str:
            st, data = await self.conn._api("POST", f"/_matrix/client/v3/rooms/{_q(room)}/ban",
                                       {"user_id": uid, "reason": action.reason})
            return OK if st == 200 else str(data.get("errcode") or st)

        t0 = time.monotonic()
        suspended = await self._suspend(uid, action) if self._suspends(uid) else ""
        results = await asyncio.gather(*(one(r) for r in rooms))
        banned_in = time.monotonic() - t0
        extra = []
        kept: list[str] = []  # why recent messages were left up, for the ban's result
        if self.conn.policy_room:
            extra.append(self._put_policy(uid, {"entity": uid, "recommendation": "m.ban", "reason": action.reason}))
        if self.conn.cfg.admin_api and server_of(uid) == server_of(self.conn.user_id):
            if action.delete_message_seconds:
                extra.append(self._capture_then_purge(action, rooms, before_purge, kept))
            # Need not wait for the capture: evidence keeps the media's metadata from the event, never the file.
            extra.append(self.conn._api("POST", f"/_synapse/admin/v1/user/{_q(uid)}/media/quarantine", {}, admin=True))
        if extra:
            for r in await asyncio.gather(*extra, return_exceptions=True):
                if isinstance(r, Exception) or (isinstance(r, tuple) and r[0] != 200):
                    log.warning("matrix: a follow-up of the ban of case %s did not complete", action.case_id)
        failed = [r for r in results if r != OK]
        log.info("matrix: ban for case %s: %d room(s) banned, %d failed in %.0f ms", action.case_id,
                 results.count(OK), len(failed), banned_in * 1000)
        if suspended:
            kept.insert(0, suspended)
        if failed:
            return Result(FAILED, self._d("matrix_result_ban_failed", failed=len(failed), rooms=len(rooms),
                                          why=", ".join(sorted(set(failed))))
                          + (f"; {suspended}" if suspended else ""))
        return Result(OK, "; ".join(kept))

    # ------------------------------------------------------------------ suspension (matrix.suspend_local_accused)
    def _suspends(self, uid: str) -> bool:
        return self.conn.cfg.suspend_local_accused and server_of(uid) == server_of(self.conn.user_id) \
            and uid != self.conn.user_id

    async def _suspend(self, uid: str, action: BanUser) -> str:
        """One admin call before the bans: the account can no longer send anywhere on this homeserver."""
        st, data = await self.conn._api("PUT", f"/_synapse/admin/v1/suspend/{_q(uid)}", {"suspend": True}, admin=True)
        if st == 200:
            log.info("matrix: ban of case %s: the local account was suspended first", action.case_id)
            return self._d("matrix_result_suspended")
        log.warning("matrix: ban of case %s: suspending the local account failed (HTTP %s %s); banning room by room",
                    action.case_id, st, (data or {}).get("errcode", "") if isinstance(data, dict) else "")
        return self._d("matrix_result_suspend_failed", status=st)

    async def lift_suspension(self, action: LiftSuspension) -> Result:
        """The team asked to lift a suspension (`unsuspend`): the only way one ends."""
        await self.conn._connected()
        uid = action.user.id
        if server_of(uid) != server_of(self.conn.user_id):
            return Result(FAILED, self._d("matrix_result_suspend_local_only"))
        st, info = await self.conn._api("GET", f"/_synapse/admin/v2/users/{_q(uid)}", admin=True)
        if st == 404:
            return Result(NOT_FOUND, self._d("matrix_result_no_account"))
        if st == 200 and isinstance(info, dict) and info.get("suspended") is False:
            return Result(ALREADY, self._d("matrix_result_not_suspended"))
        st, data = await self.conn._api("PUT", f"/_synapse/admin/v1/suspend/{_q(uid)}", {"suspend": False}, admin=True)
        if st == 200:
            return Result(OK)
        code = data.get("errcode", st) if isinstance(data, dict) else st
        return Result(FORBIDDEN if st == 403 else FAILED, self._d("matrix_result_homeserver_refused", code=code))

    async def _capture_then_purge(self, action: BanUser, rooms: list[str], before_purge: BeforePurge | None,
                                  kept: list[str]) -> tuple[int, dict]:
        """Evidence first: the accused's messages the purge is about to redact are stored on the case (through
        `before_purge`) before the purge starts. Runs after the bans, so it never delays them."""
        uid = action.user.id
        after_ms = int((time.time() - action.delete_message_seconds) * 1000)  # one window for capture and purge
        if before_purge is not None:
            found_rooms = list(rooms)
            found = await asyncio.gather(*(self._recent_events(r, uid, after_ms) for r in rooms))
            snapshots = [snap for r, events in zip(rooms, found) for ev in events or []
                         if (snap := await self._purge_snapshot(r, ev)) is not None]
            try:
                await before_purge(snapshots)
            except Exception:
                # Not stored: nothing is purged. The ban stands; moderators can still remove by hand (capture first).
                log.warning("matrix: ban of case %s: the recent messages could not be stored as evidence, so they "
                            "were not purged", action.case_id, exc_info=True)
                kept.append(self._d("matrix_result_purge_not_stored"))
                return 0, {}
            # A room that could not be read keeps its messages: purging there would delete what was never
            # captured. The rooms that were read (and stored) are purged as usual.
            unread = [r for r, events in zip(rooms, found) if events is None]
            if unread:
                log.warning("matrix: ban of case %s: recent messages in %d protected room(s) could not be read, so "
                            "they were not purged there", action.case_id, len(unread))
                kept.append(self._d("matrix_result_purge_not_read", rooms=len(unread)))
                rooms = [r for r in rooms if r not in unread]
            if not rooms:
                return 200, {}
            # A room with more of their messages than one capture takes: only the captured (newest) ones are
            # purged there, from just after the oldest of them; older ones stay up, as evidence, for the team.
            capped = {r: min(ev.get("origin_server_ts") or 0 for ev in events) + 1
                      for r, events in zip(found_rooms, found) if events and len(events) >= _PURGE_CAPTURE_MAX}
            if capped:
                kept.append(self._d("matrix_result_purge_capped", rooms=len(capped), count=_PURGE_CAPTURE_MAX))
                whole = [r for r in rooms if r not in capped]
                calls = [self._admin_redact_user(uid, action.reason, after, [r]) for r, after in capped.items()]
                if whole:
                    calls.append(self._admin_redact_user(uid, action.reason, after_ms, whole))
                results = await asyncio.gather(*calls)
                return next((r for r in results if r[0] != 200), results[0])
        return await self._admin_redact_user(uid, action.reason, after_ms, rooms)

    async def _recent_events(self, room: str, uid: str, after_ms: int) -> list[dict] | None:
        """The member's events in the room since `after_ms`, newest first (at most `_PURGE_CAPTURE_MAX`);
        None when the room could not be read."""
        flt = json.dumps({"senders": [uid], "types": list(_PURGE_CAPTURE_TYPES)}, separators=(",", ":"))
        events: list[dict] = []
        token = None
        while len(events) < _PURGE_CAPTURE_MAX:
            query = {"dir": "b", "limit": str(min(100, _PURGE_CAPTURE_MAX - len(events))), "filter": flt}
            if token:
                query["from"] = token
            st, data = await self.conn._api("GET", f"/_matrix/client/v3/rooms/{_q(room)}/messages", query=query)
            if st != 200 or not isinstance(data, dict):
                return None
            chunk = data.get("chunk") or []
            for ev in chunk:
                if (ev.get("origin_server_ts") or 0) < after_ms:
                    return events  # older than the window: the purge leaves it, and so does the capture
                if ev.get("sender") == uid:
                    events.append(ev)
            token = data.get("end")
            if not chunk or not token:
                break
        return events

    async def _purge_snapshot(self, room_id: str, event: dict) -> MessageSnapshot | None:
        """A message of the purge as evidence; None for what is no message (a reaction inside an encrypted
        event) or was already redacted."""
        event = await self.conn._decrypted(room_id, event)
        if event.get("type") not in _PURGE_CAPTURE_TYPES:
            return None
        return await self.conn._snapshot(room_id, event)

    async def _put_policy(self, uid: str, content: dict) -> tuple[int, dict]:
        return await self.conn._api("PUT", f"/_matrix/client/v3/rooms/{_q(self.conn.policy_room)}/state/m.policy.rule.user/"
                                      f"{_q(policy_state_key(uid))}", content)

    async def _admin_redact_user(self, uid: str, reason: str, after_ms: int, rooms: list[str]) -> tuple[int, dict]:
        # Only the protected rooms: the member's DMs with the people they threatened stay as evidence.
        # Only the window the moderator was told about ("the last 7 days"), as on Discord.
        return await self.conn._api("POST", f"/_synapse/admin/v1/user/{_q(uid)}/redact",
                               {"rooms": rooms, "reason": reason, "limit": 1000, "after_ts": after_ms}, admin=True)

    async def unban(self, action: UnbanUser) -> Result:
        await self.conn._connected()
        uid = action.user.id

        async def one(room: str) -> str:
            st, m = await self.conn._api("GET", f"/_matrix/client/v3/rooms/{_q(room)}/state/m.room.member/{_q(uid)}")
            if not (st == 200 and m.get("membership") == "ban"):
                return ALREADY
            st, data = await self.conn._api("POST", f"/_matrix/client/v3/rooms/{_q(room)}/unban",
                                       {"user_id": uid, "reason": action.reason})
            return OK if st == 200 else str(data.get("errcode") or st)

        results = await asyncio.gather(*(one(r) for r in self.conn.protected_rooms))
        if self.conn.policy_room:
            st, _ = await self._put_policy(uid, {})
            if st != 200:
                log.warning("matrix: could not retract the policy rule (HTTP %s)", st)
        failed = [r for r in results if r not in (OK, ALREADY)]
        if failed:
            return Result(FAILED, self._d("matrix_result_unban_failed", rooms=len(failed), why=", ".join(sorted(set(failed)))))
        if all(r == ALREADY for r in results):
            return Result(ALREADY, self._d("matrix_result_not_banned"))
        return Result(OK)

    async def is_done(self, action) -> bool | None:
        """For `Runtime.resume()`: did a ban or removal a crash interrupted already reach the homeserver?"""
        await self.conn._connected()
        if isinstance(action, BanUser):
            uid = action.user.id

            async def banned(room: str) -> bool | None:
                st, m = await self.conn._api("GET", f"/_matrix/client/v3/rooms/{_q(room)}/state/m.room.member/{_q(uid)}")
                return (m.get("membership") == "ban") if st == 200 else (False if st == 404 else None)

            states = await asyncio.gather(*(banned(r) for r in self.conn.protected_rooms))
            if self.conn.policy_room:
                st, rule = await self.conn._api("GET", f"/_matrix/client/v3/rooms/{_q(self.conn.policy_room)}/state/"
                                                  f"m.policy.rule.user/{_q(policy_state_key(uid))}")
                states.append((rule.get("entity") == uid) if st == 200 else (False if st == 404 else None))
            if None in states:
                return None
            return all(states)
        if isinstance(action, RemoveMessage):
            st, ev = await self.conn._api("GET", f"/_matrix/client/v3/rooms/{_q(action.ref.channel_id)}/event/"
                                            f"{_q(action.ref.message_id)}")
            if st == 200:
                return not ev.get("content")
            return None
        return None

    async def timeout(self, action: TimeoutUser) -> Result:
        return Result(FAILED, self._d("matrix_result_no_timeouts"))

