"""What each of several bot processes sharing one PostgreSQL database runs beside its adapters.

- Leases: the actions this process is running keep their outbox leases alive (renewed every third of
  `storage.lease_seconds`), so no other process takes them over while this one works on them.
- Takeover: every half lease, pending actions whose lease has expired (their process died) are claimed
  and finished here; the runtime asks the platform first whether a ban or removal already happened.
- Hash bank: a change committed by any process (or the CLI) reaches this process's index at once
  (LISTEN/NOTIFY), not only at the next timer tick.
Which process runs the timers and the purge is decided in `App` with `store.try_lead()`.
On SQLite (one process) none of this runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class Cluster:
    def __init__(self, app):
        self.app = app
        self._tasks: list[asyncio.Task] = []
        self._bank_dirty = asyncio.Event()

    async def start(self) -> None:
        store = self.app.store
        if not getattr(store, "shared", False):
            return
        await store.on_bank_change(self._bank_dirty.set)
        self._tasks = [asyncio.create_task(self._keep_leases(store.lease_seconds / 3)),
                       asyncio.create_task(self._take_over(store.lease_seconds / 2)),
                       asyncio.create_task(self._follow_bank())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _keep_leases(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.app.store.outbox_renew(self.app.runtime.running())
            except Exception:
                log.warning("could not renew the outbox leases; trying again", exc_info=True)

    async def _take_over(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                taken = await self.app.runtime.resume()
                if taken:
                    log.warning("finished %d action(s) that another process left unfinished", taken)
            except Exception:
                log.warning("could not look for unfinished actions; trying again", exc_info=True)

    async def _follow_bank(self) -> None:
        while True:
            await self._bank_dirty.wait()
            self._bank_dirty.clear()  # a change committed while refreshing sets it again
            try:
                if self.app.bank is not None:
                    await self.app.bank.refresh()
            except Exception:
                log.warning("could not reload the hash bank; the timer will try again", exc_info=True)
