"""The bot's side of the Synapse module (adapters/matrix/synapse_module.py), on the HTTP listener: the
homeserver asks before it stores an upload or accepts a message; the bot answers allow or refuse.

- POST /synapse/media: the file's bytes (in memory only; never written anywhere). Refused when the hash
  bank of the Matrix network holds the picture or video (video: its MD5, or enough matching frames): the exact file, or PDQ within `media.remove_distance` at sufficient
  quality (entries from a list marked "flag" only never refuse). The case of the entry hears "a banked
  picture was blocked at upload" (uploader, room if known, time; never the file).
- POST /synapse/event: a text message in a protected room. Refused when it matches the threat phrasings
  (safety_bot/threat_phrases.py); a case is opened on the sender with the text as evidence.
- POST /synapse/hello: the module checks in (every 10 s) and learns the protected rooms and the bot's account.
- GET /synapse/status: seconds since the last hello (for `doctor` and the start-up check).
Every call needs `Authorization: Bearer <matrix.synapse_module_secret>`. Answers never wait for the case
to be written: that happens afterwards.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import deque

from aiohttp import web

from . import bank_guard, blocked
from .domain import UserRef
from .threat_phrases import ThreatPhrases

log = logging.getLogger(__name__)
PLATFORM = "matrix"
_ALLOW = {"allow": True}
_REFUSE = {"allow": False}


class HomeserverCheck:
    def __init__(self, app):
        self.app = app
        self.svc = app.service
        self.cfg = app.config.matrix
        self.secret = self.cfg.synapse_module_secret or ""
        self.phrases = ThreatPhrases.from_texts(self.svc.texts)
        self.last_hello: float | None = None
        self.media_seconds: deque[float] = deque(maxlen=10_000)  # time to answer each media check (bench)
        self._tasks: set[asyncio.Task] = set()

    def mount(self, listener) -> "HomeserverCheck":
        listener.route("POST", "/synapse/hello", self.hello)
        listener.route("GET", "/synapse/status", self.status)
        listener.route("POST", "/synapse/media", self.media)
        listener.route("POST", "/synapse/event", self.event)
        return self

    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return bool(self.secret) and hmac.compare_digest(given.encode(), f"Bearer {self.secret}".encode())

    def _community(self):
        for com in self.svc.communities.values():
            if com.platform == PLATFORM:
                return com
        return None

    def _later(self, coro) -> None:
        """Record on a case after the answer went back to the homeserver."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ routes
    async def hello(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        self.last_hello = time.monotonic()
        return web.json_response({"rooms": list(self.cfg.protected_rooms), "bot_user": self.cfg.user_id})

    async def status(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        seen = None if self.last_hello is None else round(time.monotonic() - self.last_hello, 1)
        return web.json_response({"seconds_since_hello": seen})

    async def media(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        started = time.perf_counter()
        try:
            return await self._media(request)
        finally:
            self.media_seconds.append(time.perf_counter() - started)

    async def _media(self, request: web.Request) -> web.Response:
        limit = max(self.app.config.media.max_bytes, self.app.config.media.max_video_bytes)  # pictures and videos
        data = bytearray()
        async for chunk in request.content.iter_chunked(1 << 16):
            data += chunk
            if len(data) > limit:
                return web.json_response(_ALLOW)  # too large to check: allowed, as the adapters do
        bank, com = self.app.bank, self._community()
        if bank is None or com is None or not data or not bank.index.has_network(com.network):
            return web.json_response(_ALLOW)
        found = await bank.hash_download(bytes(data))
        del data
        if found is None:
            return web.json_response(_ALLOW)  # not a picture or video the bank can read
        hashes, _ = found
        hits = await asyncio.to_thread(bank.index.match, com.network, [hashes], removals_only=True)
        hits = [h for h in await bank.provenance.apply(hits) if h.decision == "remove"]
        if not hits:
            return web.json_response(_ALLOW)
        hit = min(hits, key=lambda h: (h.distance, h.entry_id))
        uploader = request.headers.get("X-Uploader", "")
        origin = request.headers.get("X-Origin", "")
        log.info("homeserver: a banked picture was refused at upload (entry %s)", hit.entry_id)
        self._later(self._record_media(com, hit, uploader, origin))
        return web.json_response(_REFUSE)

    async def _record_media(self, com, hit, uploader: str, origin: str) -> None:
        try:
            info = self.app.bank.index.info(hit.entry_id)
            case = await self.svc.store.get_case_by_id(info.case_id) if info.case_id else None
            t = self.svc.team_text
            who = UserRef(PLATFORM, uploader) if uploader.startswith("@") else \
                UserRef(PLATFORM, t("uploader_on_server", server=origin) if origin else t("uploader_unknown"))
            how = t("bank_how_exact") if hit.exact else t("bank_how_distance", distance=hit.distance)
            out = await blocked.media_blocked(self.svc, case.community if case else com.id, who, entry_id=hit.entry_id,
                                              how=how, case=case)
            await self.app.runtime.run(out)
            # the flood breakers count refused uploads too (bank_guard.py): many different people uploading one
            # banked picture means it is probably not private; the entry is suspended and the team told
            out = await bank_guard.refused_upload(self.app.bank, hit.entry_id, who, case.community if case else com.id)
            await self.app.runtime.run(out)
        except Exception:
            log.exception("homeserver: a refused upload could not be recorded on its case")

    async def event(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            body = await request.json()
            room, sender, text = str(body["room_id"]), str(body["sender"]), str(body["body"])
        except Exception:
            return web.json_response({"error": "expected room_id, sender and body"}, status=400)
        com = self._community()
        if com is None or room not in self.cfg.protected_rooms or sender == self.cfg.user_id:
            return web.json_response(_ALLOW)
        matched = self.phrases.match(text)
        if matched is None:
            return web.json_response(_ALLOW)
        mentions = [m for m in body.get("mentions") or [] if isinstance(m, str) and m != sender]
        target = UserRef(PLATFORM, mentions[0]) if mentions else None
        log.info("homeserver: a message that reads like a threat was refused in a protected room")
        self._later(self._record_threat(com, sender, text, room, matched, target))
        return web.json_response(_REFUSE)

    async def _record_threat(self, com, sender: str, text: str, room: str, matched: str, target) -> None:
        try:
            out = await blocked.threat_blocked(self.svc, com.id, UserRef(PLATFORM, sender), text, via="the homeserver",
                                               where=self.svc.team_text("blocked_where_room", room=room),
                                               matched=matched, target=target)
            await self.app.runtime.run(out)
        except Exception:
            log.exception("homeserver: a refused message could not be recorded as a case")
