"""Keep the bot under Discord's global rate limit (50 requests/s per bot, interaction routes exempt).

discord.py follows each route's X-RateLimit headers and waits out a 429, but it has no limiter of its own
for the global limit: a network-wide ban across 100 guilds would fire 100 requests at once, collect
429s, and count towards the 10,000 invalid requests in 10 minutes that get a bot's address blocked. So
every request (but the interaction callbacks and follow-ups, which Discord exempts) first takes a token
from a bucket filled at `discord.requests_per_second`. Several processes share one bot token: each takes
its share by the shards it runs (`len(shard_ids) / shard_count`), so together they stay under the rate.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

EXEMPT = ("/interactions/", "/webhooks/")  # interaction callbacks and follow-ups: not under the global limit


def share(rate: float, shard_count: int | None, shard_ids: list[int] | None) -> float:
    """This process's part of the bot's global rate."""
    if shard_count and shard_ids:
        return rate * len(shard_ids) / shard_count
    return rate


class Pacer:
    """A token bucket: `rate` tokens a second, holding at most a tenth of a second's worth, so that any one
    second sees at most 1.1 x rate requests (49.5 at the default 45)."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):
        self.rate = rate
        self.capacity = max(1.0, rate / 10)
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = asyncio.Lock()
        self.waited = 0.0  # seconds spent waiting, all requests together (metrics, bench)

    async def take(self) -> None:
        async with self._lock:  # first come, first served
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1:
                pause = (1 - self._tokens) / self.rate
                self.waited += pause
                await self._sleep(pause)
                self._last = self._clock()
                self._tokens = 1.0
            self._tokens -= 1


def pace(http: Any, pacer: Pacer) -> None:
    """Wrap discord.py's `HTTPClient.request` so that every non-exempt request takes a token first."""
    request = http.request

    async def paced(route, **kwargs):
        if not route.path.startswith(EXEMPT):
            await pacer.take()
        return await request(route, **kwargs)

    http.request = paced
