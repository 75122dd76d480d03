"""Durable intake on PostgreSQL with 1 and 2 bot processes, and SQLite beside it in the same run.

A report counts when `service.report()` returns: by then it is committed (SQLite synchronous=FULL;
PostgreSQL synchronous_commit=on, so the server has flushed its WAL) and the member would be told
"received". Each configuration runs closed loop (saturation: every member reports again as soon as the last
was acknowledged) and open loop (Poisson arrivals at --rate reports/s across all members). With two
processes, each runs half the members against the same database, started at the same moment.
PostgreSQL is a private server started for the run (pgserver: its bundled binaries, a Unix socket in a
temporary folder), with its default settings.

    .venv/bin/python bench/postgres_intake.py [--reports 2000] [--members 50] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from safety_bot.config import Config  # noqa: E402
from safety_bot.crypto import new_key_text  # noqa: E402
from safety_bot.domain import UserRef  # noqa: E402
from safety_bot.playbooks import load_library  # noqa: E402
from safety_bot.service import Community, ReportEvent, SafetyService  # noqa: E402


async def open_store(backend: str, where: str, key: str):
    if backend == "sqlite":
        from safety_bot.store.sqlite import SqliteStore

        return await SqliteStore.open(where, synchronous="full", key=key)
    from safety_bot.store.postgres import PostgresStore

    return await PostgresStore.open(where, key=key, max_size=10)


async def worker(backend: str, where: str, key: str, first: int, members: int, per_member: int, rate: float,
                 start_at: float) -> dict:
    """One bot process's share: `members` members from number `first`, each reporting `per_member` times."""
    import random

    store = await open_store(backend, where, key)
    config = Config(base_dir=str(ROOT), limits={"reports_per_hour": 1000})
    service = SafetyService(store, load_library(ROOT / "playbooks"), config)
    service.add_community(Community("bench", "bench", "bench"))
    rnd = random.Random(first + 7)
    latencies: list[float] = []
    acked = 0
    arrivals, t = [], 0.0
    for _ in range(per_member * members):
        t += rnd.expovariate(rate) if rate else 0.0
        arrivals.append(t)

    async def member(i: int) -> None:
        nonlocal acked
        user = UserRef("bench", f"member{first + i}", f"Member {first + i}")
        for j in range(per_member):
            if rate:
                await asyncio.sleep(max(0.0, start_at + arrivals[j * members + i] - time.time()))
            t0 = time.perf_counter()
            out = await service.report(ReportEvent(community="bench", reporter=user, text=f"report {i}-{j}: he threatens me"))
            latencies.append(time.perf_counter() - t0)
            acked += bool(out.ok)

    await asyncio.sleep(max(0.0, start_at - time.time()))
    began = time.time()
    await asyncio.gather(*(member(i) for i in range(members)))
    ended = time.time()
    await store.close()
    return {"latencies": latencies, "acked": acked, "began": began, "ended": ended}


async def count_reports(backend: str, where: str, key: str) -> tuple[int, bool]:
    from safety_bot.store.base import verify_chain

    store = await open_store(backend, where, key)
    try:
        cases = await store.list_cases("bench")
        return len(cases), verify_chain(await store.audit_entries(), store.audit_chain.keys) is None
    finally:
        await store.close()


def run_processes(backend: str, where: str, key: str, processes: int, args, rate: float) -> list[dict]:
    start_at = time.time() + 3.0  # every process has opened its store by then
    share = args.members // processes
    per_member = args.reports // args.members
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(
        [backend, where, key, p * share, share, per_member, rate / processes if rate else 0.0, start_at])],
        stdout=subprocess.PIPE, text=True) for p in range(processes)]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        assert proc.returncode == 0, f"a worker failed ({proc.returncode})"
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def report(label: str, results: list[dict], found: int, chain_ok: bool, rate: float) -> None:
    lat = sorted(x for r in results for x in r["latencies"])
    acked = sum(r["acked"] for r in results)
    elapsed = max(r["ended"] for r in results) - min(r["began"] for r in results)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    mode = f"open loop, {rate:.0f} reports/s offered" if rate else "closed loop (saturation)"
    print(f"{label:34s} {mode:34s} {acked / elapsed:7.0f} reports/s   p50 {p(0.5):6.2f} ms   p99 {p(0.99):7.2f} ms"
          f"   acknowledged {acked}, stored {found - found_before.get(label, 0)}, chain {'ok' if chain_ok else 'BROKEN'}")
    found_before[label] = found


found_before: dict[str, int] = {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=2000)
    ap.add_argument("--members", type=int, default=50)
    ap.add_argument("--rate", type=float, default=500.0, help="offered load for the open-loop runs, reports/s")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(worker(*json.loads(args.worker)))))
        return
    import pgserver

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start; python "
          f"{sys.version.split()[0]}; {args.reports} reports from {args.members} members per run")
    print("target: at least 1,000 durable reports/s with p99 under 50 ms (PostgreSQL, synchronous commit on)")
    folder = Path(tempfile.mkdtemp(prefix="safety-bot-bench-pg-"))
    folder.chmod(0o755)
    server = pgserver.get_server(folder / "pg", cleanup_mode="delete")
    try:
        version = server.psql("SHOW server_version;").split("\n")[2].strip()
        print(f"PostgreSQL {version} (pgserver), synchronous_commit=on, Unix socket; SQLite synchronous=FULL, WAL")
        key = new_key_text()
        for n, name in enumerate(["sqlite", "pg1", "pg2"]):
            if name == "sqlite":
                where, backend, procs, label = str(folder / "bench.sqlite3"), "sqlite", 1, "SQLite, 1 process"
            else:
                server.psql(f"CREATE DATABASE {name};")
                where, backend = server.get_uri(name), "postgres"
                procs = 1 if name == "pg1" else 2
                label = f"PostgreSQL, {procs} process{'es' if procs > 1 else ''}"
            for rate in (0.0, args.rate):
                results = run_processes(backend, where, key, procs, args, rate)
                found, chain_ok = asyncio.run(count_reports(backend, where, key))
                report(label, results, found, chain_ok, rate)
    finally:
        server.cleanup()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
