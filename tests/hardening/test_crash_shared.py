"""Two bot processes on one PostgreSQL database and one fake Discord, killed with SIGKILL.

The fake Discord sends gateway events to the session that identified last, so in each life the process
started last (the "receiver") takes the events and runs their actions, and the other (the "survivor") keeps
running beside it: it takes over the actions a dead process leased once the lease expires, and leads the
timers. In each life the receiver is killed at a random moment or at a named point (`safety_bot/faults.py`),
and sometimes the survivor is killed too, at a random moment. Then one clean process finishes what is left.
Checked against what the fake Discord received: every acknowledged report is stored, every ban and delete
ran exactly once and none was lost, the audit chain has no fork, and no action or lease is left behind.

A separate takeover test kills the process running a ban just before it calls Discord, and checks that the
other process finishes that ban once its lease has expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import time

import yaml

from safety_bot.config import load_config
from safety_bot.crypto import new_key_text
from safety_bot.store import open_store
from safety_bot.store.base import verify_chain
from tests.hardening.conftest import record
from tests.hardening.test_crash import SEED, Lane
from tests.postgres_server import fresh_database

LEASE = 3.0  # storage.lease_seconds in these tests: a dead process's actions are taken over after this
KILLS = int(os.environ.get("SAFETY_BOT_SHARED_CRASH_KILLS", "12"))


class SharedLane(Lane):
    """One fake Discord, one PostgreSQL database, two bot processes."""

    survivor: asyncio.subprocess.Process | None = None

    async def setup_shared(self, dsn: str) -> None:
        await self.setup()
        self.env = {"DATABASE_URL": dsn, "SAFETY_BOT_KEY": new_key_text()}
        data = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        data["storage"] = {"backend": "postgres", "dsn": "${DATABASE_URL}", "key": "${SAFETY_BOT_KEY}",
                           "lease_seconds": LEASE}
        self.config_path.write_text(yaml.safe_dump(data), encoding="utf-8")

    async def start_survivor(self) -> None:
        await self.spawn(None)
        assert await asyncio.wait_for(self.identified, 60), "the bot did not connect"
        self.survivor, self.proc = self.proc, None

    async def kill_survivor(self) -> None:
        if self.survivor is not None and self.survivor.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.survivor.send_signal(signal.SIGKILL)
            await self.survivor.wait()
            self.kills["survivor"] += 1

    async def shared_life(self) -> None:
        if self.survivor is None or self.survivor.returncode is not None:
            await self.start_survivor()
        assassin = None
        if self.rng.random() < 0.3:
            async def later():
                await asyncio.sleep(self.rng.uniform(0.5, 4.0))
                await self.kill_survivor()
            assassin = asyncio.create_task(later())
        try:
            await self.life()  # starts the receiver and kills it (Lane.life)
        finally:
            if assassin is not None:
                assassin.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await assassin

    async def settle(self, timeout: float = 90.0) -> None:
        """Wait until nothing is pending in the outbox (a running process takes leases over as they expire)."""
        config = load_config(self.config_path, env={"DISCORD_TOKEN": self.fake.token, **self.env})
        store = await open_store(config)
        try:
            deadline = time.monotonic() + timeout
            while await store.outbox_pending():
                assert time.monotonic() < deadline, "actions were still pending"
                await asyncio.sleep(0.2)
        finally:
            await store.close()

    async def finish_shared(self) -> None:
        if self.survivor is None or self.survivor.returncode is not None:
            await self.start_survivor()
        await self.settle()  # the survivor alone finishes what the dead receivers left
        await self.kill_survivor()
        await self.finish()  # one clean process, stopped with SIGINT once Discord is quiet

    async def check_shared(self) -> dict:
        result = await self.check()
        config = load_config(self.config_path, env={"DISCORD_TOKEN": self.fake.token, **self.env})
        store = await open_store(config)
        try:
            audit = await store.audit_entries()
            leases = await store.leases_held()
            keys = store.audit_chain.keys
        finally:
            await store.close()
        result["audit_broken_at"] = verify_chain(audit, keys)
        result["audit_entries"] = len(audit)
        result["leases_left"] = len(leases)
        return result


async def test_two_processes_killed_at_random_and_at_named_points_lose_nothing_and_repeat_nothing(
        tmp_path, postgres_server):
    start = time.monotonic()
    lane = SharedLane(0, tmp_path / "shared", random.Random(SEED * 100 + 77))
    try:
        await lane.setup_shared(await fresh_database(postgres_server))
        # The kills, and at least one acknowledged report (on a busy machine the lives can all end in start-up,
        # and then nothing of intake would be checked), are the conditions; the time only guards against a run
        # that can never get there.
        while ((sum(lane.kills.values()) < KILLS or not lane.acked_reports())
               and time.monotonic() < start + 200):
            await lane.shared_life()
        await lane.finish_shared()
        result = await lane.check_shared()
    finally:
        for proc in (lane.proc, lane.survivor):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
        if lane.fake is not None:
            await lane.fake.stop()
    figures = dict(seed=SEED, seconds=round(time.monotonic() - start, 1), kills=sum(lane.kills.values()),
                   kills_by_point=dict(lane.kills), lives=result["lives"], reports_acknowledged=result["reports_acked"],
                   reports_found=result["reports_found"], bans_exactly_once=result["bans_exactly_once"],
                   bans_requested=result["bans_requested"], removes_exactly_once=result["removes_exactly_once"],
                   removes_requested=result["removes_requested"], audit_entries=result["audit_entries"])
    record("crash_two_processes", **figures)
    print("two-process crash test:", figures)
    problems = {k: result[k] for k in ("lost_reports", "bans_twice", "bans_lost", "deletes_twice", "removes_lost",
                                       "pending_left", "leases_left", "audit_broken_at") if result[k]}
    assert not problems, f"seed {SEED}: {problems} (logs in {lane.dir}/bot.log)"
    assert sum(lane.kills.values()) >= KILLS, f"only {sum(lane.kills.values())} kills in the time budget"
    assert result["bans_requested"] and result["removes_requested"] and result["reports_acked"]


async def test_the_other_process_finishes_a_ban_after_the_lease_of_a_dead_one_expires(tmp_path, postgres_server):
    lane = SharedLane(0, tmp_path / "takeover", random.Random(SEED))
    try:
        await lane.setup_shared(await fresh_database(postgres_server))
        await lane.start_survivor()
        await lane.spawn("action.before_call.ban:1")  # started last: it gets the events and runs the ban
        assert await asyncio.wait_for(lane.identified, 60)
        moderator = asyncio.create_task(lane.ban())
        await asyncio.wait_for(lane.proc.wait(), 30)  # died just before calling Discord
        died = time.monotonic()
        target = lane.bans[-1][0]
        path = f"/guilds/{lane.guild}/bans/{target}"

        def puts():
            return [r for r in lane.fake.requests if r.method == "PUT" and r.path == path]

        assert puts() == []  # the dead process never called Discord, and its lease still holds
        deadline = time.monotonic() + 60
        while not puts():
            assert time.monotonic() < deadline, "the other process did not take the ban over"
            await asyncio.sleep(0.05)
        took = time.monotonic() - died
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await moderator  # no answer: the process that took the command died
        await lane.settle()
        assert lane.survivor.returncode is None  # the survivor did it; it is still running
        assert len(puts()) == 1 and target in lane.fake.bans(lane.guild)
        result = await lane.check_shared()
        assert result["leases_left"] == 0 and result["pending_left"] == 0 and result["audit_broken_at"] is None
        assert result["bans_twice"] == [] and result["bans_lost"] == []
        log = (lane.dir / "bot.log").read_text(errors="replace")
        assert re.search(r"finished 1 action\(s\) that another process left unfinished", log)
        record("takeover", seconds_after_death=round(took, 2), lease_seconds=LEASE)
    finally:
        for proc in (lane.proc, lane.survivor):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
        if lane.fake is not None:
            await lane.fake.stop()
