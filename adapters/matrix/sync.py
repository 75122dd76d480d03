"""The Matrix adapter's sync loop: long-polling /sync, catching up on gaps, handing each room event to
the inbound routing (`MatrixAdapter._on_event`) in order, and crypto housekeeping. Part of the inbound side."""

from __future__ import annotations

import asyncio
import json
import logging

from .connection import MatrixError
from .media import _MEDIA_WAIT

log = logging.getLogger("adapters.matrix.adapter")
_KEY_NEXT_BATCH = "next_batch"  # in app.platform_state("matrix"); the adapter's start reads it too
_SYNC_FILTER = {
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {
        "state": {"lazy_load_members": True},
        "timeline": {"limit": 100},
        "ephemeral": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
    },
}


class MatrixSync:
    async def _sync_once(self, since: str | None, *, timeout: int, first: bool = False):
        from nio import SyncResponse

        # The first sync asks for the full state even with a saved position: nio keeps rooms in memory
        # only, and it needs them (encryption, members) to send. The timeline still starts at `since`.
        sync_filter = self._sync_filter()
        if since is None:
            # The very first sync: its history is never acted on (see _handle_sync). It needs the state of
            # the rooms the bot talks in and the position; the protected rooms are left out (their state
            # is never synced, and their new events come with the next sync, which starts from here).
            sync_filter["room"]["timeline"]["limit"] = 1
            sync_filter["room"]["not_rooms"] = sorted(set(sync_filter["room"].get("not_rooms", []))
                                                      | self._media_rooms())
        resp = await self.client.sync(timeout=timeout, since=since, full_state=first, sync_filter=sync_filter)
        if not isinstance(resp, SyncResponse):
            raise MatrixError(f"sync failed: {getattr(resp, 'status_code', resp)}")
        await self._crypto_housekeeping()
        return resp

    def _sync_filter(self) -> dict:
        """The policy room is acted on by id only: it is left out of /sync. The protected rooms' timelines
        are synced (new images are checked against the hash bank) but not their state, which keeps the
        bot's memory small with big rooms (no member lists)."""
        quiet = [r for r in (self.policy_room,) if r and r not in (self.management_room, self.escalation_room)]
        stateless = self._media_rooms()
        f = json.loads(json.dumps(_SYNC_FILTER))
        if quiet:
            f["room"]["not_rooms"] = quiet
        if stateless:
            f["room"]["state"]["not_rooms"] = sorted(stateless)
        return f

    def _media_rooms(self) -> set[str]:
        """Rooms whose images are checked against the hash bank: the protected rooms, never the management,
        escalation or policy room (and never DMs, which are not configured rooms)."""
        return {r for r in self.protected_rooms if r} - {self.management_room, self.escalation_room, self.policy_room}

    async def _crypto_housekeeping(self) -> None:
        if not self.e2ee:
            return
        c = self.client
        try:
            if c.outgoing_to_device_messages:
                await c.send_to_device_messages()
            if c.should_upload_keys:
                await c.keys_upload()
            if c.should_query_keys:
                await c.keys_query()
            if c.should_claim_keys:
                await c.keys_claim(c.get_users_for_key_claiming())
        except Exception as exc:  # keys are retried after the next sync
            log.warning("matrix: key maintenance failed (%s); retrying later", exc.__class__.__name__)

    async def _sync_loop(self) -> None:
        """Long-poll /sync and queue each response; back off and retry while the server is away."""
        delay = 0.5
        if self._startup_warning:
            await self._send_notice(self.management_room, self._startup_warning, open_room_ok=True)
        while not self._stopping.is_set():
            since = self.client.next_batch
            try:
                resp = await self._sync_once(since, timeout=30000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("matrix: sync failed (%s); retrying in %.1f s", exc.__class__.__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.5
            await self._queue.put((since, resp, False))

    async def _handle_loop(self) -> None:
        while True:
            since, resp, initial = await self._queue.get()
            try:
                await self._handle_sync(since, resp, initial)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("matrix: handling a sync failed; continuing")
            # Persisted only after the whole response was handled: a restart resumes from here.
            await self.state.set(_KEY_NEXT_BATCH, resp.next_batch)

    async def _handle_sync(self, since: str | None, resp, initial: bool) -> None:
        for room_id, info in resp.rooms.invite.items():
            await self._on_invite(room_id, info)
        await self._watch_tick()  # watched policy lists (watch.py): join new ones, leave dropped ones
        if initial:
            return  # the first start ever: old history is not acted on
        for room_id, info in resp.rooms.join.items():
            events = list(info.timeline.events)
            if info.timeline.limited and since and self._interesting(room_id):
                events = await self._backfill(room_id, since, info.timeline.prev_batch) + events
            for ev in events:
                eid = getattr(ev, "event_id", None)
                if not eid or eid in self._handled:
                    continue
                self._handled[eid] = None
                if len(self._handled) > 5000:
                    self._handled.popitem(last=False)
                try:
                    await self._on_event(room_id, ev)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    where = self._room_for_log(room_id)  # a DM's ids (room, event) link the member to the bot
                    log.exception("matrix: handling event %s in %s failed", eid if where == room_id else "-", where)
        if self._media_tasks:
            # The sync position is saved after this: give this response's image checks a moment to finish
            # (a restart then does not miss them), without holding up commands behind a slow download.
            await asyncio.wait(list(self._media_tasks), timeout=_MEDIA_WAIT)

    def _interesting(self, room_id: str) -> bool:
        if room_id in self._media_rooms():
            return self._bank_active()  # images posted while the bot was away are checked too
        return room_id == self.management_room or room_id not in self._configured_rooms()

    def _bank_active(self) -> bool:
        bank = self.app.bank
        return bank is not None and bank.has_entries(self.community.network)

    def _configured_rooms(self) -> set[str]:
        return {r for r in (self.management_room, self.policy_room, self.escalation_room, *self.protected_rooms) if r}

    def _room_for_log(self, room_id: str) -> str:
        """Configured rooms by id; any other room is a member's DM, whose id the homeserver links to them."""
        return room_id if room_id in self._configured_rooms() else "a DM"

    async def _backfill(self, room_id: str, since: str, until: str | None) -> list:
        """Events a limited sync left out (many events while the bot was away)."""
        from nio import MessageDirection, RoomMessagesResponse

        out: list = []
        start = since
        for _ in range(20):
            resp = await self.client.room_messages(room_id, start=start, end=until, direction=MessageDirection.front,
                                                   limit=100)
            if not isinstance(resp, RoomMessagesResponse) or not resp.chunk:
                break
            out += resp.chunk
            if not resp.end or resp.end == start:
                break
            start = resp.end
        return out
