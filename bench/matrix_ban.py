"""Benchmark of the Matrix adapter against a real Synapse (started here, on loopback).

    .venv/bin/python bench/matrix_ban.py [--rooms 1,10,50] [--poll 5] [--ban-trials 5]

The bot runs as it does in production: `safety-bot run --config ...` in its own process, so its
start-up time and resident memory are its own. The bench process plays the moderator (a nio client
that syncs and timestamps what it sees), the members and the accused. Prints:
  * zero-tolerance ban: from the moderator's `!safety ban ... --confirm` until the moderator's client
    has seen `ban` membership in every protected room (1, 10 and 50 rooms; a bot per room count), and
    until it has seen the purge that follows (the accused's recent events redacted in every room);
  * DM report -> case notice in the management room, as the moderator's client sees it;
  * homeserver report (client Report button) -> case notice (poll interval as configured);
  * for comparison, the homeserver alone: the moderator's client bans in the 50 rooms at once, no bot
    (once as it is, once with a message sent 35 ms before, as a command would be), as many times as
    the bot's 50-room ban (--ban-trials, default 5), each printed as median and range;
  * bot start-up with 50 protected rooms (first start, which joins the rooms, and a restart);
  * the bot's resident memory (VmRSS and peak VmHWM from /proc).
  * with matrix.suspend_local_accused (the same bot restarted with it): time until the accused, trying to post
    all along, cannot post in any of the 50 rooms (first M_USER_SUSPENDED), beside the ban time of the same runs.
Targets: 50-room ban < 1 s, DM report < 1 s, homeserver report < 12 s, start-up < 2 s, RSS < 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.synapse import SynapseServer, SynapseUser  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from common import machine, record, table  # noqa: E402

q = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731


def ok(resp, what):
    if resp.status != 200:
        raise SystemExit(f"{what}: HTTP {resp.status} {resp.body[:200]!r}")
    return resp.json()


class Watcher:
    """The moderator's client: syncs continuously and timestamps every timeline event it sees."""

    def __init__(self, server: SynapseServer, user: SynapseUser):
        from nio import AsyncClient, AsyncClientConfig

        self.client = AsyncClient(server.base_url, user.user_id, device_id=user.device_id,
                                  config=AsyncClientConfig(encryption_enabled=False, request_timeout=60))
        self.client.restore_login(user.user_id, user.device_id, user.access_token)
        self.events: list[tuple[float, str, dict]] = []
        self.changed = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def start(self):
        await self.client.sync(timeout=0, full_state=True, sync_filter={"room": {"timeline": {"limit": 1}}})
        self.task = asyncio.create_task(self._loop())

    async def _loop(self):
        while True:
            resp = await self.client.sync(timeout=30000)
            now = time.monotonic()
            for room_id, info in getattr(resp, "rooms", None).join.items() if hasattr(resp, "rooms") else []:
                for ev in info.timeline.events:
                    self.events.append((now, room_id, ev.source))
            self.changed.set()

    async def wait(self, pred, timeout: float, start: int = 0) -> float:
        """Monotonic time at which the first event matching pred(room_id, source) was seen, looking at the
        events from index `start` on."""
        deadline = time.monotonic() + timeout
        seen = start
        while True:
            for t, room, src in self.events[seen:]:
                if pred(room, src):
                    return t
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the moderator's client did not see it in time")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def close(self):
        if self.task:
            self.task.cancel()
        await self.client.close()


class Bot:
    """safety-bot in its own process."""

    def __init__(self, server: SynapseServer, bot: SynapseUser, workdir: Path, mgmt: str, rooms: list[str], poll: float):
        self.server, self.bot, self.dir = server, bot, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.store_key = secrets.token_hex(16)
        cfg = {"storage": {"database": str(workdir / "bot.sqlite3")}, "playbooks": str(ROOT / "playbooks"),
               "exports_dir": str(workdir / "exports"), "log_level": "INFO",
               "matrix": {"homeserver": server.base_url, "user_id": bot.user_id, "password": "${BOT_PASSWORD}",
                          "store_path": str(workdir / "store"), "store_key": "${BOT_STORE_KEY}",
                          "management_room": mgmt, "protected_rooms": rooms, "admin_api": True,
                          "report_poll_seconds": poll}}
        self.cfg = cfg
        (workdir / "config.yaml").write_text(json.dumps(cfg, indent=2))
        self.proc: subprocess.Popen | None = None

    def set(self, **matrix_keys) -> None:
        """Change matrix.* keys (takes effect at the next start)."""
        self.cfg["matrix"].update(matrix_keys)
        (self.dir / "config.yaml").write_text(json.dumps(self.cfg, indent=2))

    def start(self) -> tuple[float, float]:
        """(seconds from process spawn to ready, seconds the adapter itself reported)."""
        log = open(self.dir / "bot.log", "ab")
        size = (self.dir / "bot.log").stat().st_size
        env = dict(os.environ, BOT_PASSWORD=self.bot.password, BOT_STORE_KEY=self.store_key)
        t0 = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "safety_bot.cli", "run", "--config", str(self.dir / "config.yaml")],
                                     cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        while time.monotonic() - t0 < 60:
            text = (self.dir / "bot.log").read_bytes()[size:].decode("utf-8", "replace")
            m = re.search(r"matrix: connected as .* in ([0-9.]+) s", text)
            if m:
                return time.monotonic() - t0, float(m.group(1))
            if self.proc.poll() is not None:
                raise SystemExit("the bot exited:\n" + text[-3000:])
            time.sleep(0.01)
        raise SystemExit("the bot did not start")

    def rss(self) -> tuple[int, int]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        get = lambda k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) * 1024  # noqa: E731
        return get("VmRSS"), get("VmHWM")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spread(values: list[float]) -> str:
    """"median" or "median (min to max, N runs)" in ms."""
    if not values:
        return "none"
    ms = sorted(v * 1000 for v in values)
    if len(ms) == 1:
        return f"{ms[0]:.0f} ms"
    return f"{statistics.median(ms):.0f} ms median ({ms[0]:.0f} to {ms[-1]:.0f} ms, {len(ms)} runs)"


async def bot_ban(watcher: Watcher, run, send, mod: SynapseUser, mgmt: str, accused: SynapseUser,
                  rooms: list[str]) -> tuple[float, float | None]:
    """The moderator's `!safety ban ... --confirm`: seconds until the moderator's client has seen `ban` in
    every room, and until it has seen the purge that follows (None if not within 30 s)."""
    room_set = set(rooms)
    banned: set[str] = set()
    purged: set[str] = set()

    def is_ban(room, src):
        if (room in room_set and src.get("type") == "m.room.member" and src.get("state_key") == accused.user_id
                and src.get("content", {}).get("membership") == "ban"):
            banned.add(room)
        return len(banned) == len(room_set)

    def is_purged(room, src):
        # The admin API redacts the accused's recent events, here their joins.
        if room in room_set and src.get("type") == "m.room.redaction":
            purged.add(room)
        return len(purged) == len(room_set)

    start = len(watcher.events)
    t0 = time.monotonic()
    await run(send, mod, mgmt, f"!safety ban {accused.user_id} --confirm")
    t1 = await watcher.wait(is_ban, 30, start)
    try:
        t2 = await watcher.wait(is_purged, 30, start)
    except TimeoutError:
        return t1 - t0, None
    return t1 - t0, t2 - t0


async def suspended_ban(server: SynapseServer, watcher: Watcher, run, send, mod: SynapseUser, mgmt: str,
                        accused: SynapseUser, rooms: list[str]) -> tuple[float, float]:
    """With matrix.suspend_local_accused: the accused keeps trying to post (one request at a time, round the
    protected rooms) from the moment the command is sent. Returns (seconds until the accused cannot post in
    any of the rooms: a refusal M_USER_SUSPENDED, which holds everywhere at once, or every room refused as
    banned; seconds until the moderator's client has seen the ban in every room)."""
    import aiohttp

    room_set = set(rooms)
    banned: set[str] = set()
    refused: set[str] = set()
    blocked = asyncio.get_running_loop().create_future()

    def is_ban(room, src):
        if (room in room_set and src.get("type") == "m.room.member" and src.get("state_key") == accused.user_id
                and src.get("content", {}).get("membership") == "ban"):
            banned.add(room)
        return len(banned) == len(room_set)

    async def probe(session):
        i = 0
        while not blocked.done():
            room = rooms[i % len(rooms)]
            i += 1
            async with session.put(f"{server.base_url}/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/"
                                   f"{secrets.token_hex(8)}", json={"msgtype": "m.text", "body": "probe"}) as resp:
                now = time.monotonic()
                if resp.status == 403:
                    code = (await resp.json(content_type=None) or {}).get("errcode")
                    refused.add(room)
                    if code == "M_USER_SUSPENDED" or refused == room_set:
                        blocked.set_result(now)

    start = len(watcher.events)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {accused.access_token}"}) as session:
        prober = asyncio.create_task(probe(session))
        t0 = time.monotonic()
        await run(send, mod, mgmt, f"!safety ban {accused.user_id} --confirm")
        t_ban = await watcher.wait(is_ban, 30, start)
        t_blocked = await asyncio.wait_for(blocked, 30)
        await prober
    return t_blocked - t0, t_ban - t0


async def synapse_alone(server: SynapseServer, mod: SynapseUser, accused: SynapseUser, rooms: list[str],
                        watcher: Watcher, command_room: str | None = None) -> float:
    """Seconds until the watcher has seen the moderator's own 50 bans. With command_room, a message is
    sent there 35 ms before the bans (about when the bot starts banning after a command)."""
    import aiohttp

    seen: set[str] = set()
    room_set = set(rooms)

    def is_ban(room, src):
        if (room in room_set and src.get("type") == "m.room.member" and src.get("state_key") == accused.user_id
                and src.get("content", {}).get("membership") == "ban"):
            seen.add(room)
        return len(seen) == len(room_set)

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {mod.access_token}"}) as session:
        async def ban(room: str) -> None:
            async with session.post(f"{server.base_url}/_matrix/client/v3/rooms/{q(room)}/ban",
                                    json={"user_id": accused.user_id, "reason": "comparison"}) as resp:
                if resp.status != 200:
                    raise SystemExit(f"ban: HTTP {resp.status}")

        t0 = time.monotonic()
        if command_room:
            async with session.put(f"{server.base_url}/_matrix/client/v3/rooms/{q(command_room)}/send/"
                                   f"m.room.message/{secrets.token_hex(8)}",
                                   json={"msgtype": "m.text", "body": "(comparison)"}) as resp:
                if resp.status != 200:
                    raise SystemExit(f"send: HTTP {resp.status}")
            await asyncio.sleep(0.035)
        await asyncio.gather(*(ban(r) for r in rooms))
        return await watcher.wait(is_ban, 30) - t0


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", default="1,10,50")
    ap.add_argument("--poll", type=float, default=5.0)
    ap.add_argument("--dm-rounds", type=int, default=5)
    ap.add_argument("--ban-trials", type=int, default=5,
                    help="bans (each of a fresh accused) timed in the largest room count, and as many by Synapse alone")
    args = ap.parse_args()
    counts = [int(x) for x in args.rooms.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="safety-bot-bench-"))
    server = SynapseServer(tmp / "synapse")
    print(f"starting Synapse in {tmp} ...", flush=True)
    server.start()
    pool = ThreadPoolExecutor(8)
    results: dict[str, str] = {}
    bans_by_rooms: dict[int, list[float]] = {}
    peers: tuple[list[float], list[float]] | None = None
    suspension: tuple[list[float], list[float]] | None = None
    bots: list[Bot] = []
    watcher = None
    try:
        mod = server.register(prefix="mod")
        member = server.register(prefix="member")
        mgmt_power = {}

        def create(owner, invite, public=False, direct=False, power=None):
            body = {"preset": "private_chat", "invite": invite, "is_direct": direct}
            if public:
                body["initial_state"] = [{"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "public"}}]
            if power:
                body["power_level_content_override"] = {"users": power}
            return ok(server.request("POST", "/_matrix/client/v3/createRoom", token=owner.access_token, json_body=body),
                      "createRoom")["room_id"]

        def join(user, room):
            ok(server.request("POST", f"/_matrix/client/v3/join/{q(room)}", token=user.access_token, json_body={}), "join")

        def send(user, room, body):
            return ok(server.request("PUT", f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/{secrets.token_hex(8)}",
                                     token=user.access_token, json_body={"msgtype": "m.text", "body": body}), "send")["event_id"]

        watcher = Watcher(server, mod)
        loop = asyncio.get_running_loop()

        async def run(fn, *a, **kw):
            return await loop.run_in_executor(pool, lambda: fn(*a, **kw))

        for n in counts:
            bot_user = server.register(admin=True, prefix="bot")
            power = {bot_user.user_id: 100, **mgmt_power}
            mgmt = create(mod, [bot_user.user_id], power=power)
            rooms = list(pool.map(lambda _: create(mod, [bot_user.user_id], public=True, power=power), range(n)))
            accused = server.register(prefix="accused")
            list(pool.map(lambda r: join(accused, r), rooms))
            bot = Bot(server, bot_user, tmp / f"bot-{n}", mgmt, rooms, args.poll)
            bots.append(bot)
            first_wall, first_internal = bot.start()
            if watcher.task is None:
                await watcher.start()
            else:
                await asyncio.sleep(0.5)  # the watcher picks up the new rooms
            await asyncio.sleep(0.5)
            # The zero-tolerance ban, repeated with a fresh accused for the largest room count.
            trials = args.ban_trials if n == max(counts) else 1
            bans, purges = [], []
            for trial in range(trials):
                if trial:
                    accused = server.register(prefix="accused")
                    list(pool.map(lambda r, a=accused: join(a, r), rooms))
                    await asyncio.sleep(2.0)
                ban_s, purge_s = await bot_ban(watcher, run, send, mod, mgmt, accused, rooms)
                bans.append(ban_s)
                purges.append(purge_s)
                print(f"ban in {n} room(s): {ban_s * 1000:.0f} ms, purge seen after "
                      + (f"{purge_s * 1000:.0f} ms" if purge_s is not None else "(not seen in 30 s)"), flush=True)
            results[f"ban lands in {n} protected room(s)"] = spread(bans)
            bans_by_rooms[n] = bans
            seen_purges = [p for p in purges if p is not None]
            results[f"their recent events redacted in {n} room(s)"] = \
                spread(seen_purges) + ("" if len(seen_purges) == len(purges) else
                                       f" ({len(purges) - len(seen_purges)} not seen in 30 s)")
            print(f"bot start-up {first_wall:.2f} s incl. imports, adapter {first_internal:.2f} s "
                  f"(first start joins the rooms)", flush=True)
            if n == max(counts):
                results[f"bot start-up, first start ({n} rooms, joins them): process spawn -> ready"] = f"{first_wall:.2f} s"
                results[f"bot start-up, first start ({n} rooms): adapter connect -> ready"] = f"{first_internal:.2f} s"
                # DM report -> case notice.
                dm = create(member, [bot_user.user_id], direct=True)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    m = server.request("GET", f"/_matrix/client/v3/rooms/{q(dm)}/state/m.room.member/{q(bot_user.user_id)}",
                                       token=member.access_token)
                    if m.status == 200 and m.json().get("membership") == "join":
                        break
                    time.sleep(0.05)
                lat = []
                for i in range(args.dm_rounds):
                    tag = f"dm-{secrets.token_hex(4)}"
                    t0 = time.monotonic()
                    await run(send, member, dm, f"!report he threatens to post my photos {tag}")
                    t1 = await watcher.wait(lambda room, src, tag=tag: room == mgmt and tag in src.get("content", {}).get("body", ""), 20)
                    lat.append(t1 - t0)
                    # finish the intake so the next message is a fresh report
                    await run(send, member, dm, "stop")
                    await asyncio.sleep(0.3)
                results["DM report -> case notice (median of %d)" % len(lat)] = f"{statistics.median(lat) * 1000:.0f} ms (max {max(lat) * 1000:.0f} ms)"
                print(f"DM report -> notice: {[round(x * 1000) for x in lat]} ms", flush=True)
                # Homeserver report -> case notice.
                join(member, rooms[0])
                other = server.register(prefix="accused2")
                join(other, rooms[0])
                lat = []
                for i in range(3):
                    ev = await run(send, other, rooms[0], "pay or I post your pictures")
                    tag = f"hs-{secrets.token_hex(4)}"
                    t0 = time.monotonic()
                    ok(await run(server.request, "POST", f"/_matrix/client/v3/rooms/{q(rooms[0])}/report/{q(ev)}",
                                 token=member.access_token, json_body={"reason": tag}), "report")
                    t1 = await watcher.wait(lambda room, src, tag=tag: room == mgmt and tag in src.get("content", {}).get("body", ""), 30)
                    lat.append(t1 - t0)
                    await asyncio.sleep(0.2)
                results[f"homeserver report -> case notice (poll every {args.poll:g} s; median of 3)"] = \
                    f"{statistics.median(lat):.2f} s (max {max(lat):.2f} s)"
                print(f"homeserver report -> notice: {[round(x, 2) for x in lat]} s", flush=True)
                rss, hwm = bot.rss()
                results["bot resident memory after the workload (VmRSS / peak VmHWM)"] = f"{rss / 2**20:.0f} MB / {hwm / 2**20:.0f} MB"
                # Restart with 50 rooms (already joined, saved sync position).
                bot.stop()
                wall, internal = bot.start()
                results[f"bot start-up, restart ({n} rooms): process spawn -> ready"] = f"{wall:.2f} s"
                results[f"bot start-up, restart ({n} rooms): adapter connect -> ready"] = f"{internal:.2f} s"
                await asyncio.sleep(1.0)
                rss, hwm = bot.rss()
                results["bot resident memory after a restart, idle (VmRSS)"] = f"{rss / 2**20:.0f} MB"
                # matrix.suspend_local_accused: the same bans, the account suspended first.
                bot.stop()
                bot.set(suspend_local_accused=True)
                bot.start()
                await asyncio.sleep(1.0)
                cannot_post, landed = [], []
                for trial in range(args.ban_trials):
                    accused = server.register(prefix="accused")
                    list(pool.map(lambda r, a=accused: join(a, r), rooms))
                    await asyncio.sleep(2.0)
                    blocked_s, ban_s = await suspended_ban(server, watcher, run, send, mod, mgmt, accused, rooms)
                    cannot_post.append(blocked_s)
                    landed.append(ban_s)
                    print(f"suspend_local_accused, {n} rooms: cannot post after {blocked_s * 1000:.0f} ms, "
                          f"ban seen in all rooms after {ban_s * 1000:.0f} ms", flush=True)
                results[f"suspend_local_accused: time until the accused cannot post in any of {n} rooms"] = \
                    spread(cannot_post)
                suspension = (cannot_post, landed)
                results[f"suspend_local_accused: ban lands in {n} protected room(s) (beside it, same runs)"] = \
                    spread(landed)
            bot.stop()
        # For comparison, the homeserver alone: the moderator's own client sends the 50 bans at once (no
        # bot, no command to read, no purge) and the same watcher waits to see them all.
        n = max(counts)
        alone, alone_msg = [], []
        for trial in range(args.ban_trials):
            for command_room, out in ((None, alone), (mgmt, alone_msg)):
                floor_user = server.register(prefix="accused")
                list(pool.map(lambda r, a=floor_user: join(a, r), rooms))
                await asyncio.sleep(2.0)
                out.append(await synapse_alone(server, mod, floor_user, rooms, watcher, command_room=command_room))
        results[f"for comparison, Synapse alone: {n} bans sent at once by the moderator's client, until seen"] = \
            spread(alone)
        peers = (alone, alone_msg)
        results["for comparison, the same with a message sent 35 ms before the bans (as a command is)"] = \
            spread(alone_msg)
    finally:
        for b in bots:
            b.stop()
        if watcher:
            await watcher.close()
        server.stop(cleanup=True)
        pool.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nResults ({machine()}, Synapse and the bot on loopback):")
    for k, v in results.items():
        print(f"  {k}: {v}")
    n = max(counts)
    if peers is not None and bans_by_rooms.get(n):
        ours = statistics.median(bans_by_rooms[n])
        rows = [(f"{n} bans, until the moderator's client sees them all", spread(bans_by_rooms[n]), spread(peers[0]),
                 f"{ours / statistics.median(peers[0]):.2f}", spread(peers[1]),
                 f"{ours / statistics.median(peers[1]):.2f}")]
        if suspension is not None:
            rows.append((f"suspend_local_accused: until the accused cannot post in any of {n} rooms (beside it: "
                         f"the ban seen in all rooms, same runs: {spread(suspension[1])})", spread(suspension[0]),
                         "", "", "", ""))
        print()
        record("Matrix ban (zero tolerance, real Synapse on loopback)",
               f"Machine: {machine()}. {args.ban_trials} trials each, median (min-max). Ours: `!safety ban --confirm` "
               f"in the management room until the moderator's client has seen the ban in all {n} rooms. Peers: the "
               "moderator's own client sending the same bans at once, without and with a message 35 ms before "
               "(as a command is). Draupnir is not measured here: to compare, install it (`npm install -g draupnir` "
               "or its Docker image), point it at the same Synapse and time its `!draupnir ban`.\n\n"
               + table(("ban", "bot", "plain client", "ratio", "plain client, message first", "ratio"), rows))


if __name__ == "__main__":
    asyncio.run(main())
