"""A reusable HTTP listener on aiohttp: routes are added before `start()`, it binds to loopback unless
the operator names another address, and it logs no request lines (paths could one day carry ids)."""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiohttp import web

from .address import parse_listen

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HttpListener:
    def __init__(self, listen: str):
        self.host, self.wanted_port = parse_listen(listen)
        self.app = web.Application()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.app.router.add_route(method, path, handler)

    async def start(self) -> "HttpListener":
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.wanted_port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # the real port when 0 was asked for
        self.port = sockets[0].getsockname()[1] if sockets else self.wanted_port
        log.info("HTTP listener on %s:%s", self.host, self.port, extra={"event": "http.listening"})
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "HttpListener":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()
