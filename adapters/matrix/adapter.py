"""The Matrix adapter: translation between Matrix (via matrix-nio, with end-to-end encryption) and the
core, and execution of the core's actions on a homeserver. It decides nothing about cases.

Inbound: DMs to the bot (reports, intake answers, replies to the team, !resources), `!safety ...`
commands in the management room, and (with `matrix.admin_api`) reports members send with their
client's Report button (`/_synapse/admin/v1/event_reports`).
Three parts: the inbound side (`MatrixAdapter`, this module: the lifecycle, the sync loop and the routing
of events, with `messaging.py` for the member's DM conversation, `moderation.py` for `!safety` commands and
homeserver reports, `media.py` for hash-bank checks of images in the protected rooms); the outbound side
(`MatrixPlatform` in `platform.py`, the `Platform` port, its own object: `adapter.platform`); and the
connection both use (`connection.py`: HTTP, reading events, DM rooms, sending notices).

Privacy rules kept here: nothing but ids and case numbers is logged; reasons visible on Matrix
(ban, redaction, policy rule) are only `action.reason`-style generic texts; user text is sent as
plain `m.notice` bodies (already inert) and HTML-escaped in `formatted_body`, with `m.mentions`
empty so nothing pings; images sent to the bot are never downloaded; mxc URIs are read only to
quarantine and to read images of the protected rooms into memory for the hash bank, and never stored.

Hash bank: while the network's bank has entries, new images in the protected rooms are read into memory
(authenticated media API, capped at `media.max_bytes`, decrypted in memory when encrypted), hashed by the
core in a worker thread and checked with `app.bank.check`; `!safety remove <link> --block` banks the
message's image before redacting it. Never in DMs, never in the management room.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from safety_bot.app import App
from safety_bot.events import Community
from safety_bot.text import inert_plain

from .media import _MEDIA_CHECKS, _MEDIA_TYPES, MatrixMedia
from .messaging import PREFIX, MatrixMessaging
from .moderation import MatrixModeration
from .connection import COMMUNITY, PLATFORM, MatrixConnection, MatrixError
from .platform import MatrixPlatform
from .sync import _KEY_NEXT_BATCH, MatrixSync
from .text import _q
from .watch import MatrixWatch

log = logging.getLogger(__name__)

# Room versions where the creators hold unlimited power and are absent from m.room.power_levels.
_PRE_CREATOR_VERSIONS = {str(v) for v in range(1, 12)}
_KEY_DEVICE = "device_id"


class MatrixAdapter(MatrixSync, MatrixWatch, MatrixModeration, MatrixMessaging, MatrixMedia, MatrixConnection):
    """`await MatrixAdapter(app).run()` runs until `await adapter.stop()`. `ready` is set once the
    bot is logged in, checked its rooms and finished its first sync."""

    name = PLATFORM

    def __init__(self, app: App):
        self.app = app
        cfg = app.config.matrix
        if cfg is None:
            raise ValueError("the Matrix adapter needs a matrix section in the config")
        self.cfg = cfg
        self.svc = app.service
        self.state = app.platform_state(PLATFORM)  # sync token, device id, DM rooms, seen reports
        self.svc.role_readers[PLATFORM] = self._holds_team_role  # roles read when needed (guard.py)
        self.svc.team_readers[PLATFORM] = self._team  # the team now, for reports naming one (team_named.py)
        self.svc.destination_readers[PLATFORM] = self._reads  # who reads the team's rooms now (moderation.py)
        self.user_id = cfg.user_id
        self.locale = app.config.locale
        self.ready = asyncio.Event()
        self.client = None  # nio.AsyncClient, created at start
        self.e2ee = False
        self.management_room = cfg.management_room
        self.protected_rooms: list[str] = list(cfg.protected_rooms)
        self.policy_room = cfg.policy_room
        self.escalation_room = cfg.escalation_room
        self._creators: set[str] = set()
        self._stopping = asyncio.Event()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._handled: OrderedDict[str, None] = OrderedDict()
        self._dm_lock = asyncio.Lock()
        self._dm_cache: dict[str, str] = {}
        self._not_read_told: set[str] = set()
        self._keys_asked: dict[str, float] = {}
        self._media_tasks: set[asyncio.Task] = set()
        self._media_slots = asyncio.Semaphore(_MEDIA_CHECKS)
        self.media_checked = 0  # images of the protected rooms hashed and checked against the bank (no details)
        self.community = Community(COMMUNITY, PLATFORM, cfg.network, "Matrix", has_escalation=bool(cfg.escalation_room))
        self.svc.add_community(self.community)
        # The outbound side is its own object on the shared connection (it never calls the inbound side).
        self.platform = MatrixPlatform(self, bank_media=self._bank_removed, texts=app.service.texts,
                                       locale=app.config.locale)
        app.runtime.add_platform(self.platform)
        app.add_connection(PLATFORM, self.ready)  # for /readyz and the start-up checks
        # Start connecting at once when a loop runs, so actions resumed before run() (the CLI calls
        # runtime.resume() first) wait for the connection instead of failing.
        self._start_task: asyncio.Task | None = None
        try:
            asyncio.get_running_loop()
            self._start_task = asyncio.ensure_future(self._start())
        except RuntimeError:
            pass

    # ================================================================== lifecycle
    async def run(self) -> None:
        from safety_bot.views import TIME_STYLE

        TIME_STYLE.set(self.app.config.locale)  # case times in the configured locale's format, like the team's texts
        try:
            if self._start_task is None:
                self._start_task = asyncio.ensure_future(self._start())
            await self._start_task
            self._tasks = [asyncio.create_task(self._sync_loop(), name="matrix-sync"),
                           asyncio.create_task(self._handle_loop(), name="matrix-handle")]
            if self.cfg.admin_api:
                self._tasks.append(asyncio.create_task(self._report_loop(), name="matrix-reports"))
            waiter = asyncio.create_task(self._stopping.wait())
            done, _ = await asyncio.wait([waiter, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not waiter and not t.cancelled() and t.exception():
                    raise t.exception()
        finally:
            await self._shutdown()

    async def stop(self) -> None:
        self._stopping.set()

    async def _shutdown(self) -> None:
        for t in [*self._tasks, *self._media_tasks]:
            t.cancel()
        for t in [*self._tasks, *self._media_tasks]:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        if self._start_task is not None and not self._start_task.done():
            self._start_task.cancel()
        if self.client is not None:
            await self.client.close()
        self.ready.clear()

    async def _start(self) -> None:
        from nio import AsyncClient, AsyncClientConfig, LoginResponse

        started = time.monotonic()
        cfg = self.cfg
        self.e2ee = bool(cfg.store_key)
        store_dir = self.app.config.path(cfg.store_path)
        store_dir.mkdir(parents=True, exist_ok=True)
        if not self.e2ee:
            log.warning("matrix.store_key is not set: end-to-end encryption is OFF, so the bot cannot read "
                        "encrypted DMs. Set matrix.store_key (from the environment) to enable it.")
        device_id = cfg.device_id or await self.state.get(_KEY_DEVICE)
        config = AsyncClientConfig(encryption_enabled=self.e2ee, pickle_key=cfg.store_key or "",
                                   store_sync_tokens=False, max_timeouts=1, request_timeout=30,
                                   max_limit_exceeded=None)
        self.client = client = AsyncClient(cfg.homeserver.rstrip("/"), cfg.user_id, device_id=device_id or "",
                                           store_path=str(store_dir), config=config)
        if cfg.access_token:
            if not device_id:
                st, who = await self._api("GET", "/_matrix/client/v3/account/whoami", token=cfg.access_token)
                if st != 200:
                    raise MatrixError(f"the access token was refused (HTTP {st})")
                device_id = who.get("device_id")
            client.restore_login(cfg.user_id, device_id, cfg.access_token)
        else:
            resp = await client.login(cfg.password, device_name="safety-bot")
            if not isinstance(resp, LoginResponse):
                raise MatrixError(f"login failed: {getattr(resp, 'status_code', resp)}")
            device_id = resp.device_id
        if device_id and device_id != await self.state.get(_KEY_DEVICE):
            await self.state.set(_KEY_DEVICE, device_id)
        if self.e2ee and client.olm is None:
            raise MatrixError("end-to-end encryption is configured but the key store could not be loaded")
        if self.e2ee and client.should_upload_keys:
            await client.keys_upload()
        await self._setup_rooms()
        since = await self.state.get(_KEY_NEXT_BATCH)
        resp = await self._sync_once(since, timeout=0, first=True)
        self._queue.put_nowait((since, resp, since is None))
        self.ready.set()
        log.info("matrix: connected as %s (device %s, encryption %s, %d protected rooms) in %.2f s",
                 cfg.user_id, device_id, "on" if self.e2ee else "off", len(self.protected_rooms),
                 time.monotonic() - started)

    async def _setup_rooms(self) -> None:
        """Resolve aliases, join configured rooms, check the management room."""
        async def resolve(room: str | None) -> str | None:
            if not room or not room.startswith("#"):
                return room
            st, data = await self._api("GET", f"/_matrix/client/v3/directory/room/{_q(room)}")
            if st != 200:
                raise MatrixError(f"cannot resolve room alias {room}")
            return data["room_id"]

        self.management_room = await resolve(self.management_room)
        self.protected_rooms = [await resolve(r) for r in self.protected_rooms]
        self.policy_room = await resolve(self.policy_room)
        self.escalation_room = await resolve(self.escalation_room)
        st, data = await self._api("GET", "/_matrix/client/v3/joined_rooms")
        joined = set(data.get("joined_rooms", [])) if st == 200 else set()
        wanted = [r for r in dict.fromkeys([self.management_room, *self.protected_rooms, self.policy_room,
                                            self.escalation_room]) if r and r not in joined]

        async def join(room: str) -> None:
            st, data = await self._api("POST", f"/_matrix/client/v3/join/{_q(room)}", {})
            if st != 200:
                if room == self.management_room:
                    raise MatrixError(f"cannot join the management room {room}: {data.get('errcode', st)}")
                log.warning("matrix: cannot join configured room %s: %s", room, data.get("errcode", st))

        await asyncio.gather(*(join(r) for r in wanted))
        st, state = await self._api("GET", f"/_matrix/client/v3/rooms/{_q(self.management_room)}/state")
        if st != 200:
            raise MatrixError(f"cannot read the management room's state: {state.get('errcode', st)}")
        problems = []
        join_rule, encrypted = None, False
        for ev in state:
            if ev.get("type") == "m.room.create":
                content = ev.get("content", {})
                version = str(content.get("room_version", "1"))
                if version not in _PRE_CREATOR_VERSIONS:
                    self._creators = {ev.get("sender")} | set(content.get("additional_creators") or [])
            elif ev.get("type") == "m.room.join_rules":
                join_rule = ev.get("content", {}).get("join_rule")
            elif ev.get("type") == "m.room.encryption":
                encrypted = True
        if join_rule != "invite":
            problems.append(self.svc.t("matrix_room_not_invite_only", self.locale, join_rule=join_rule))
        if not encrypted:
            problems.append(self.svc.t("matrix_room_not_encrypted", self.locale))
        for p in problems:
            log.warning("matrix: %s", p)
        if problems:
            self._startup_warning = self.svc.t("matrix_room_warning", self.locale, problems=" ".join(problems))
        else:
            self._startup_warning = ""

    # ================================================================== inbound events
    async def _on_invite(self, room_id: str, info) -> None:
        from nio import InviteMemberEvent

        inviter, direct = None, False
        for ev in info.invite_state:
            if isinstance(ev, InviteMemberEvent) and ev.state_key == self.user_id and ev.membership == "invite":
                inviter, direct = ev.sender, bool(ev.content.get("is_direct"))
        if room_id in self._configured_rooms():
            await self._api("POST", f"/_matrix/client/v3/join/{_q(room_id)}", {})
            return
        if not direct or not inviter:
            log.info("matrix: declining invite to %s (not a direct chat)", room_id)
            await self._api("POST", f"/_matrix/client/v3/rooms/{_q(room_id)}/leave", {})
            return
        st, _ = await self._api("POST", f"/_matrix/client/v3/join/{_q(room_id)}", {})
        if st != 200:
            log.warning("matrix: could not join a DM (HTTP %s)", st)
            return
        st, members = await self._api("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/members")
        people = {e.get("state_key") for e in (members.get("chunk") or []) if isinstance(e, dict)
                  and (e.get("content") or {}).get("membership") in ("join", "invite")} if st == 200 else set()
        if st != 200 or people - {self.user_id, inviter}:
            # Marked as direct but others are in it: reports must never be answered where others read.
            log.info("matrix: left a room invited to as a DM: it has other members")
            await self._api("POST", f"/_matrix/client/v3/rooms/{_q(room_id)}/leave", {})
            return
        await self._remember_dm(inviter, room_id)
        log.info("matrix: joined a DM")
        await self._send_notice(room_id, self.svc.t("dm_header", self.locale) + "\n" + self.svc.t("matrix.member_help", self.locale))

    async def _on_event(self, room_id: str, ev) -> None:
        from nio import MegolmEvent, RoomMessageText

        sender = getattr(ev, "sender", None)
        if not sender or sender == self.user_id:
            return
        source = getattr(ev, "source", {}) or {}
        content = source.get("content", {}) if isinstance(source, dict) else {}
        if room_id in self._media_rooms() and source.get("type") == "m.room.member":
            await self._on_member_event(room_id, source)  # watched policy lists (watch.py)
            return
        if room_id in self._media_rooms():
            self._queue_media_check(room_id, ev, source, content)
            return
        if self._policy_name(room_id) is not None:
            await self._on_policy_event(room_id, source)
            return
        if isinstance(content, dict) and (content.get("m.relates_to") or {}).get("rel_type") == "m.replace":
            return  # an edit: never re-run a command or re-send a report
        if room_id == self.escalation_room and room_id != self.management_room:
            if isinstance(ev, RoomMessageText) and ev.body.strip().lower().startswith(PREFIX):
                await self._on_command(sender, ev.body.strip()[len(PREFIX):].strip(), room=room_id,
                                       event_id=ev.event_id)
            return
        if room_id == self.management_room:
            if isinstance(ev, RoomMessageText) and ev.body.strip().lower().startswith(PREFIX):
                await self._on_command(sender, ev.body.strip()[len(PREFIX):].strip(), event_id=ev.event_id)
                await self._watch_tick()  # a `watch`/`unwatch` takes effect at once
            elif isinstance(ev, MegolmEvent):
                await self._request_key(ev)
                await self._send_notice(room_id, self.svc.t("matrix_not_decrypted", "en", sender=inert_plain(sender)))
            return
        if room_id in self._configured_rooms():
            return
        if not await self._is_dm_with(room_id, sender):
            return
        if isinstance(ev, RoomMessageText):
            await self._on_member_text(room_id, sender, ev.body)
        elif isinstance(ev, MegolmEvent):
            await self._request_key(ev)
            if ev.event_id not in self._not_read_told:
                self._not_read_told.add(ev.event_id)
                log.info("matrix: could not decrypt an event in a DM; asked the member to resend")
                await self._send_notice(room_id, self.svc.t("matrix.not_read", self.locale))
        elif source.get("type") == "m.sticker" or content.get("msgtype") in _MEDIA_TYPES:
            # Never downloaded, never hashed: members must not send images to the bot.
            await self._send_notice(room_id, self.svc.t("matrix.no_images", self.locale))

    async def _request_key(self, ev) -> None:
        try:
            await self.client.request_room_key(ev)
        except Exception:  # already requested, or no session id
            pass
