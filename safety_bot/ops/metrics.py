"""Prometheus metrics (prometheus-client), one registry per running bot.

Counters and the acknowledgement histogram are fed by the service's observers (audit entries and action
results); gauges (open cases, outbox) are read from the store when scraped. Labels are bounded and
never carry a user id, a name, a case number, a community or text: only urgency, action kind, result
status, platform and match kind.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

ACK_BUCKETS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 72 * 3600)
PLATFORM_LOGGERS = {"adapters.discord": "discord", "discord": "discord", "adapters.matrix": "matrix", "nio": "matrix"}


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, clock=time.time):
        self.clock = clock
        self.registry = r = CollectorRegistry()
        self.reports = Counter("safety_bot_reports_received", "Reports received from members", registry=r)
        self.open_cases = Gauge("safety_bot_open_cases", "Cases not closed, by urgency", ["urgency"], registry=r)
        self.first_ack = Histogram("safety_bot_time_to_first_ack_seconds",
                                   "Time from a case's creation to the first moderator action on it",
                                   buckets=ACK_BUCKETS, registry=r)
        self.outbox_pending = Gauge("safety_bot_outbox_pending", "Actions waiting in the outbox", registry=r)
        self.outbox_oldest = Gauge("safety_bot_outbox_oldest_pending_seconds",
                                   "How long the oldest waiting action has been pending (as seen by this process)",
                                   registry=r)
        self.actions = Counter("safety_bot_actions", "Actions carried out, by type and result", ["action", "result"],
                               registry=r)
        self.platform_errors = Counter("safety_bot_platform_errors", "Failed platform calls and adapter errors",
                                       ["platform"], registry=r)
        self.bank_matches = Counter("safety_bot_hash_bank_matches", "Hash-bank matches of uploaded images",
                                    ["result"], registry=r)
        self.up = Gauge("safety_bot_platform_connected", "1 when the platform's connection is up", ["platform"],
                        registry=r)
        for urgency in ("normal", "urgent"):
            self.open_cases.labels(urgency)
        for result in ("removed", "flagged"):
            self.bank_matches.labels(result)
        self._acked: set[int] = set()
        self._pending_seen: dict[int, float] = {}
        self.oldest_pending_age = 0.0

    # -------------------------------------------------------------- fed by the service's observers
    def __call__(self, event: str, community: str = "", case=None, **detail) -> None:
        try:
            if event == "report.received":
                self.reports.inc()
            elif event == "outbox.done":
                status = str(detail.get("status", "unknown"))
                self.actions.labels(str(detail.get("kind", "unknown")), status).inc()
                if status in ("failed", "forbidden"):
                    self.platform_errors.labels(str(detail.get("platform", "none"))).inc()
            elif event.startswith("media.match_"):
                self.bank_matches.labels(event.removeprefix("media.match_")).inc()
            if case is not None:
                self._maybe_acked(case)
        except Exception:  # metrics never break the bot
            logging.getLogger(__name__).debug("metrics observer failed", exc_info=True)

    def _maybe_acked(self, case) -> None:
        acked_at = (case.flags or {}).get("acked_at")
        if case.id is None or acked_at is None or case.id in self._acked:
            return
        self._acked.add(case.id)
        if self.clock() - acked_at < 120:  # acknowledged just now (not a case acknowledged before a restart)
            self.first_ack.observe(max(0.0, acked_at - case.created_at))

    def platform_error(self, platform: str) -> None:
        self.platform_errors.labels(platform).inc()

    # -------------------------------------------------------------- read when scraped
    async def refresh(self, store, platforms: dict | None = None) -> None:
        cases = await store.list_cases(None, ("open", "acting"))
        counts = {"normal": 0, "urgent": 0}
        for c in cases:
            key = getattr(c.urgency, "value", str(c.urgency))
            counts[key] = counts.get(key, 0) + 1
        for urgency, n in counts.items():
            self.open_cases.labels(urgency).set(n)
        await self.refresh_outbox(store)
        for name, connected in (platforms or {}).items():
            self.up.labels(name).set(1 if connected else 0)

    async def refresh_outbox(self, store) -> float:
        """Pending actions and the age of the oldest one. The outbox has no timestamps, so the age counts
        from when this process first saw the action pending (a restart starts the count again)."""
        now = self.clock()
        pending = [oid for oid, _ in await store.outbox_pending()]
        self._pending_seen = {oid: self._pending_seen.get(oid, now) for oid in pending}
        self.oldest_pending_age = now - min(self._pending_seen.values()) if self._pending_seen else 0.0
        self.outbox_pending.set(len(pending))
        self.outbox_oldest.set(self.oldest_pending_age)
        return self.oldest_pending_age

    def render(self) -> bytes:
        return generate_latest(self.registry)


class PlatformErrorCounter(logging.Handler):
    """Counts ERROR records from the platform adapters and libraries as platform errors."""

    def __init__(self, metrics: Metrics):
        super().__init__(logging.ERROR)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        for prefix, platform in PLATFORM_LOGGERS.items():
            if record.name == prefix or record.name.startswith(prefix + "."):
                self.metrics.platform_error(platform)
                return

    def install(self) -> "PlatformErrorCounter":
        logging.getLogger().addHandler(self)
        return self

    def remove(self) -> None:
        logging.getLogger().removeHandler(self)
