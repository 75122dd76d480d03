"""Media hashing and matching figures (prints numbers, asserts nothing).

Run: .venv/bin/python bench/media.py      (about a minute on 2 cores)

All images are generated (gradients, shapes, noise); nothing is read from or written to disk.
"""

from __future__ import annotations

import gc
import io
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from safety_bot.media import HashMatcher, hash_image_bytes  # noqa: E402


# -- helpers -----------------------------------------------------------------------------------


def _waves(rng: np.random.Generator, width: int, height: int, *, freq: tuple[float, float], level: int,
           amplitude: int) -> Image.Image:
    """A smooth colour field: per channel, a product of a sine and a cosine of random frequency."""
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    arr = np.empty((height, width, 3), np.uint8)
    for c in range(3):
        fx, fy, phase = rng.uniform(freq[0], freq[1], 3)
        arr[..., c] = level + amplitude * np.sin(x * fx * 6.283 + phase) * np.cos(y * fy * 6.283)
    return Image.fromarray(arr)


def _shapes(rng: np.random.Generator, im: Image.Image, count: int, *, radius: tuple[int, int],
            colours: tuple[int, int], polygons: bool) -> None:
    """Draw solid discs (and, with polygons, as many pentagon-ish shapes) at random places."""
    width, height = im.size
    draw = ImageDraw.Draw(im)
    for _ in range(count):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(*radius))
        colour = tuple(int(v) for v in rng.integers(colours[0], colours[1], 3))
        if not polygons or rng.random() < 0.5:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        else:
            draw.polygon([(cx + int(r * np.cos(a)), cy + int(r * np.sin(a))) for a in rng.uniform(0, 6.283, 5)],
                         fill=colour)


def generate(seed: int, width: int, height: int, *, noise: int = 16) -> Image.Image:
    """Noise + gradient + shapes, like a busy photo as far as the JPEG coder is concerned."""
    rng = np.random.default_rng(seed)
    im = _waves(rng, width, height, freq=(0.5, 4.0), level=127, amplitude=70)
    _shapes(rng, im, 10, radius=(width // 20, width // 4), colours=(0, 256), polygons=False)
    if not noise:
        return im
    arr = np.asarray(im).astype(np.int16)
    arr += rng.integers(-noise, noise + 1, arr.shape, dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def photo_like(seed: int, width: int, height: int, *, grain: float = 4.0, texture: float = 16.0) -> Image.Image:
    """Closer to what a phone camera writes: soft shading and shapes, fine texture in some regions
    (foliage, fabric, hair) and sensor grain, almost all of it in luminance (cameras smooth colour
    noise away). At 12 MP and JPEG quality 92 this gives about 3.4 MB, a middling phone photo."""
    rng = np.random.default_rng(seed)
    im = _waves(rng, width, height, freq=(0.3, 2.0), level=120, amplitude=60)
    _shapes(rng, im, 14, radius=(width // 25, width // 5), colours=(30, 230), polygons=True)
    out = np.asarray(im.filter(ImageFilter.GaussianBlur(1.2))).astype(np.float32)
    tex = rng.normal(128, 40, (height // 2, width // 2)).clip(0, 255).astype(np.uint8)
    tex = (np.asarray(Image.fromarray(tex).resize((width, height), Image.BILINEAR)).astype(np.float32) - 128) / 40
    mask = Image.fromarray(rng.uniform(0, 255, (6, 8)).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    luma = tex * texture * (np.asarray(mask).astype(np.float32) / 255)
    luma += rng.normal(0, grain, (height, width)).astype(np.float32)
    out += luma[..., None]
    out += rng.normal(0, grain / 3, out.shape).astype(np.float32)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def p99(values: list[float]) -> float:
    return float(np.percentile(values, 99))


# -- figures -----------------------------------------------------------------------------------


def machine() -> None:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print(f"machine: {usable} usable cores ({cores} online), {model or platform.processor()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, Pillow {Image.__version__}")


def bench_hashing() -> list[tuple]:
    print("\n== hashing (median of runs; decode + PDQ + SHA-256 + MD5) ==")
    print("JPEG time grows with the file's size (libjpeg's entropy decode, about 9 ms per MB here), so")
    print("each line gives the size; the last 12 MP line is a worst case, not a photo.")
    cases = []
    cases.append(("1 MP JPEG (1224x816), photo", encode(photo_like(1, 1224, 816), "JPEG", quality=92), 15))
    photo = photo_like(2, 4000, 3000)
    cases.append(("12 MP JPEG (4000x3000), photo", encode(photo, "JPEG", quality=92), 9))
    cases.append(("12 MP JPEG, same photo at q95", encode(photo, "JPEG", quality=95), 9))
    del photo
    # Independent noise of +-20 in each colour channel: far more colour detail than a camera keeps.
    cases.append(("12 MP JPEG, colour noise (worst)", encode(generate(2, 4000, 3000, noise=20), "JPEG", quality=90), 9))
    base = generate(3, 480, 360, noise=6)
    frames = []
    for i in range(30):
        f = base.copy()
        d = ImageDraw.Draw(f)
        d.ellipse([i * 14, 120, i * 14 + 90, 210], fill=(230, 30, 30))
        d.text((10, 10), f"frame {i}", fill=(0, 0, 0), font_size=28)
        frames.append(f)
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    cases.append(("30-frame GIF (480x360)", gif, 7))
    rows = []
    for label, data, runs in cases:
        h = hash_image_bytes(data)
        plain = statistics.median(timed(lambda d=data: hash_image_bytes(d), runs))
        banked = statistics.median(timed(lambda d=data: hash_image_bytes(d, with_variants=True), max(3, runs // 2)))
        extra = f", {h.frames} frames -> {len(h.frame_hashes)} kept" if h.frames > 1 else ""
        print(f"{label:34s} {len(data) / 1e6:5.2f} MB  hash {ms(plain):>10s}   "
              f"with variants {ms(banked):>10s}  (quality {h.quality}{extra})")
        if h.frames > 1:
            continue
        # Peers, same file: a plain Pillow decode to the same reduced size (the floor: no hashing at all)
        # and pdqhash on the full-size decode (the reference PDQ, as the library's README computes it).
        floor = statistics.median(timed(lambda d=data: pillow_reduced(d), runs))
        full = statistics.median(timed(lambda d=data: pdq_full(d), max(3, runs // 2)))
        print(f"{'':34s} peers: Pillow decode at <= 512 px {ms(floor)} (x{plain / floor:.2f}), "
              f"pdqhash on the full image {ms(full)} (x{plain / full:.2f})")
        rows.append((f"{label}, {len(data) / 1e6:.1f} MB", ms(plain), ms(floor), f"{plain / floor:.2f}", ms(full),
                     f"{plain / full:.2f}"))
    return rows


def pillow_reduced(data: bytes) -> Image.Image:
    """The floor: Pillow's reduced-size JPEG decode (draft) and a resize to a long side of 512 px, RGB."""
    im = Image.open(io.BytesIO(data))
    im.draft("RGB", (256, 256))
    im = im.convert("RGB")
    im.thumbnail((512, 512), Image.BILINEAR)
    return im


def pdq_full(data: bytes):
    """The reference: decode the whole image and run pdqhash on it."""
    import pdqhash

    im = Image.open(io.BytesIO(data)).convert("RGB")
    return pdqhash.compute(np.asarray(im))


def _hex_rows(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 2**64, (n, 4), dtype=np.uint64)
    blob = raw.astype(">u8").tobytes().hex()
    return [blob[i * 64 : (i + 1) * 64] for i in range(n)]


def bench_matching() -> None:
    print("\n== matching: random hashes, 14 per entry (like main hash + variants) ==")
    rng = np.random.default_rng(42)
    prng = random.Random(42)
    matcher = HashMatcher()
    gc.collect()
    rss_before = rss_bytes()
    load_seconds = 0.0
    entry = 0
    for target in (10_000, 100_000, 1_000_000):
        while len(matcher) < target:
            chunk = min(100_000, target - len(matcher))
            hexes = _hex_rows(rng, chunk)
            pairs = [((entry + i) // 14, h) for i, h in enumerate(hexes)]
            entry += chunk
            t0 = time.perf_counter()
            matcher.add_many(pairs)
            load_seconds += time.perf_counter() - t0
            del hexes, pairs
        probes = [_hex_rows(rng, 1)[0] for _ in range(200)]
        # Near-duplicates of a stored hash: make sure the search returns real matches too.
        row = matcher.words[prng.randrange(len(matcher))].tolist()  # a copy, not a view
        base = "".join(f"{w:016x}" for w in row)
        near, within = [], 0
        for _ in range(20):
            value = int(base, 16)
            bits = prng.randrange(0, 40)
            within += bits <= 31
            for b in prng.sample(range(256), bits):
                value ^= 1 << b
            near.append(f"{value:064x}")
        for q in probes[:10]:
            matcher.query(q)  # warm-up
        t52 = timed_each(matcher, probes + near, 52)
        t31 = timed_each(matcher, probes, 31)
        found = sum(1 for q in near if matcher.query(q, 31))
        frames = probes[:30]
        t_many = statistics.median(timed(lambda: matcher.query_many(frames), 5))
        print(f"{len(matcher):>9,d} hashes: query r=52 median {ms(statistics.median(t52))}, "
              f"p99 {ms(p99(t52))} | r=31 median {ms(statistics.median(t31))}, p99 {ms(p99(t31))} "
              f"| query_many(30) {ms(t_many)} | near-dups found at r=31: {found}/{within} expected")
    n = len(matcher)
    print(f"bulk load (add_many of hex strings): {load_seconds / n * 1e6:.2f} s per million hashes")
    # Removal cost at 1M (one entry of 14 hashes; an O(n) id scan).
    t_rm = statistics.median(timed(lambda: matcher.remove(prng.randrange(n // 14)), 20))
    print(f"remove one entry at {n:,d} hashes: {ms(t_rm)}")
    n = len(matcher)
    gc.collect()
    rss_loaded = rss_bytes()
    nbytes = matcher.nbytes()
    del matcher
    gc.collect()
    rss_dropped = rss_bytes()
    per_m = 1e6 / n / 2**20
    print(f"memory per million hashes: arrays {nbytes * per_m:.1f} MiB allocated "
          f"({40 * n * per_m:.1f} MiB in use: 32 B of words + 8 B of entry id per hash); "
          f"RSS growth while loading {(rss_loaded - rss_before) * per_m:.1f} MiB "
          f"(includes the loader's temporary strings), RSS released by dropping the matcher "
          f"{(rss_loaded - rss_dropped) * per_m:.1f} MiB")


def bench_matching_peers(sizes=(100_000, 1_000_000), probes: int = 100) -> list[tuple]:
    """The same random hashes in our matcher, a faiss binary flat index (exhaustive Hamming search) and
    threatexchange's PDQIndex (the reference library, itself on faiss); one query at r=31, medians."""
    try:
        import faiss
        from threatexchange.signal_type.pdq.pdq_index import PDQIndex
    except ImportError:
        print("\n(matching peers skipped: pip install faiss-cpu threatexchange, or use make bench)")
        return []
    print("\n== matching peers: one query at Hamming distance <= 31, median of queries ==")
    rng = np.random.default_rng(7)
    rows = []
    for n in sizes:
        hexes = _hex_rows(rng, n)
        queries = _hex_rows(rng, probes)
        queries[: probes // 10] = hexes[: probes // 10]  # some queries have a match
        ours = HashMatcher()
        ours.add_many([(i, h) for i, h in enumerate(hexes)])
        index = faiss.IndexBinaryFlat(256)
        index.add(np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(n, 32))
        te = PDQIndex([(h, i) for i, h in enumerate(hexes)]) if n <= 1_000_000 else None
        del hexes
        qarr = [np.frombuffer(bytes.fromhex(q), np.uint8).reshape(1, 32) for q in queries]
        for q in queries[:5]:
            ours.query(q, max_distance=31)
        t_ours = statistics.median(timed_each(ours, queries, 31))
        t_faiss = statistics.median(timed(lambda it=iter(qarr * 2): index.range_search(next(it), 32), probes))
        t_te = statistics.median(timed(lambda it=iter(queries * 2): te.query(next(it)), probes)) if te else None
        print(f"{n:>9,d} hashes: ours {ms(t_ours)}, faiss IndexBinaryFlat {ms(t_faiss)} (x{t_ours / t_faiss:.2f}), "
              f"threatexchange PDQIndex {ms(t_te) if t_te else 'n/a'}"
              + (f" (x{t_ours / t_te:.2f})" if t_te else ""))
        rows.append((f"{n:,d} hashes", ms(t_ours), ms(t_faiss), f"{t_ours / t_faiss:.2f}",
                     ms(t_te) if t_te else "n/a", f"{t_ours / t_te:.2f}" if t_te else ""))
        del ours, index, te
        gc.collect()
    return rows


def timed_each(matcher: HashMatcher, queries: list[str], radius: int) -> list[float]:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        matcher.query(q, max_distance=radius)
        out.append(time.perf_counter() - t0)
    return out


def bench_event_to_delete_fake_discord(uploads: int = 20) -> None:
    """Time from a MESSAGE_CREATE carrying a banked image (a recompressed copy) on the fake Discord server to
    the bot's DELETE request: gateway event, download into memory, hash in a thread, match, evidence + outbox
    committed to SQLite (synchronous=FULL), delete. The real product: App + DiscordAdapter + discord.py."""
    import asyncio
    import contextlib
    import tempfile

    import yaml

    from adapters.discord import DiscordAdapter
    from safety_bot.app import App
    from safety_bot.config import load_config
    from tests.fakes.discord_server import VIEW_CHANNEL, FakeDiscord

    print(f"\n== event-to-delete on the fake Discord server ({uploads} uploads of a banked image) ==")

    async def run() -> list[float]:
        async with FakeDiscord() as fake:
            gid = fake.add_guild("Bench")
            role = fake.add_role(gid, "Safety Team")
            general = fake.add_channel(gid, "general")
            safety = fake.add_channel(gid, "safety", private=True, overwrites={role: (VIEW_CHANNEL, 0)})
            original = generate(5, 1024, 768)
            banked = hash_image_bytes(encode(original, "JPEG", quality=90), with_variants=True)
            copy = encode(original, "JPEG", quality=70)  # what people re-post: a recompressed copy
            with tempfile.TemporaryDirectory() as tmp:
                cfg_path = Path(tmp) / "config.yaml"
                cfg_path.write_text(yaml.safe_dump({
                    "playbooks": str(Path(__file__).resolve().parents[1] / "playbooks"),
                    "storage": {"database": str(Path(tmp) / "db.sqlite3")},
                    "media": {"flood_matches_per_hour": 10_000},
                    "discord": {"token": "${DISCORD_TOKEN}", "api_base_url": fake.api_base_url,
                                "gateway_url": fake.gateway_url,
                                "guilds": [{"id": gid, "safety_channel": safety, "safety_role": role,
                                            "network": "bench"}]}}))
                config = load_config(cfg_path, env={"DISCORD_TOKEN": fake.token})
                async with App(config) as app:
                    adapter = DiscordAdapter(app, ready_timeout=0.05)
                    task = asyncio.create_task(adapter.run())
                    await asyncio.wait_for(adapter.ready.wait(), 10)
                    try:
                        from safety_bot.domain import Case, Status, Urgency

                        now = time.time()
                        case = await app.store.create_case(Case(community=str(gid), network="bench", number=0,
                                                                category="sextortion", urgency=Urgency.NORMAL,
                                                                status=Status.OPEN, created_at=now, updated_at=now))
                        await app.bank.bank_from_hashes(case, [banked], "bench")
                        times = []
                        for i in range(uploads + 2):  # the first two warm up (connection pool, thread pool)
                            user = fake.add_member(gid, name=f"uploader{i}")
                            t0 = time.perf_counter()
                            mid = await fake.dispatch_message_create(general, user, "", attachments=[
                                {"filename": "x.jpg", "content_type": "image/jpeg", "data": copy}])
                            while mid not in fake.deleted_message_ids:
                                if time.perf_counter() - t0 > 10:
                                    raise TimeoutError("the banked image was not removed")
                                await asyncio.sleep(0.0005)
                            if i >= 2:
                                times.append(time.perf_counter() - t0)
                            await asyncio.sleep(0.2)  # let the ban and the team post finish
                        return times
                    finally:
                        await adapter.close()
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(task, 10)

    times = asyncio.run(run())
    print(f"image {len(encode(generate(5, 1024, 768), 'JPEG', quality=70)) / 1e3:.0f} kB JPEG (1024x768); "
          f"event-to-delete median {ms(statistics.median(times))}, p95 {ms(float(np.percentile(times, 95)))}, "
          f"max {ms(max(times))} (target < 150 ms)")


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import machine as machine_line
    from common import record, table

    t0 = time.perf_counter()
    machine()
    hashing = bench_hashing()
    bench_matching()
    matching = bench_matching_peers()
    bench_event_to_delete_fake_discord()
    head = f"Machine: {machine_line()}. Medians of repeated runs in one process.\n\n"
    print()
    record("Hashing (decode + PDQ + SHA-256 + MD5)", head + "Peers: Pillow's reduced-size decode of the same file to "
           "the same size (the floor: no hashing at all) and pdqhash on the full-size decode (the reference).\n\n"
           + table(("image", "ours", "Pillow decode <= 512 px", "ratio", "pdqhash, full image", "ratio"), hashing))
    if matching:
        record("Matching (one query, Hamming distance <= 31)", head + "Peers: a faiss binary flat index (exhaustive "
               "search) and threatexchange's PDQIndex over the same random hashes.\n\n"
               + table(("bank", "ours", "faiss IndexBinaryFlat", "ratio", "threatexchange PDQIndex", "ratio"), matching))
    print(f"\nbench run time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
