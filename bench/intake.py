"""Intake benchmark: durable reports per second and intake latency, against a plain SQLite commit loop.

1,000 reports from 50 concurrent members, twice: a closed loop (every member reports again as soon as
the last one was acknowledged: saturation) and an open loop (members report at random moments adding up
to 300 reports/s, as real members would). A report counts when `service.report()` returns: by then it is
committed and fsynced (WAL, synchronous=FULL) and the member would be told "received".

The peer, under the same loads in the same run: a plain aiosqlite loop where every report is one
INSERT committed on its own (same WAL and synchronous=FULL, same filesystem): one fsync per report and
nothing else. The floor of both is fsync; its median time on this folder is printed too. Runs alternate
project and peer (`--rounds`, default 3) and print median (min-max).

    .venv/bin/python bench/intake.py [--reports 1000] [--members 50] [--rate 300] [--rounds 3] [--dir PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiosqlite  # noqa: E402
from common import percentile, print_machine, ratio, record, spread, table  # noqa: E402

from safety_bot.config import Config  # noqa: E402
from safety_bot.domain import UserRef  # noqa: E402
from safety_bot.playbooks import load_library  # noqa: E402
from safety_bot.service import Community, ReportEvent, SafetyService  # noqa: E402
from safety_bot.store.sqlite import SqliteStore  # noqa: E402


def filesystem_of(path: Path) -> str:
    try:
        out = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()
        return out[-1].split()[1]
    except Exception:
        return "unknown"


def fsync_ms(folder: Path, n: int = 200) -> float:
    """Median time of a 4 kB append + fsync in `folder`: the cost of one durable commit's flush."""
    path = folder / "fsync-probe"
    times = []
    with open(path, "wb") as fh:
        for _ in range(n):
            fh.write(os.urandom(4096))
            fh.flush()
            t0 = time.perf_counter()
            os.fsync(fh.fileno())
            times.append(time.perf_counter() - t0)
    path.unlink()
    return sorted(times)[n // 2] * 1000


async def drive(submit, members: int, reports: int, rate: float | None, seed: int = 7):
    """Run `submit(member, j)` (True when acknowledged) for every report. Closed loop when rate is None,
    else a Poisson arrival stream at `rate` reports/s dealt out to the members in turn."""
    rnd = random.Random(seed)
    per_member = reports // members
    arrivals, t = [], 0.0
    for _ in range(per_member * members):
        t += rnd.expovariate(rate) if rate else 0.0
        arrivals.append(t)
    latencies: list[float] = []
    acked = 0

    async def member(i: int) -> None:
        nonlocal acked
        for j in range(per_member):
            if rate:
                await asyncio.sleep(max(0.0, begin + arrivals[j * members + i] - time.perf_counter()))
            t0 = time.perf_counter()
            ok = await submit(i, j)
            latencies.append(time.perf_counter() - t0)
            acked += bool(ok)

    begin = time.perf_counter()
    await asyncio.gather(*(member(i) for i in range(members)))
    elapsed = time.perf_counter() - begin
    lat = sorted(latencies)
    return {"per_s": acked / elapsed, "p50": percentile(lat, 0.5) * 1000, "p99": percentile(lat, 0.99) * 1000,
            "acked": acked}


async def run_project(folder: Path, args, rate: float | None) -> dict:
    db = folder / f"project-{time.monotonic_ns()}.sqlite3"
    store = await SqliteStore.open(db, synchronous=args.synchronous)
    config = Config(base_dir=str(ROOT), limits={"reports_per_hour": 1000})
    service = SafetyService(store, load_library(ROOT / "playbooks"), config)
    service.add_community(Community("bench", "bench", "bench"))
    users = [UserRef("bench", f"member{i}", f"Member {i}") for i in range(args.members)]

    async def submit(i: int, j: int) -> bool:
        out = await service.report(ReportEvent(community="bench", reporter=users[i],
                                               text=f"report {i}-{j}: he threatens to send my pictures"))
        return out.ok

    commits_before = getattr(store, "commits", 0)
    res = await drive(submit, args.members, args.reports, rate)
    res["commits"] = getattr(store, "commits", 0) - commits_before
    # Nothing acknowledged is lost: every acknowledged report is in the database.
    cases = await store.list_cases("bench")
    reports = sum([len(await store.reports_for(c.id)) for c in cases])
    res["lost"] = res["acked"] - min(len(cases), reports)
    await store.close()
    return res


async def run_plain(folder: Path, args, rate: float | None) -> dict:
    db = await aiosqlite.connect(str(folder / f"plain-{time.monotonic_ns()}.sqlite3"), isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute(f"PRAGMA synchronous={args.synchronous.upper()}")
    await db.execute("CREATE TABLE reports (id INTEGER PRIMARY KEY, member TEXT, text TEXT, at REAL)")

    async def submit(i: int, j: int) -> bool:
        # autocommit: this INSERT is one transaction, committed (and fsynced) before execute returns
        await db.execute("INSERT INTO reports (member, text, at) VALUES (?, ?, ?)",
                         (f"member{i}", f"report {i}-{j}: he threatens to send my pictures", time.time()))
        return True

    res = await drive(submit, args.members, args.reports, rate)
    async with db.execute("SELECT COUNT(*) FROM reports") as cur:
        res["lost"] = res["acked"] - (await cur.fetchone())[0]
    res["commits"] = res["acked"]
    await db.close()
    return res


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=1000)
    ap.add_argument("--members", type=int, default=50)
    ap.add_argument("--rate", type=float, default=300.0, help="offered load of the open loop, reports/s")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="folder for the databases (default: a temp folder under the repo)")
    ap.add_argument("--synchronous", default="full", choices=["full", "normal", "extra"])
    args = ap.parse_args()
    machine = print_machine()
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT))
    folder.mkdir(parents=True, exist_ok=True)
    fs = filesystem_of(folder)
    print(f"databases in {folder} on {fs}; journal_mode=WAL, synchronous={args.synchronous.upper()}", flush=True)
    fsync = fsync_ms(folder)
    print(f"fsync of a 4 kB append in that folder: median {fsync:.2f} ms (floor: {1000 / fsync:.0f} fsyncs/s)",
          flush=True)
    runs: dict[tuple[str, str], list[dict]] = {}
    try:
        for r in range(args.rounds):
            for load, rate in (("closed", None), ("open", args.rate)):
                for who, fn in (("project", run_project), ("plain", run_plain)):
                    res = await fn(folder, args, rate)
                    runs.setdefault((who, load), []).append(res)
                    print(f"round {r + 1} {load:6s} {who:7s}: {res['per_s']:6.0f} reports/s, p50 {res['p50']:6.2f} ms,"
                          f" p99 {res['p99']:6.2f} ms, commits {res['commits']}, lost {res['lost']}", flush=True)
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)

    def med(who, load, key):
        values = sorted(x[key] for x in runs[(who, load)])
        return values[len(values) // 2]

    fmt2 = "{:.1f}"
    rows = [
        ("closed loop, 50 members: reports/s", spread(x["per_s"] for x in runs[("project", "closed")]),
         spread(x["per_s"] for x in runs[("plain", "closed")]),
         ratio(med("project", "closed", "per_s"), med("plain", "closed", "per_s"))),
        ("closed loop: p99 ms", spread((x["p99"] for x in runs[("project", "closed")]), fmt2),
         spread((x["p99"] for x in runs[("plain", "closed")]), fmt2),
         ratio(med("project", "closed", "p99"), med("plain", "closed", "p99"))),
        (f"open loop, {args.rate:.0f}/s offered: achieved/s", spread(x["per_s"] for x in runs[("project", "open")]),
         spread(x["per_s"] for x in runs[("plain", "open")]),
         ratio(med("project", "open", "per_s"), med("plain", "open", "per_s"))),
        ("open loop: p50 ms", spread((x["p50"] for x in runs[("project", "open")]), fmt2),
         spread((x["p50"] for x in runs[("plain", "open")]), fmt2), ""),
        ("open loop: p99 ms", spread((x["p99"] for x in runs[("project", "open")]), fmt2),
         spread((x["p99"] for x in runs[("plain", "open")]), fmt2), ""),
        ("closed loop: reports per fsync", fmt2.format(sum(x["acked"] for x in runs[("project", "closed")]) /
                                                       max(1, sum(x["commits"] for x in runs[("project", "closed")]))),
         "1.0", ""),
    ]
    lost = sum(x["lost"] for v in runs.values() for x in v)
    body = (f"Machine: {machine}. Databases on {fs}, WAL, synchronous={args.synchronous.upper()}; "
            f"fsync of a 4 kB append: {fsync:.2f} ms median ({1000 / fsync:.0f}/s).\n"
            f"{args.reports} reports from {args.members} members per run, {args.rounds} rounds, median (min-max).\n"
            f"Peer: plain aiosqlite, one INSERT committed per report. Acknowledged but lost: {lost}.\n\n"
            + table(("load", "intake (project)", "plain insert + commit", "ratio"), rows))
    print()
    record("Intake (durable reports)", body)
    closed_ratio = med("project", "closed", "per_s") / med("plain", "closed", "per_s")
    open_p99 = med("project", "open", "p99")
    print(f"\ntargets: saturation ratio >= 0.70: {closed_ratio:.2f} {'OK' if closed_ratio >= 0.7 else 'BELOW'}; "
          f"open loop {args.rate:.0f}/s with p99 < 25 ms: {med('project', 'open', 'per_s'):.0f}/s, p99 {open_p99:.1f} ms "
          f"{'OK' if open_p99 < 25 and med('project', 'open', 'per_s') >= 0.97 * args.rate else 'BELOW'}")


if __name__ == "__main__":
    asyncio.run(main())
