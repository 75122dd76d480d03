"""Intake benchmark: durable reports per second and intake latency (core + SQLite).

1,000 reports from 50 concurrent members. A report counts when `service.report()` returns: by then it
is committed (with synchronous=FULL, fsynced) and the member would be told "received". Prints the
SQLite synchronous setting and the filesystem the database lived on (tmpfs hides the cost of fsync).

    .venv/bin/python bench/intake.py [--reports 1000] [--members 50] [--dir PATH] [--synchronous full]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=1000)
    ap.add_argument("--members", type=int, default=50)
    ap.add_argument("--dir", default=None, help="folder for the database (default: a temp folder under the repo)")
    ap.add_argument("--synchronous", default="full", choices=["full", "normal", "extra"])
    ap.add_argument("--rate", type=float, default=300.0,
                    help="offered load for the open-loop run, reports/s across all members")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    await run(args, rate=None)
    await run(args, rate=args.rate)


async def run(args, rate: float | None) -> None:
    """rate=None: closed loop, every member reports again as soon as the last was acknowledged
    (saturation throughput; latency is mostly queueing). Otherwise an open loop: members report at
    random (Poisson) moments adding up to `rate` reports/s, as real members would."""
    import random

    rnd = random.Random(7)
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT))
    db = folder / "bench.sqlite3"
    store = await SqliteStore.open(db, synchronous=args.synchronous)
    config = Config(base_dir=str(ROOT), limits={"reports_per_hour": 1000})
    service = SafetyService(store, load_library(ROOT / "playbooks"), config)
    service.add_community(Community("bench", "bench", "bench"))
    latencies: list[float] = []
    acknowledged: list[int] = []
    per_member = args.reports // args.members

    # Open loop: one Poisson arrival stream at `rate` reports/s, dealt out to the members in turn.
    arrivals, t = [], 0.0
    for _ in range(per_member * args.members):
        t += rnd.expovariate(rate) if rate else 0.0
        arrivals.append(t)

    async def member(i: int) -> None:
        user = UserRef("bench", f"member{i}", f"Member {i}")
        for j in range(per_member):
            if rate:
                due = begin + arrivals[j * args.members + i]
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            t0 = time.perf_counter()
            out = await service.report(ReportEvent(community="bench", reporter=user, text=f"report {i}-{j}: he threatens me"))
            latencies.append(time.perf_counter() - t0)
            if out.ok:
                acknowledged.append(out.case_number)

    begin = time.perf_counter()
    start = time.perf_counter()
    await asyncio.gather(*(member(i) for i in range(args.members)))
    elapsed = time.perf_counter() - start
    cases = await store.list_cases("bench")
    found = len(cases)
    reports = 0
    for c in cases:
        reports += len(await store.reports_for(c.id))
    await store.close()
    lat = sorted(latencies)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    mode = f"open loop at {rate:.0f} reports/s offered" if rate else "closed loop (saturation)"
    print(f"--- {mode}")
    print(f"database: {db} on {filesystem_of(folder)}; PRAGMA synchronous={args.synchronous.upper()}; journal_mode=WAL")
    print(f"reports: {len(latencies)} from {args.members} concurrent members in {elapsed:.2f} s")
    print(f"durable reports/s: {len(acknowledged) / elapsed:.0f}")
    print(f"intake latency: p50 {p(0.50):.2f} ms, p99 {p(0.99):.2f} ms, max {lat[-1] * 1000:.2f} ms "
          f"(mean {statistics.mean(lat) * 1000:.2f} ms)")
    print(f"acknowledged: {len(acknowledged)}, cases found after the run: {found}, reports found: {reports}, "
          f"lost: {len(acknowledged) - found}")
    if not args.dir:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


if __name__ == "__main__":
    asyncio.run(main())
