"""What the Synapse module (adapters/matrix/synapse_module.py) adds to an upload, measured on real Synapses.

    .venv/bin/python bench/synapse_module.py [--uploads 60] [--bank 1000]

Two Synapses run side by side on loopback: one plain, one with the module loaded, asking a running bot
(App + Matrix adapter + HTTP listener, in this process) whose hash bank holds --bank entries, so every
upload is read, sent over loopback, hashed (PDQ, SHA-256, MD5) and matched. The same distinct 1 MP JPEGs
(1000 x 1000) are uploaded to both, alternating, one at a time; the added latency is the difference of the
two distributions (median and p95). Target: under 30 ms at p95 for a 1 MP picture.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import machine, record, table  # noqa: E402
from tests.fakes.synapse import SynapseServer  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uploads", type=int, default=60)
    ap.add_argument("--bank", type=int, default=1000)
    args = ap.parse_args()

    import numpy as np
    from PIL import Image

    from safety_bot.ops.health import start_http
    from tests.matrix.test_adapter_dm import BotHarness

    secret, port = secrets.token_hex(16), free_port()
    tmp = Path(tempfile.mkdtemp(prefix="safety-bot-bench-module-"))
    plain = SynapseServer(tmp / "plain")
    module = SynapseServer(tmp / "module", extra_config={"modules": [
        {"module": "adapters.matrix.synapse_module.SafetyBotSpamChecker",
         "config": {"bot_url": f"http://127.0.0.1:{port}", "secret": secret}}]})
    print("starting two Synapses ...", flush=True)
    plain.start()
    module.start()
    h = None
    try:
        h = await BotHarness(module, tmp / "bot", config_extra={"http": {"listen": f"127.0.0.1:{port}"}},
                             matrix_extra={"synapse_module_secret": "${MODULE_SECRET}"},
                             env_extra={"MODULE_SECRET": secret}).setup()
        (tmp / "bot").mkdir(exist_ok=True)
        await h.start()
        await start_http(h.app)
        rng = np.random.default_rng(7)
        for _ in range(args.bank):  # unrelated banked hashes: the match really runs
            await h.app.bank.add_hashes("matrix", pdq=rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex(),
                                        sha256=None, md5=None, quality=100, category="adult", actor="bench")
        await h.app.bank.refresh()
        while h.app.homeserver_check.last_hello is None:
            await asyncio.sleep(0.1)
        users = {s: s.register() for s in (plain, module)}

        def picture(seed: int) -> bytes:
            r = np.random.default_rng(seed)
            y, x = np.mgrid[0:1000, 0:1000].astype(np.float32)
            arr = np.stack([127 + 120 * np.sin(x / r.uniform(20, 90) + r.uniform(0, 6)) * np.cos(y / r.uniform(20, 90))
                            for _ in range(3)], -1) + r.normal(0, 12, (1000, 1000, 3))
            buf = io.BytesIO()
            Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(buf, "JPEG", quality=85)
            return buf.getvalue()

        times: dict[str, list[float]] = {"plain": [], "module": []}
        sizes = []
        for i in range(args.uploads + 5):
            data = picture(1000 + i)
            sizes.append(len(data))
            order = [("plain", plain), ("module", module)] if i % 2 else [("module", module), ("plain", plain)]
            for name, server in order:
                t0 = time.perf_counter()
                resp = await asyncio.to_thread(server.request, "POST", "/_matrix/media/v3/upload",
                                               token=users[server].access_token, data=data, content_type="image/jpeg")
                took = time.perf_counter() - t0
                if resp.status != 200:
                    raise SystemExit(f"upload to the {name} Synapse: HTTP {resp.status}")
                if i >= 5:  # warm-up
                    times[name].append(took)
        p50 = {k: statistics.median(v) * 1000 for k, v in times.items()}
        p95 = {k: pct(v, 95) * 1000 for k, v in times.items()}
        paired = [(m - p) * 1000 for m, p in zip(times["module"], times["plain"])]  # same picture, back to back
        inside = [t * 1000 for t in list(h.app.homeserver_check.media_seconds)[-args.uploads:]]
        rows = [("plain Synapse", f"{p50['plain']:.1f} ms", f"{p95['plain']:.1f} ms"),
                ("Synapse + safety-bot module", f"{p50['module']:.1f} ms", f"{p95['module']:.1f} ms"),
                ("added by the module (difference of the two columns)", f"{p50['module'] - p50['plain']:.1f} ms",
                 f"{p95['module'] - p95['plain']:.1f} ms"),
                ("added by the module (same picture, back to back)", f"{statistics.median(paired):.1f} ms",
                 f"{pct(paired, 95):.1f} ms"),
                ("the bot's answer to the module (read, hash, match), measured in the bot",
                 f"{statistics.median(inside):.1f} ms", f"{pct(inside, 95):.1f} ms")]
        print()
        record("Synapse module: added upload latency (real Synapse, loopback)",
               f"Machine: {machine()}. {args.uploads} distinct 1 MP JPEG uploads (1000 x 1000, about "
               f"{statistics.median(sizes) / 1024:.0f} KB) to each of two Synapses, alternating; the bot's bank holds "
               f"{args.bank} entries. Load average during the run: {os.getloadavg()[0]:.1f}. Target: added p95 under "
               "30 ms.\n\n" + table(("upload", "median", "p95"), rows))
    finally:
        if h is not None:
            await h.stop()
        plain.stop(cleanup=True)
        module.stop(cleanup=True)


if __name__ == "__main__":
    asyncio.run(main())
