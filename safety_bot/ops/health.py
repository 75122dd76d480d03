"""/healthz, /readyz and /metrics on the HTTP listener.

/healthz: the process answers. /readyz: every configured platform is connected, the database takes a
write, and no action has waited in the outbox longer than `http.outbox_stuck_minutes`; the body lists
each check as `name ok|failed` (no ids, no names). /metrics: Prometheus text from `Metrics`.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from aiohttp import web

from ..http.listener import HttpListener
from .metrics import Metrics

log = logging.getLogger(__name__)


class Health:
    def __init__(self, store, metrics: Metrics, *, stuck_after: float, probes: dict[str, Callable[[], bool]] | None = None,
                 clock=time.time):
        self.store = store
        self.metrics = metrics
        self.stuck_after = stuck_after
        self.probes: dict[str, Callable[[], bool]] = dict(probes or {})
        self.clock = clock

    def mount(self, listener: HttpListener) -> HttpListener:
        listener.route("GET", "/healthz", self.healthz)
        listener.route("GET", "/readyz", self.readyz)
        listener.route("GET", "/metrics", self.metrics_page)
        return listener

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def checks(self) -> list[tuple[str, bool]]:
        results = []
        for name, probe in self.probes.items():
            try:
                results.append((f"platform {name} connected", bool(probe())))
            except Exception:
                results.append((f"platform {name} connected", False))
        try:
            async with self.store.transaction():
                await self.store.set_value("ops.ready_probe", repr(self.clock()))
            results.append(("database writable", True))
        except Exception as exc:
            log.warning("readiness: the database did not take a write (%s)", exc.__class__.__name__)
            results.append(("database writable", False))
        try:
            age = await self.metrics.refresh_outbox(self.store)
            results.append(("outbox moving", age <= self.stuck_after))
        except Exception:
            results.append(("outbox moving", False))
        return results

    async def readyz(self, request: web.Request) -> web.Response:
        results = await self.checks()
        body = "".join(f"{name} {'ok' if good else 'failed'}\n" for name, good in results)
        return web.Response(text=body, status=200 if all(g for _, g in results) else 503)

    async def metrics_page(self, request: web.Request) -> web.Response:
        try:
            await self.metrics.refresh(self.store, {name: _safe(p) for name, p in self.probes.items()})
        except Exception as exc:  # serve the counters even when the database is down
            log.warning("metrics: could not read the store (%s)", exc.__class__.__name__)
        return web.Response(body=self.metrics.render(), headers={"Content-Type": self.metrics.content_type})


def _safe(probe: Callable[[], bool]) -> bool:
    try:
        return bool(probe())
    except Exception:
        return False


async def start_http(app) -> HttpListener | None:
    """Start the listener when `http.listen` is set; it stops when the app closes. None when it is off."""
    cfg = app.config.http
    if cfg.listen is None:
        return None
    probes = {name: connected for name, (_, connected) in app.connections.items()}
    health = Health(app.store, app.metrics, stuck_after=cfg.outbox_stuck_minutes * 60, probes=probes, clock=app.clock)
    listener = health.mount(HttpListener(cfg.listen))
    if cfg.public_url:  # the "protect my pictures" page (safety_bot/protect)
        from ..protect.page import ProtectPage

        ProtectPage(app).mount(listener)
    if app.config.matrix and app.config.matrix.synapse_module_secret:  # the Synapse module's questions
        from ..homeserver_check import HomeserverCheck

        app.homeserver_check = HomeserverCheck(app).mount(listener)
    await listener.start()
    app.on_close(listener.stop)
    return listener
