"""What every benchmark shares: the machine line, medians, and the results table.

Each benchmark measures the project and a peer (the same work done the plainest way) in the same run and
prints the ratio. Absolute figures depend on the machine; the ratios are what the README quotes.
`record()` writes a benchmark's rows into its own section of bench/results.md (other sections are kept),
so `make bench` leaves one table for the README.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.md"
HEADER = ("# Benchmark results\n\nWritten by `make bench` (each benchmark rewrites its own section). Ratios compare\n"
          "the project with a peer measured in the same run on the same machine; absolute figures are only\n"
          "for scale on the machine named in each section.\n")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        if m:
            return m.group(1).strip()
    except Exception:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu_model()}, {usable} usable cores, Python {platform.python_version()}"


def print_machine() -> str:
    line = machine()
    print(f"machine: {line}", flush=True)
    return line


def median(values) -> float:
    return statistics.median(values)


def spread(values, fmt="{:.0f}") -> str:
    """`median (min-max)` of repeated runs."""
    values = list(values)
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def ratio(project: float, peer: float) -> str:
    return f"{project / peer:.2f}" if peer else "n/a"


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def record(section: str, body: str) -> None:
    """Print `body` and store it as `## section` in bench/results.md, replacing an older run's section."""
    print(body, flush=True)
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    block = f"## {section}\n\n{body.strip()}\n\n_measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}_\n"
    pattern = re.compile(rf"^## {re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + block
    RESULTS.write_text(text)


def python() -> str:
    return sys.executable
