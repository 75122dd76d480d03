"""The Synapse module check (adapters/matrix/synapse_module.py): the bot's HTTP listener answers the module,
and the module has said hello lately (it does every 10 s). Run by `doctor` against the running bot, and
at start-up by the bot itself, so a homeserver whose module cannot reach the bot (and so lets everything
through) is reported to the safety team."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from ..http.address import parse_listen
from .checks import Checklist

HELLO_EVERY = 10.0


async def module_checks(config, *, wait: float = HELLO_EVERY + 3) -> Checklist:
    c = Checklist("matrix")
    secret = config.matrix.synapse_module_secret
    host, port = parse_listen(config.http.listen)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    if port == 0:
        c.warn("the Synapse module reaches the bot", "http.listen names no fixed port, so the module's bot_url "
                                                     "cannot point at it: set a port")
        return c
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/synapse/status"
    fix = ("in homeserver.yaml, the module's bot_url must be this bot's http.listen address and its secret "
           "matrix.synapse_module_secret (see adapters/matrix/README.md); then restart Synapse. Until then the "
           "homeserver lets banked pictures and threats through")
    deadline = time.monotonic() + wait
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while True:
            try:
                async with session.get(url, headers={"Authorization": f"Bearer {secret}"}) as resp:
                    status = resp.status
                    seen = (await resp.json(content_type=None) or {}).get("seconds_since_hello") if status == 200 else None
            except (aiohttp.ClientError, TimeoutError, ValueError):
                c.fail("the bot's HTTP listener answers the Synapse module",
                       f"nothing answers at {url.rsplit('/synapse', 1)[0]}: is the bot running with http.listen set?")
                return c
            if status != 200:
                c.fail("the bot's HTTP listener answers the Synapse module", "the listener refused the secret: "
                       "matrix.synapse_module_secret must be what the running bot was started with")
                return c
            if seen is not None and seen < 3 * HELLO_EVERY:
                c.check(True, "the Synapse module reaches the bot", fix)
                return c
            if time.monotonic() >= deadline:
                c.fail("the Synapse module reaches the bot", fix)
                return c
            await asyncio.sleep(0.5)
