"""The "protect my pictures" page on the HTTP listener: one static HTML page with its own script and
style, and two JSON endpoints (check a link, submit hashes). Pictures never reach this server: the page
hashes them in the browser (static/hash.js) and posts only hash strings and the link's token.

Every response carries a strict Content-Security-Policy (only this origin's script and style; fetches
to this origin only; no frames, forms, images or plugins), no caching and no referrer. Request bodies
are capped at MAX_BODY bytes and requests are rate-limited per client address and in total. Nothing
from a request is logged: only counts (`protect.*` audit entries hold counts and case numbers).
"""

from __future__ import annotations

import html
import json
import logging
import time
from collections import deque
from importlib import resources
from typing import Callable

from aiohttp import web

from ..http.listener import HttpListener
from . import submit

log = logging.getLogger(__name__)

MAX_BODY = 24 * 1024  # 20 pictures with their turned and mirrored hashes take about 13 KB
PER_CLIENT_PER_MINUTE = 20
ALL_PER_MINUTE = 120
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
STATIC = {"hash.js": "text/javascript", "page.js": "text/javascript", "page.css": "text/css"}
# Texts the page's script shows (locale keys protect_js_<name>).
SCRIPT_TEXTS = ("checking", "working", "ready", "skipped", "nothing_readable", "too_many", "sending",
                "network_error", "no_token", "variants")
PAGE_KEYS = ("protect_page_title", "protect_page_promise", "protect_page_how", "protect_page_team_heading",
             "protect_page_team_sees", "protect_page_team_not", "protect_page_match",
             "protect_page_withdraw_heading", "protect_page_withdraw", "protect_page_choose", "protect_page_limits",
             "protect_page_review_heading", "protect_page_review_intro", "protect_page_send", "protect_page_again",
             "protect_page_done_heading")


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


class RateLimit:
    """Sliding one-minute windows: per client address and for everyone together."""

    def __init__(self, per_client: int = PER_CLIENT_PER_MINUTE, total: int = ALL_PER_MINUTE,
                 clock: Callable[[], float] = time.monotonic):
        self.per_client, self.total, self.clock = per_client, total, clock
        self.seen: dict[str, deque] = {}
        self.all: deque = deque()

    def allow(self, client: str) -> bool:
        now = self.clock()
        for q in (self.all, *self.seen.values()):
            while q and q[0] <= now - 60:
                q.popleft()
        self.seen = {k: q for k, q in self.seen.items() if q}
        mine = self.seen.setdefault(client, deque())
        if len(mine) >= self.per_client or len(self.all) >= self.total:
            return False
        mine.append(now)
        self.all.append(now)
        return True


class ProtectPage:
    def __init__(self, app, *, limit: RateLimit | None = None):
        self.svc = app.service
        self.runtime = app.runtime
        self.limit = limit or RateLimit()
        self.files = {name: _static(name) for name in STATIC}
        self.template = _static("page.html")

    def mount(self, listener: HttpListener) -> HttpListener:
        listener.route("GET", "/protect", self.page)
        for name in STATIC:
            listener.route("GET", f"/protect/{name}", self._file_handler(name))
        listener.route("POST", "/protect/check", self.check)
        listener.route("POST", "/protect/submit", self.submit)
        return listener

    # ------------------------------------------------------------------ the page
    def lang(self, request: web.Request) -> str:
        wanted = (request.query.get("lang") or "").lower()
        known = self.svc.texts.all_languages("protect_page_title")
        return wanted if wanted in known else self.svc.config.locale.split("-")[0]

    def render(self, lang: str) -> str:
        t = lambda key: self.svc.t(key, lang)  # noqa: E731
        values = {key: html.escape(t(key)) for key in PAGE_KEYS}
        values["lang"] = html.escape(lang)
        texts = {name: t(f"protect_js_{name}") for name in SCRIPT_TEXTS}
        # JSON inside a non-executed script block: '<' escaped so no text can close the element.
        values["texts_json"] = json.dumps(texts, ensure_ascii=False).replace("<", "\\u003c")
        body = self.template
        for key, value in values.items():
            body = body.replace("{{" + key + "}}", value)
        return body

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=self.render(self.lang(request)), content_type="text/html", charset="utf-8",
                            headers=HEADERS)

    def _file_handler(self, name: str):
        async def handler(request: web.Request) -> web.Response:
            return web.Response(text=self.files[name], content_type=STATIC[name], charset="utf-8", headers=HEADERS)
        return handler

    # ------------------------------------------------------------------ the endpoints
    async def _body(self, request: web.Request) -> tuple[dict | None, web.Response | None]:
        lang = self.lang(request)
        if not self.limit.allow(request.remote or "?"):
            log.info("protect page: a request was refused by the rate limit")
            return None, self._answer(429, False, self.svc.t("protect_rate_limited", lang))
        if request.content_type != "application/json" or (request.content_length or 0) > MAX_BODY:
            return None, self._answer(413 if (request.content_length or 0) > MAX_BODY else 415, False,
                                      self.svc.t("protect_invalid", lang))
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return None, self._answer(413, False, self.svc.t("protect_invalid", lang))
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        if not isinstance(data, dict):
            return None, self._answer(400, False, self.svc.t("protect_invalid", lang))
        return data, None

    def _answer(self, status: int, ok: bool, message: str, **extra) -> web.Response:
        return web.json_response({"ok": ok, "message": message, **extra}, status=status, headers=HEADERS)

    async def check(self, request: web.Request) -> web.Response:
        data, refused = await self._body(request)
        if refused is not None:
            return refused
        result = await submit.check_link(self.svc, data.get("token"), self.lang(request))
        return self._answer(result.status, result.ok, result.message)

    async def submit(self, request: web.Request) -> web.Response:
        data, refused = await self._body(request)
        if refused is not None:
            return refused
        result = await submit.submit(self.svc, data.get("token"), data.get("items"), self.lang(request))
        if result.outcome is not None:
            await self.runtime.run(result.outcome)  # the team is told (queued first: never lost)
        return self._answer(result.status, result.ok, result.message, **({"added": result.added} if result.ok else {}))
