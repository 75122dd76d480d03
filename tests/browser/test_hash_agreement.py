"""The page's PDQ (static/hash.js, in real headless Chromium) agrees with the bot's Python hashing
(safety_bot.media: Pillow + pdqhash) on the same files: at least 50 generated photos of various sizes,
formats (JPEG, PNG, WebP) and EXIF orientations. Median distance <= 4 bits, every picture <= 10.
The MD5 the page computes is the file's MD5. The figures are printed (README quotes them)."""

from __future__ import annotations

import hashlib
import statistics

from safety_bot.media import hamming, hash_image_file
from tests.browser.pictures import picture_set

HASH_ALL = """async () => {
  const out = [];
  for (const f of document.getElementById('agree').files) {
    try { out.push(await window.SafetyBotHash.hashFile(f)); } catch (e) { out.push({error: String(e)}); }
  }
  return out;
}"""


async def test_browser_pdq_agrees_with_the_bot(protect_app, browser, tmp_path):
    h, listener = protect_app
    files = picture_set(tmp_path / "pictures", 60)
    page = await browser.new_page()
    await page.goto(listener.url + "/protect")
    await page.wait_for_function("() => !!window.SafetyBotHash")
    await page.evaluate("""() => { const i = document.createElement('input'); i.type = 'file'; i.multiple = true;
                                   i.id = 'agree'; document.body.appendChild(i); }""")
    await page.set_input_files("#agree", [str(f) for f in files])
    results = await page.evaluate(HASH_ALL)
    assert len(results) == len(files)
    distances, qualities, worst, variant_distances = [], [], [], []
    for path, got in zip(files, results):
        assert "error" not in got, (path.name, got)
        want = hash_image_file(path, with_variants=True)
        assert got["kind"] == "picture" and got["md5"] == hashlib.md5(path.read_bytes()).hexdigest()
        d = hamming(got["pdq"], want.pdq)
        distances.append(d)
        # the turned and mirrored hashes the page sends too, against the bot's own (pdqhash compute_dihedral)
        turned = want.variants[:8]
        assert len(got["variants"]) >= 6
        variant_distances.extend(min(hamming(v, t) for t in turned) for v in got["variants"])
        qualities.append((got["quality"], want.quality))
        worst.append((d, path.name))
    median, top = statistics.median(distances), max(distances)
    print(f"\nPDQ agreement, browser (Chromium) vs bot (Python) over {len(files)} pictures: "
          f"median {median} bits, max {top} bits, mean {statistics.mean(distances):.2f}; "
          f"worst: {sorted(worst)[-3:]}; turned/mirrored variants: median "
          f"{statistics.median(variant_distances)}, max {max(variant_distances)} bits over {len(variant_distances)}")
    assert len(files) >= 50
    assert median <= 4, sorted(worst)
    assert top <= 10, sorted(worst)
    assert all(abs(a - b) <= 5 for a, b in qualities), qualities
    assert statistics.median(variant_distances) <= 4 and max(variant_distances) <= 10
