"""safety-bot's Synapse module: banked pictures and sextortion threats refused by the homeserver itself,
before anyone sees them. It runs inside Synapse (homeserver.yaml, see adapters/matrix/README.md) and asks the
bot over loopback HTTP; the bot decides (safety_bot/homeserver_check.py).

- `check_media_file_for_spam` (local uploads and media fetched from other servers; not thumbnails): the
  file's bytes are read into memory and posted to the bot, never written anywhere else. The bot hashes them
  and compares them with the hash bank (exact file, or PDQ within `media.remove_distance` at sufficient
  quality); a match is refused with M_FORBIDDEN (Synapse answers an upload with HTTP 400 "Bad content").
- `check_event_for_spam`: text messages in the bot's protected rooms are posted to the bot, which matches
  the threat phrasings of its locale files; a match is refused with M_FORBIDDEN.
- Every 10 s the module says hello to the bot (the bot learns the module works; the module learns the
  protected rooms and the bot's own account, whose messages are never checked).
- If the bot cannot be reached, or does not answer within `timeout` seconds, everything is allowed (fail
  open) and one warning is logged until it answers again.

Only the standard library, Twisted, treq and Synapse's module API are imported, so the file works in
Synapse's own environment without the bot's dependencies (copy it there if Synapse runs in another venv).

    modules:
      - module: adapters.matrix.synapse_module.SafetyBotSpamChecker
        config: {bot_url: "http://127.0.0.1:8080", secret: "<the bot's matrix.synapse_module_secret>"}
"""

from __future__ import annotations

import json
import logging
from typing import Any

from synapse.module_api import NOT_SPAM, ModuleApi, make_deferred_yieldable
from synapse.module_api.errors import Codes, ConfigError

logger = logging.getLogger(__name__)

HELLO_MS = 10_000


class SafetyBotSpamChecker:
    def __init__(self, config: dict, api: ModuleApi):
        self.api = api
        self.url = config["bot_url"]
        self.secret = config["secret"]
        self.timeout = config["timeout"]
        self.max_bytes = config["max_bytes"]
        self.check_remote = config["check_remote_media"]
        self.rooms: frozenset[str] | None = None  # the protected rooms, from the bot's hello answer
        self.bot_user: str | None = None
        self._down = False
        api.register_spam_checker_callbacks(check_media_file_for_spam=self.check_media_file_for_spam,
                                            check_event_for_spam=self.check_event_for_spam)
        api.looping_background_call(self._hello, HELLO_MS, desc="safety_bot_hello", run_on_all_instances=True)
        first = getattr(api, "delayed_background_call", None)
        if first is not None:
            first(0, self._hello, desc="safety_bot_hello")

    @staticmethod
    def parse_config(config: dict) -> dict:
        if not isinstance(config, dict):
            raise ConfigError("safety-bot module: config must be a mapping with bot_url and secret")
        url = str(config.get("bot_url") or "").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError("safety-bot module: bot_url must be the bot's HTTP listener, e.g. http://127.0.0.1:8080")
        secret = str(config.get("secret") or "")
        if len(secret) < 16:
            raise ConfigError("safety-bot module: secret must be the bot's matrix.synapse_module_secret "
                              "(at least 16 characters)")
        return {"bot_url": url, "secret": secret, "timeout": float(config.get("timeout", 2.0)),
                "max_bytes": int(config.get("max_bytes", 25 * 1024 * 1024)),
                "check_remote_media": bool(config.get("check_remote_media", True))}

    # ------------------------------------------------------------------ talking to the bot
    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> dict | None:
        """The bot's JSON answer, or None when it cannot be reached (logged once until it answers again)."""
        import treq

        try:
            resp = await make_deferred_yieldable(treq.post(
                self.url + path, data=body, timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.secret}", **headers}))
            raw = await make_deferred_yieldable(treq.content(resp))
            if resp.code != 200:
                raise RuntimeError(f"HTTP {resp.code}")
            answer = json.loads(raw)
        except Exception as exc:  # fail open: the homeserver keeps working without the bot
            if not self._down:
                self._down = True
                logger.warning("safety-bot module: the bot at %s did not answer (%s); media and messages are "
                               "allowed unchecked until it does", self.url, exc.__class__.__name__)
            return None
        if self._down:
            self._down = False
            logger.warning("safety-bot module: the bot at %s answers again; checks resumed", self.url)
        return answer if isinstance(answer, dict) else None

    async def _hello(self) -> None:
        answer = await self._post("/synapse/hello", b"{}", {"Content-Type": "application/json"})
        if answer is not None:
            self.rooms = frozenset(str(r) for r in answer.get("rooms") or [])
            self.bot_user = answer.get("bot_user") or None

    # ------------------------------------------------------------------ callbacks
    async def check_media_file_for_spam(self, file_wrapper: Any, file_info: Any) -> Any:
        if getattr(file_info, "thumbnail", None) or getattr(file_info, "url_cache", False):
            return NOT_SPAM  # a thumbnail of media that was allowed; URL previews are not members' uploads
        origin = getattr(file_info, "server_name", None) or ""
        if origin and not self.check_remote:
            return NOT_SPAM
        chunks: list[bytes] = []
        size = 0

        def keep(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size <= self.max_bytes:
                chunks.append(chunk)

        await file_wrapper.write_chunks_to(keep)
        if size > self.max_bytes or not size:
            return NOT_SPAM
        answer = await self._post("/synapse/media", b"".join(chunks), {
            "Content-Type": "application/octet-stream", "X-Uploader": _uploader() if not origin else "",
            "X-Origin": origin, "X-Media-Id": str(getattr(file_info, "file_id", "") or "")})
        if answer is not None and answer.get("allow") is False:
            return Codes.FORBIDDEN
        return NOT_SPAM

    async def check_event_for_spam(self, event: Any) -> Any:
        if event.type != "m.room.message" or getattr(event, "is_state", lambda: False)():
            return NOT_SPAM
        if event.sender == self.bot_user or (self.rooms is not None and event.room_id not in self.rooms):
            return NOT_SPAM
        content = event.content or {}
        body = content.get("body")
        if not isinstance(body, str) or not body.strip():
            return NOT_SPAM
        mentions = (content.get("m.mentions") or {}).get("user_ids") or []
        payload = json.dumps({"room_id": event.room_id, "sender": event.sender, "body": body[:20000],
                              "mentions": [m for m in mentions if isinstance(m, str)][:20]}).encode()
        answer = await self._post("/synapse/event", payload, {"Content-Type": "application/json"})
        if answer is not None and answer.get("allow") is False:
            return Codes.FORBIDDEN
        return NOT_SPAM


def _uploader() -> str:
    """The account uploading, from the request Synapse is serving ("" when not known)."""
    try:
        from synapse.logging.context import current_context

        request = getattr(current_context(), "request", None)
        return str(getattr(request, "requester", None) or getattr(request, "authenticated_entity", None) or "")
    except Exception:
        return ""
