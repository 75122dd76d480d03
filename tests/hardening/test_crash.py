"""Crash safety: the real bot (`python -m safety_bot.cli run`) as a subprocess against the fake Discord,
killed with SIGKILL again and again while members report and moderators ban and remove, at random moments
and at named points (`safety_bot/faults.py`):

  report.committed                    the report is committed, the member not yet told "received"
  action.before_call.{ban,remove_message}   the action is in the outbox, Discord not yet called
  action.after_call.{ban,remove_message}    Discord answered, the outbox entry not yet marked done

After the kills one clean run finishes what is left. Then, against what the fake Discord really received:
  - every report whose member got the "received" reply is in the database;
  - no ban (PUT /bans/<user>) and no delete (DELETE /messages/<id>) was sent twice for the same target;
  - none was lost: every ban and removal the bot accepted (audit log) happened, and so did every one a
    moderator was told about; nothing is left pending in the outbox.

Several lanes (own fake Discord, own database, own bot process) run side by side so the kills fit in a
CI run; SAFETY_BOT_CRASH_KILLS (default 200) and SAFETY_BOT_CRASH_LANES (default 4) size it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from safety_bot.config import LimitsConfig, load_config
from safety_bot.store import open_store
from tests.fakes.discord_server import EPHEMERAL, LOADING, VIEW_CHANNEL, FakeDiscord
from tests.hardening.conftest import record

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("SAFETY_BOT_CRASH_KILLS", "200"))
LANES = int(os.environ.get("SAFETY_BOT_CRASH_LANES", "4"))
SEED = int(os.environ.get("SAFETY_BOT_CRASH_SEED", str(int(time.time()))))
RECEIVED = "Your report is saved"  # from report_received (en)
NAMED = ["report.committed", "action.before_call.ban", "action.after_call.ban",
         "action.before_call.remove_message", "action.after_call.remove_message"]


def _text(it) -> str:
    return "\n".join(m.get("content") or "" for m in it.messages
                     if m["flags"] & EPHEMERAL and not m["flags"] & LOADING)


@dataclass
class Lane:
    n: int
    dir: Path
    rng: random.Random
    fake: FakeDiscord | None = None
    kills: Counter = field(default_factory=Counter)
    not_reached: Counter = field(default_factory=Counter)  # named points the life ended without reaching
    lives: int = 0
    reports: list = field(default_factory=list)  # (token, modal submit interaction)
    bans: list = field(default_factory=list)  # (user id, interaction)
    removes: list = field(default_factory=list)  # (message id, interaction)
    counter: int = 0
    ops: Counter = field(default_factory=Counter)
    driver_errors: Counter = field(default_factory=Counter)
    proc: asyncio.subprocess.Process | None = None
    env: dict = field(default_factory=dict)  # more environment for the bot and the config (the shared-store test)

    # ------------------------------------------------------------------ world and config
    async def setup(self) -> None:
        self.fake = f = await FakeDiscord().start()
        f.interaction_timeout = 5.0  # two cores, four bots: a busy machine
        self.guild = f.add_guild("Haven")
        self.role = f.add_role(self.guild, "Safety Team")
        self.general = f.add_channel(self.guild, "general")
        self.safety = f.add_channel(self.guild, "safety", private=True, overwrites={self.role: (VIEW_CHANNEL, 0)})
        self.mod = f.add_member(self.guild, name="mod", roles=[self.role])
        self.reporters = [f.add_member(self.guild, name=f"member{i}") for i in range(8)]
        self.spammer = f.add_member(self.guild, name="spammer")
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {
            "playbooks": str(ROOT / "playbooks"),
            "storage": {"database": str(self.dir / "db.sqlite3")},
            "exports_dir": str(self.dir / "exports"),
            "log_level": "WARNING",
            "limits": {"reports_per_hour": 1000, **({"mod_actions_per_hour": 10000}
                                                     if "mod_actions_per_hour" in LimitsConfig.model_fields else {})},
            "discord": {"token": "${DISCORD_TOKEN}", "api_base_url": f.api_base_url, "gateway_url": f.gateway_url,
                        "guilds": [{"id": self.guild, "safety_channel": self.safety, "safety_role": self.role}]},
        }
        self.config_path = self.dir / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(data), encoding="utf-8")

    # ------------------------------------------------------------------ the bot process
    async def spawn(self, crash_at: str | None) -> None:
        env = {k: v for k, v in os.environ.items() if k != "SAFETY_BOT_CRASH_AT"}
        env["DISCORD_TOKEN"] = self.fake.token
        env.update(self.env)
        env["PYTHONPATH"] = str(ROOT)
        if crash_at:
            env["SAFETY_BOT_CRASH_AT"] = crash_at
        before = self.fake.identify_count
        with open(self.dir / "bot.log", "ab") as log:
            log.write(f"--- life {self.lives} crash_at={crash_at}\n".encode())
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "safety_bot.cli", "run", "--config", str(self.config_path),
                cwd=str(ROOT), env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
        self.lives += 1
        self.identified = asyncio.create_task(self._identified(before))

    async def _identified(self, before: int) -> bool:
        while self.fake.identify_count <= before:
            if self.proc.returncode is not None:
                return False
            await asyncio.sleep(0.02)
        return True

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    # ------------------------------------------------------------------ what members and moderators do
    async def report(self) -> None:
        self.counter += 1
        token = f"crashtoken-{self.n}-{self.counter}"
        it = await self.fake.send_slash_command(self.guild, self.general, self.rng.choice(self.reporters), "report")
        await it.wait_response(8)
        if it.modal is None:
            return
        sub = await self.fake.submit_modal(it, {"what": f"He threatens to share my pictures {token}"})
        self.reports.append((token, sub))
        await sub.wait_messages(1, 10)

    async def ban(self) -> None:
        self.counter += 1
        target = self.fake.add_member(self.guild, name=f"suspect{self.counter}")
        it = await self.fake.send_slash_command(self.guild, self.safety, self.mod, "safety",
                                                {"member": target, "confirm": True}, subcommand="ban")
        self.bans.append((target, it))
        await it.wait_messages(1, 10)

    async def remove(self) -> None:
        mid = self.fake.add_message(self.general, self.spammer, f"spam {self.counter}")
        link = f"https://discord.com/channels/{self.guild}/{self.general}/{mid}"
        it = await self.fake.send_slash_command(self.guild, self.safety, self.mod, "safety", {"link": link},
                                                subcommand="remove")
        self.removes.append((mid, it))
        await it.wait_messages(1, 10)

    async def traffic(self, focus: str | None) -> None:
        ops = {"report": self.report, "ban": self.ban, "remove_message": self.remove}
        await self.identified
        while True:
            name = focus if focus and self.rng.random() < 0.6 else self.rng.choice(list(ops))
            self.ops[name] += 1
            try:
                await ops[name]()
            except (TimeoutError, asyncio.TimeoutError):
                pass  # the bot died (or was about to): the next life goes on
            except Exception as exc:  # a problem in the test driver itself: keep count, keep going
                self.driver_errors[f"{name}: {exc.__class__.__name__}: {exc}"[:200]] += 1
            await asyncio.sleep(self.rng.uniform(0, 0.1))

    # ------------------------------------------------------------------ one life: start, work, die
    async def life(self) -> None:
        r = self.rng.random()
        crash_at = None
        if r < 0.5:
            point = self.rng.choice(NAMED)
            crash_at = f"{point}:{self.rng.randint(1, 2)}"
        await self.spawn(crash_at)
        focus = crash_at.split(":")[0].rsplit(".", 1)[-1] if crash_at else None
        focus = "report" if focus == "committed" else focus
        workers = [asyncio.create_task(self.traffic(focus)) for _ in range(2)]
        try:
            if crash_at:
                try:
                    await asyncio.wait_for(self.proc.wait(), 15)
                    self.kills[crash_at.split(":")[0]] += 1
                except (TimeoutError, asyncio.TimeoutError):
                    self.not_reached[crash_at.split(":")[0]] += 1
                    await self.kill()
                    self.kills["random"] += 1
            else:
                if r < 0.6:  # during start-up and resume
                    await asyncio.sleep(self.rng.uniform(0.2, 2.5))
                else:
                    await self.identified
                    await asyncio.sleep(self.rng.uniform(0.5, 5.0))
                if self.proc.returncode is None:
                    await self.kill()
                    self.kills["random"] += 1
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.identified.cancel()
            if self.proc.returncode is None:
                await self.kill()

    async def finish(self) -> None:
        """One clean life: it resumes what the kills left; stop it once Discord has been quiet for a while."""
        await self.spawn(None)
        assert await asyncio.wait_for(self.identified, 30), "the bot did not connect"
        await asyncio.sleep(3.0)  # guild_ready_timeout (2 s) before on_ready
        # Stop once the outbox is empty (all resumed work done) and Discord has been quiet for a while.
        # A condition, not a fixed time: on a busy machine the resumed work can take many seconds.
        seen, quiet_since = -1, time.monotonic()
        give_up = time.monotonic() + 300
        while (time.monotonic() - quiet_since < 2.5 or self._outbox_open()) and time.monotonic() < give_up:
            if len(self.fake.requests) != seen:
                seen, quiet_since = len(self.fake.requests), time.monotonic()
            await asyncio.sleep(0.1)
        self.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except (TimeoutError, asyncio.TimeoutError):
            await self.kill()

    def _outbox_open(self) -> int:
        """Outbox entries not finished yet, read beside the running bot (WAL: readers do not block it).
        A lane on PostgreSQL (test_crash_shared) has no SQLite file: there the quiet period decides."""
        if not (self.dir / "db.sqlite3").exists():
            return 0
        con = sqlite3.connect(f"file:{self.dir / 'db.sqlite3'}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')").fetchone()[0]
        except sqlite3.Error:
            return 1
        finally:
            con.close()

    def acked_reports(self) -> set[str]:
        """The tokens of the reports whose member saw "Your report is saved"."""
        return {tok for tok, sub in self.reports if RECEIVED in _text(sub)}

    # ------------------------------------------------------------------ the verdict
    async def check(self) -> dict:
        config = load_config(self.config_path, env={"DISCORD_TOKEN": self.fake.token, **self.env})
        store = await open_store(config)
        try:
            pending = await store.outbox_pending() + await store.outbox_sending()
            stored_texts = []
            for case in await store.list_cases(str(self.guild)):
                stored_texts += [r.text for r in await store.reports_for(case.id)]
            audit = await store.audit_entries()
        finally:
            await store.close()
        found = {m.group(0) for t in stored_texts for m in re.finditer(r"crashtoken-\d+-\d+", t)}
        acked_reports = self.acked_reports()
        lost_reports = acked_reports - found

        prefix = "discord:"
        ban_requested = {int(k[len(prefix):]) for e in audit if e.action == "ban.requested"
                         for k in e.detail.get("targets", [])}
        remove_requested = {int(e.detail["message"]) for e in audit if e.action == "message.remove"}
        acked_bans = {t for t, it in self.bans if "Banning" in _text(it) and "Not done" not in _text(it)}
        acked_removes = {m for m, it in self.removes if "Capturing evidence" in _text(it) and "Not done" not in _text(it)}
        puts = Counter(int(m.group(1)) for r in self.fake.requests if r.method == "PUT"
                       and (m := re.fullmatch(rf"/guilds/{self.guild}/bans/(\d+)", r.path)))
        deletes = Counter(int(m.group(1)) for r in self.fake.requests if r.method == "DELETE"
                          and (m := re.fullmatch(rf"/channels/{self.general}/messages/(\d+)", r.path)))
        banned = set(self.fake.bans(self.guild))
        deleted = self.fake.deleted_message_ids
        return {
            "lane": self.n, "lives": self.lives, "kills": dict(self.kills), "not_reached": dict(self.not_reached),
            "reports_sent": len(self.reports), "reports_acked": len(acked_reports), "reports_found": len(found),
            "lost_reports": sorted(lost_reports),
            "bans_requested": len(ban_requested), "bans_acked": len(acked_bans),
            "bans_twice": sorted(u for u, c in puts.items() if c > 1),
            "bans_lost": sorted((ban_requested | acked_bans) - banned),
            "bans_exactly_once": sum(1 for u in ban_requested if puts[u] == 1 and u in banned),
            "removes_requested": len(remove_requested), "removes_acked": len(acked_removes),
            "deletes_twice": sorted(m for m, c in deletes.items() if c > 1),
            "removes_lost": sorted((remove_requested | acked_removes) - deleted),
            "removes_exactly_once": sum(1 for m in remove_requested if deletes[m] == 1 and m in deleted),
            "pending_left": len(pending),
        }


async def _run_lane(lane: Lane, kills: int, deadline: float) -> None:
    await lane.setup()
    # The kills and an acknowledged report (else nothing of intake is checked) are the conditions.
    while (sum(lane.kills.values()) < kills or not lane.acked_reports()) and time.monotonic() < deadline:
        await lane.life()
    await lane.finish()


async def test_sigkill_at_random_moments_and_named_points_loses_nothing_and_repeats_nothing(tmp_path):
    start = time.monotonic()
    lanes = [Lane(i, tmp_path / f"lane{i}", random.Random(SEED * 100 + i)) for i in range(LANES)]
    per_lane = -(-KILLS // LANES)
    try:
        # The kills are the condition; the deadline only guards against a run that can never get there.
        await asyncio.gather(*(_run_lane(lane, per_lane, start + 1200) for lane in lanes))
        results = [await lane.check() for lane in lanes]
    finally:
        for lane in lanes:
            if lane.proc is not None and lane.proc.returncode is None:
                await lane.kill()
            if lane.fake is not None:
                await lane.fake.stop()
    total = Counter()
    for res in results:
        for key, value in res.items():
            if isinstance(value, int) and key != "lane":
                total[key] += value
    kills = Counter()
    for lane in lanes:
        kills.update(lane.kills)
    not_reached = Counter()
    for lane in lanes:
        not_reached.update(lane.not_reached)
    figures = dict(seed=SEED, seconds=round(time.monotonic() - start, 1), kills_survived=sum(kills.values()),
                   kills_by_point=dict(kills), named_not_reached=dict(not_reached), lives=total["lives"],
                   reports_sent=total["reports_sent"], reports_acknowledged=total["reports_acked"],
                   reports_found=total["reports_found"], bans_requested=total["bans_requested"],
                   bans_acknowledged=total["bans_acked"], bans_exactly_once=total["bans_exactly_once"],
                   removes_requested=total["removes_requested"], removes_acknowledged=total["removes_acked"],
                   removes_exactly_once=total["removes_exactly_once"], outbox_pending_left=total["pending_left"])
    record("crash", **figures)
    print("crash test:", figures)
    problems = [r for r in results if r["lost_reports"] or r["bans_twice"] or r["bans_lost"] or r["deletes_twice"]
                or r["removes_lost"] or r["pending_left"]]
    assert not problems, f"seed {SEED}: {problems} (logs in {tmp_path}/lane*/bot.log)"
    assert sum(kills.values()) >= KILLS, f"only {sum(kills.values())} kills before the 20-minute guard"
    assert total["bans_requested"] and total["removes_requested"] and total["reports_acked"]
