"""Discord across shards and processes: the fake Discord with 10,000 guilds over 4 shards in 2 bot processes
sharing one PostgreSQL database.

Each bot process is a real subprocess running App + DiscordAdapter as `safety-bot run` does (shards [0, 1]
and [2, 3] of 4), with the real discord.py AutoShardedClient against the local fake Discord. Printed:
- start-up: from spawning the process until its adapter is ready (config with 10,000 guilds, the store,
  IDENTIFY of both shards with discord.py's 5 s spacing between shards, every GUILD_CREATE parsed);
- resident memory (RSS) of each process once ready and after the message run;
- MESSAGE_CREATE/s through both processes: N text messages in protected channels spread over all guilds,
  sent by the fake as fast as it can, timed until both adapters have handled all of them;
- a network-wide ban across 100 guilds: one /safety ban, timed until every ban request has been answered,
  with the highest number of requests the bot made in any one second (Discord's global limit is 50
  requests per second per bot; discord.py also follows each route's X-RateLimit headers and waits out a 429).

    .venv/bin/python bench/discord_shards.py [--guilds 10000] [--messages 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from safety_bot.crypto import new_key_text  # noqa: E402

SHARDS, PROCESSES = 4, 2


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def worker(config_path: str) -> None:
    """One bot process: prints {"ready": seconds} once ready, then {"handled": n} every 0.1 s."""
    from adapters.discord import DiscordAdapter
    from safety_bot.app import App
    from safety_bot.config import load_config

    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    config = load_config(config_path)
    async with App(config) as app:
        adapter = DiscordAdapter(app, ready_timeout=2.0)
        task = asyncio.create_task(adapter.run())
        await adapter.ready.wait()
        await app.runtime.resume()
        await app.start_cluster()
        print(json.dumps({"ready": time.perf_counter() - t0}), flush=True)
        while not task.done():
            print(json.dumps({"handled": adapter.messages_handled}), flush=True)
            await asyncio.sleep(0.1)


class Proc:
    def __init__(self, proc):
        self.proc, self.ready, self.handled = proc, None, 0

    async def follow(self):
        async for line in self.proc.stdout:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            self.ready = data.get("ready", self.ready)
            self.handled = data.get("handled", self.handled)


async def main(args) -> None:
    import pgserver

    from tests.fakes.discord_server import VIEW_CHANNEL, FakeDiscord

    logging.basicConfig(level=logging.WARNING)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; python "
          f"{sys.version.split()[0]}; {args.guilds} guilds, {SHARDS} shards in {PROCESSES} processes")
    tmp = Path(tempfile.mkdtemp(prefix="safety-bot-bench-shards-"))
    tmp.chmod(0o755)
    server = pgserver.get_server(tmp / "pg", cleanup_mode="delete")
    procs: list[Proc] = []
    try:
        async with FakeDiscord() as fake:
            fake.interaction_timeout = 30.0
            base = fake.snowflake() >> 22
            guilds, general = [], {}
            mod = fake.add_user("mod")
            suspect = fake.add_user("suspect")
            t = time.perf_counter()
            for i in range(args.guilds):
                gid = fake.add_guild(f"g{i}", id=((base + i) << 22) | 1)
                role = fake.add_role(gid, "Safety Team")
                safety = fake.add_channel(gid, "safety", private=True, overwrites={role: (VIEW_CHANNEL, 0)})
                general[gid] = fake.add_channel(gid, "general")
                if i < 100:  # the network of the ban benchmark
                    fake.add_member(gid, mod, roles=[role])
                    fake.add_member(gid, suspect)
                guilds.append({"id": gid, "safety_channel": safety, "safety_role": role,
                               "network": "wide" if i < 100 else f"net{i // 100}"})
            print(f"fake Discord built in {time.perf_counter() - t:.1f} s")
            server.psql("CREATE DATABASE shards;")
            env = {**os.environ, "DISCORD_TOKEN": fake.token, "DATABASE_URL": server.get_uri("shards"),
                   "SAFETY_BOT_KEY": new_key_text(), "PYTHONPATH": str(ROOT)}
            for p in range(PROCESSES):
                folder = tmp / f"p{p}"
                folder.mkdir()
                (folder / "config.yaml").write_text(yaml.safe_dump({
                    "playbooks": str(ROOT / "playbooks"), "log_level": "WARNING",
                    "storage": {"backend": "postgres", "dsn": "${DATABASE_URL}", "key": "${SAFETY_BOT_KEY}"},
                    "exports_dir": str(folder / "exports"),
                    "discord": {"token": "${DISCORD_TOKEN}", "api_base_url": fake.api_base_url,
                                "gateway_url": fake.gateway_url, "shard_count": SHARDS,
                                "shard_ids": list(range(p * 2, p * 2 + 2)), "guilds": guilds}}))
            spawned = time.perf_counter()
            for p in range(PROCESSES):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--worker", str(tmp / f"p{p}" / "config.yaml"), env=env,
                    stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
                procs.append(Proc(proc))
            followers = [asyncio.create_task(p.follow()) for p in procs]
            while any(p.ready is None for p in procs):
                assert all(p.proc.returncode is None for p in procs), "a bot process died during start-up"
                await asyncio.sleep(0.05)
            print(f"start-up until ready: " + ", ".join(f"process {i}: {p.ready:.1f} s" for i, p in enumerate(procs))
                  + f" (both ready {time.perf_counter() - spawned:.1f} s after spawning)")
            print("resident memory once ready: " + ", ".join(f"process {i}: {rss_mb(p.proc.pid):.0f} MB"
                                                           for i, p in enumerate(procs)))

            # MESSAGE_CREATE through both processes
            member = fake.add_user("member")
            targets = [g["id"] for g in guilds]
            before = sum(p.handled for p in procs)
            t0 = time.perf_counter()
            for n in range(args.messages):
                gid = targets[n % len(targets)]
                await fake.dispatch_message_create(general[gid], member, f"hello {n}")
            sent = time.perf_counter() - t0
            while sum(p.handled for p in procs) - before < args.messages:
                await asyncio.sleep(0.01)
            took = time.perf_counter() - t0
            print(f"MESSAGE_CREATE: {args.messages} over {len(targets)} guilds and {SHARDS} shards in {took:.2f} s: "
                  f"{args.messages / took:.0f}/s through both processes (the fake needed {sent:.2f} s to send them)")
            print("resident memory after the messages: " + ", ".join(
                f"process {i}: {rss_mb(p.proc.pid):.0f} MB" for i, p in enumerate(procs)))

            # a network-wide ban across 100 guilds
            wide = [g["id"] for g in guilds[:100]]
            first = wide[0]
            stamps: list[float] = []
            start_index = len(fake.requests)
            t0 = time.perf_counter()
            it = await fake.send_slash_command(first, guilds[0]["safety_channel"], mod, "safety",
                                               {"member": suspect, "confirm": True}, subcommand="ban")
            seen = start_index
            while sum(1 for g in wide if suspect in fake.bans(g)) < len(wide):
                if len(fake.requests) > seen:
                    stamps += [time.perf_counter()] * (len(fake.requests) - seen)
                    seen = len(fake.requests)
                await asyncio.sleep(0.002)
                assert time.perf_counter() - t0 < 300, "the bans did not all land"
            took = time.perf_counter() - t0
            await it.wait_messages(1, 60)
            puts = [r for r in fake.requests[start_index:] if r.method == "PUT" and "/bans/" in r.path]
            peak = max((sum(1 for s in stamps if w <= s < w + 1.0) for w in stamps), default=0)
            print(f"network-wide ban across {len(wide)} guilds: every ban answered after {took:.2f} s; "
                  f"{len(puts)} PUT /bans, {len(fake.requests) - start_index} requests in all, "
                  f"at most {peak} in any one second (Discord's global limit: 50/s)")
            for p in procs:  # stop the bots before the fake Discord goes away
                p.proc.kill()
                await p.proc.wait()
    finally:
        for p in procs:
            if p.proc.returncode is None:
                p.proc.kill()
                await p.proc.wait()
        server.cleanup()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--guilds", type=int, default=10000)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        asyncio.run(worker(a.worker))
    else:
        asyncio.run(main(a))
