"""The composition root: config -> store, playbooks, service, runtime. Resources are owned by
`async with App(config)` and closed on the way out, whatever happens in between."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .bank import MediaBank
from .config import Config
from .playbooks import Library, load_library
from .runtime import Runtime
from .service import SafetyService
from .platform_state import PlatformState
from .store import Store, open_store

log = logging.getLogger(__name__)


class App:
    def __init__(self, config: Config, *, store: Store | None = None, library: Library | None = None, clock=None):
        self.config = config
        self._given_store = store
        self.library = library or load_library(config.path(config.playbooks))
        self.clock = clock or time.time
        self.store: Store | None = store
        self.service: SafetyService | None = None
        self.runtime: Runtime | None = None
        self.bank: MediaBank | None = None
        self._ticker: asyncio.Task | None = None
        self.cluster = None
        self.metrics = None  # ops.metrics.Metrics, fed by the service's observers
        self._closers: list = []  # async callables run on the way out (the HTTP listener)
        self._tasks: list[asyncio.Task] = []  # background tasks cancelled on the way out (start-up checks)
        # Each running platform's connection, registered by its adapter: an event set once it is ready, and
        # a check that it is connected now (for /readyz and the start-up checks).
        self.connections: dict[str, tuple[asyncio.Event, Callable[[], bool]]] = {}

    async def __aenter__(self) -> "App":
        if self.store is None:
            self.store = await open_store(self.config)
        self.service = SafetyService(self.store, self.library, self.config, clock=self.clock)
        self.runtime = Runtime(self.service)
        from .ops.logs import CaseEventLog
        from .ops.metrics import Metrics, PlatformErrorCounter

        self.metrics = Metrics(clock=self.clock)
        self.service.observers += [CaseEventLog(), self.metrics]
        self.on_close(_sync(PlatformErrorCounter(self.metrics).install().remove))  # adapter errors, counted
        self.bank = MediaBank(self.service)
        self.service.bank = self.bank  # member-side uses of the bank (safety_bot/protect)
        await self.bank.load()
        return self

    def platform_state(self, platform: str) -> PlatformState:
        """An adapter's own small values across restarts (never case data): see `platform_state.py`."""
        return PlatformState(self.store, platform)

    async def __aexit__(self, *exc) -> None:
        if self._ticker:
            self._ticker.cancel()
        for task in self._tasks:
            task.cancel()
        for close in reversed(self._closers):
            try:
                await close()
            except Exception:
                log.exception("closing %s failed", getattr(close, "__qualname__", close))
        if self.cluster is not None:
            await self.cluster.stop()
        if self.store is not None and self._given_store is None:
            await self.store.close()

    async def start_cluster(self) -> None:
        """With several processes on one database: leases, takeover and hash-bank notices (cluster.py)."""
        from .cluster import Cluster

        self.cluster = Cluster(self)
        await self.cluster.start()

    def add_connection(self, platform: str, ready: asyncio.Event, connected: Callable[[], bool] | None = None) -> None:
        self.connections[platform] = (ready, connected or ready.is_set)

    def on_close(self, close) -> None:
        """Run `await close()` when the app closes (before the store is closed)."""
        self._closers.append(close)

    def keep(self, task: asyncio.Task) -> asyncio.Task:
        """Hold a background task; it is cancelled when the app closes."""
        self._tasks.append(task)
        return task

    def start_ticker(self, every: float = 30.0) -> None:
        """Escalation and idle-intake timers, and the daily retention purge, in the background. With several
        processes only the leader (an advisory lock in the database) runs them."""

        async def loop():
            last_purge = 0.0
            while True:
                await asyncio.sleep(every)
                try:
                    leader = await self.store.try_lead()
                    if leader:
                        await self.runtime.run(await self.service.tick())
                    if self.bank is not None:
                        await self.bank.refresh()  # pick up `safety-bot bank` changes from the CLI
                    if leader and self.bank is not None:
                        from .lists.hash_lists import HashLists

                        await HashLists(self.bank).follow_due()  # followed hash lists (`safety-bot bank follow`)
                    if leader:
                        from .lists.ban_pools import ban_pools

                        await ban_pools(self.service).tick(self.runtime)  # Discord ban pools (`bans follow`)
                    if leader and self.clock() - last_purge > 86400:
                        from .retention import purge_closed

                        purged = await purge_closed(self.store, self.config.retention.closed_case_days, now=self.clock())
                        last_purge = self.clock()
                        if purged:
                            log.info("retention: purged %d closed case(s)", len(purged))
                except Exception:
                    log.exception("timer run failed; trying again later")

        self._ticker = asyncio.create_task(loop())


def _sync(fn):
    async def call():
        fn()
    return call
