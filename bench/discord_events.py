"""How many MESSAGE_CREATE events per second the Discord adapter plus core handle on this machine.

Text-only messages in a protected channel, with the real discord.py client against the local fake
Discord (tests/fakes/discord_server.py), everything on one event loop (one core). Two figures:

1. end to end: the fake sends N MESSAGE_CREATE frames over its WebSocket as fast as it can; timed until
   the adapter has handled all N (the fake's own JSON encoding and sending share the core, so this is
   a lower bound);
2. adapter path: the same gateway payloads fed to discord.py's parser (`parse_message_create`, which
   builds the Message and dispatches on_message) without the WebSocket, timed until all are handled.

Peer, in the same run on the same fake server: a bare discord.py client (same intents, an on_message
that only counts), measured the same two ways. The ratios are the adapter's rate over the bare client's.

Usage: python bench/discord_events.py [N]
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import discord  # noqa: E402
import yaml  # noqa: E402

from adapters.discord import DiscordAdapter  # noqa: E402
from safety_bot.app import App  # noqa: E402
from safety_bot.config import load_config  # noqa: E402
from safety_bot.store import MemoryStore  # noqa: E402
from tests.fakes.discord_server import FakeDiscord  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from common import machine, record, table  # noqa: E402

TARGET = 2000


async def main(n: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    async with FakeDiscord() as fake:
        gid = fake.add_guild("Bench")
        general = fake.add_channel(gid, "general")
        safety = fake.add_channel(gid, "safety", private=True)
        member = fake.add_member(gid, name="member")
        with tempfile.TemporaryDirectory() as tmp:
            cfg_path = Path(tmp) / "config.yaml"
            cfg_path.write_text(yaml.safe_dump({
                "playbooks": str(ROOT / "playbooks"), "storage": {"database": str(Path(tmp) / "db.sqlite3")},
                "discord": {"token": "${DISCORD_TOKEN}", "api_base_url": fake.api_base_url,
                            "gateway_url": fake.gateway_url,
                            "guilds": [{"id": gid, "safety_channel": safety, "network": "bench"}]}}))
            config = load_config(cfg_path, env={"DISCORD_TOKEN": fake.token})
            async with App(config, store=MemoryStore()) as app:
                adapter = DiscordAdapter(app, ready_timeout=0.05, sync_commands=False)
                task = asyncio.create_task(adapter.run())
                await asyncio.wait_for(adapter.ready.wait(), 10)

                e2e, direct = await measure(fake, gid, general, member, adapter.client, lambda: adapter.messages_handled, n)
                await adapter.close()
                await asyncio.wait_for(task, 10)
        # the peer: a bare discord.py client on the same fake (the adapter pointed discord.py at it)
        bare_e2e, bare_direct = await bare_client(fake, gid, general, member, n)
    print(f"discord_events: {n} text messages in a protected channel (one event loop, one core)")
    print(f"  end to end through the fake gateway: {e2e:,.0f} events/s (includes the fake's own work)")
    print(f"  adapter path (discord.py parsing + on_message + core hook): {direct:,.0f} events/s")
    print(f"  bare discord.py client, same fake: end to end {bare_e2e:,.0f} events/s, parser path {bare_direct:,.0f} events/s")
    rows = [("end to end through the fake gateway, events/s", f"{e2e:,.0f}", f"{bare_e2e:,.0f}", f"{e2e / bare_e2e:.2f}"),
            ("parser path (no WebSocket), events/s", f"{direct:,.0f}", f"{bare_direct:,.0f}", f"{direct / bare_direct:.2f}")]
    print()
    record("Discord events (MESSAGE_CREATE in a protected channel)",
           f"Machine: {machine()}. {n} text messages, one event loop. Peer: a bare discord.py client (same intents, "
           "an on_message that only counts) on the same fake Discord server.\n\n"
           + table(("path", "adapter + core", "bare discord.py client", "ratio"), rows))
    print(f"  target: {TARGET:,} events/s -> {'OK' if min(e2e, direct) >= TARGET else ('OK (adapter path)' if direct >= TARGET else 'BELOW TARGET')}")


async def measure(fake, gid, general, member, client, handled, n: int) -> tuple[float, float]:
    # 1. end to end over the fake's gateway
    start_count = handled()
    t0 = time.perf_counter()
    for i in range(n):
        await fake.dispatch_message_create(general, member, f"hello {i}, just chatting")
    await fake.wait_for(lambda: handled() - start_count >= n, 120, "all messages")
    e2e = n / (time.perf_counter() - t0)

    # 2. the path from a gateway payload (discord.py parsing + on_message + handler)
    payloads = []
    for i in range(n):
        mid = fake.add_message(general, member, f"hello {i}, just chatting")
        msg = dict(fake.messages_by_id[mid])
        msg["member"] = fake._member(gid, member, with_user=False)
        payloads.append(msg)
    parse = client._connection.parse_message_create
    start_count = handled()
    t0 = time.perf_counter()
    for i, data in enumerate(payloads):
        parse(data)
        if i % 200 == 199:
            await asyncio.sleep(0)  # let the dispatched on_message tasks run
    while handled() - start_count < n:
        await asyncio.sleep(0)
    return e2e, n / (time.perf_counter() - t0)


async def bare_client(fake, gid, general, member, n: int) -> tuple[float, float]:
    intents = discord.Intents.default()
    intents.members = True
    intents.message_content = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.05)
    count = 0

    @client.event
    async def on_message(message):
        nonlocal count
        count += 1

    task = asyncio.create_task(client.start(fake.token))
    await asyncio.wait_for(client.wait_until_ready(), 10)
    try:
        return await measure(fake, gid, general, member, client, lambda: count, n)
    finally:
        await client.close()
        await asyncio.wait_for(task, 10)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
