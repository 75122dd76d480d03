"""Start-up benchmark: the console bot from launch to exit (`quit` typed at once), against the bare imports.

Peer, in the same run: `python -c "import discord, nio, aiosqlite, yaml, pydantic"`: the libraries the bot
cannot start without, and nothing of ours. The bot's run loads the config, the playbooks and locales
(validated), opens the SQLite database (existing, already migrated), starts the console and exits.
Runs alternate bot and peer (`--runs`, default 7); prints medians of wall time and of CPU time (user +
system of the child process; on a busy machine CPU time is the steadier figure) and the ratios.
Target: the bot within 2 times the bare imports.

    .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from common import median, print_machine, ratio, record, spread, table  # noqa: E402

PEER = "import discord, nio, aiosqlite, yaml, pydantic"


def timed(cmd: list[str], stdin: str = "") -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "0"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    machine = print_machine()
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        config = yaml.safe_load((ROOT / "config.yaml").read_text())
        config["storage"] = {"database": str(tmp / "db.sqlite3")}
        config["exports_dir"] = str(tmp / "exports")
        config["playbooks"] = str(ROOT / "playbooks")
        config.pop("discord", None)
        config.pop("matrix", None)
        (tmp / "config.yaml").write_text(yaml.safe_dump(config))
        bot = [sys.executable, "-m", "safety_bot.cli", "run", "--config", str(tmp / "config.yaml")]
        peer = [sys.executable, "-c", PEER]
        timed(bot, "quit\n")  # first run: creates the database and its key; also warms the file cache
        timed(peer)
        results: dict[str, list[tuple[float, float]]] = {"bot": [], "peer": []}
        for _ in range(args.runs):
            results["bot"].append(timed(bot, "quit\n"))
            results["peer"].append(timed(peer))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wall = {k: [w for w, _ in v] for k, v in results.items()}
    cpu = {k: [c for _, c in v] for k, v in results.items()}
    fmt = "{:.2f}"
    rows = [
        ("wall time, s", spread(wall["bot"], fmt), spread(wall["peer"], fmt),
         ratio(median(wall["bot"]), median(wall["peer"]))),
        ("CPU time (user + system), s", spread(cpu["bot"], fmt), spread(cpu["peer"], fmt),
         ratio(median(cpu["bot"]), median(cpu["peer"]))),
    ]
    body = (f"Machine: {machine}. {args.runs} runs each, alternating, median (min-max).\n"
            f"Bot: `safety-bot run` (console, existing database) until `quit`. Peer: `python -c \"{PEER}\"`.\n\n"
            + table(("start-up", "console bot", "bare imports", "ratio"), rows))
    print()
    record("Start-up", body)
    r = median(cpu["bot"]) / median(cpu["peer"])
    print(f"\ntarget: within 2x the bare imports (CPU time): {r:.2f} {'OK' if r <= 2 else 'ABOVE'}")


if __name__ == "__main__":
    main()
