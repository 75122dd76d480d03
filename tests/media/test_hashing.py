"""Decoding and PDQ hashing of generated images (gradients, shapes, noise, text only)."""

from __future__ import annotations

import dataclasses
import io
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageOps

from safety_bot.media import (
    MEDIA_ERROR_REASONS,
    MediaError,
    MediaHashes,
    hamming,
    hash_image_bytes,
    hash_image_file,
    is_pdq_hex,
)
from safety_bot.media.video import VIDEO_REASONS
from safety_bot.media.decode import (
    R_BOMB,
    R_EMPTY,
    R_MALFORMED,
    R_NOT_IMAGE,
    R_TOO_LARGE,
    R_TRUNCATED,
    R_UNREADABLE,
    R_UNSUPPORTED,
)

MATCH = 31  # Meta's PDQ match threshold
DISTINCT = 52  # distinct images must be further apart than our "flag" radius
REASONS = {R_BOMB, R_EMPTY, R_MALFORMED, R_NOT_IMAGE, R_TOO_LARGE, R_TRUNCATED, R_UNREADABLE, R_UNSUPPORTED}
assert REASONS | VIDEO_REASONS == MEDIA_ERROR_REASONS


# -- generated test images ---------------------------------------------------------------------


def generate(seed: int, width: int = 640, height: int = 480, *, noise: int = 16) -> Image.Image:
    """A synthetic RGB image: coloured sinusoidal gradients, random shapes, text and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    arr = np.empty((height, width, 3), np.float32)
    for c in range(3):
        fx, fy, phase = rng.uniform(0.5, 4.0, 3)
        arr[..., c] = 127 + 70 * np.sin(x / width * fx * 6.283 + phase) * np.cos(y / height * fy * 6.283)
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(10):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(width // 20, width // 4))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        else:
            draw.rectangle([cx - r, cy - r // 2, cx + r, cy + r // 2], fill=colour)
    draw.text((width // 10, height // 2), f"sample {seed}", fill=(0, 0, 0), font_size=max(10, height // 8))
    if noise:
        jitter = rng.integers(-noise, noise + 1, (height, width, 3))
        im = Image.fromarray(np.clip(np.asarray(im).astype(np.int16) + jitter, 0, 255).astype(np.uint8))
    return im


def encode(im: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def bank_distance(query: MediaHashes, banked: MediaHashes) -> int:
    """Smallest distance of the query's hash to the banked hash or any of its variants."""
    return min(hamming(query.pdq, h) for h in banked.bank_hashes())


SEEDS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def originals() -> dict[int, tuple[Image.Image, MediaHashes]]:
    out = {}
    for seed in SEEDS:
        im = generate(seed)
        out[seed] = (im, hash_image_bytes(encode(im), with_variants=True))
    return out


# -- basic shape of the result -----------------------------------------------------------------


def test_result_fields(originals):
    im, h = originals[1]
    assert is_pdq_hex(h.pdq) and h.pdq == h.pdq.lower()
    assert h.quality >= 80
    data = encode(im)
    import hashlib

    assert h.sha256 == hashlib.sha256(data).hexdigest()
    assert h.md5 == hashlib.md5(data).hexdigest()
    assert h.frames == 1 and h.frame_hashes == ((h.pdq, h.quality),)
    assert (h.format, h.width, h.height) == ("PNG", 640, 480)
    assert h.variants[0] == h.pdq and 8 <= len(h.variants) <= 15
    assert len(set(h.variants)) == len(h.variants)
    assert h.bank_hashes()[0] == h.pdq and set(h.variants) <= set(h.bank_hashes())
    assert h.query_hashes() == (h.pdq,)
    # Nothing but hashes and small metadata: no bytes anywhere on the result.
    for f in dataclasses.fields(h):
        assert not isinstance(getattr(h, f.name), (bytes, bytearray, memoryview))
    # repr() (what ends up in logs) shows no hash values.
    assert h.pdq not in repr(h) and h.sha256 not in repr(h) and h.md5 not in repr(h)
    assert hash_image_bytes(data).variants == ()


def test_deterministic_and_no_temp_files(originals, monkeypatch):
    im, h = originals[2]

    def forbidden(*args, **kwargs):
        raise AssertionError("image bytes must never touch the disk")

    for name in ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile"):
        monkeypatch.setattr(tempfile, name, forbidden)
    again = hash_image_bytes(encode(im), with_variants=True)
    assert again == h


def test_hamming():
    a = "0" * 64
    assert hamming(a, a) == 0
    assert hamming(a, "f" * 64) == 256
    assert hamming(a, "1" + "0" * 63) == 1
    assert hamming("F" * 64, "f" * 64) == 0
    for bad in ("", "0" * 63, "g" * 64, "0" * 65, " " + "0" * 63):
        with pytest.raises(ValueError):
            hamming(a, bad)


# -- robustness: edited copies match the banked original ---------------------------------------


@pytest.mark.parametrize("quality", [40, 60, 75, 95])
def test_recompressed_jpeg_matches(originals, quality):
    for im, banked in originals.values():
        h = hash_image_bytes(encode(im, "JPEG", quality=quality))
        assert hamming(h.pdq, banked.pdq) <= MATCH


def test_resized_half_matches(originals):
    for im, banked in originals.values():
        small = im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)
        h = hash_image_bytes(encode(small, "JPEG", quality=85))
        assert hamming(h.pdq, banked.pdq) <= MATCH


@pytest.mark.parametrize(
    "transpose",
    [Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270,
     Image.Transpose.ROTATE_180, Image.Transpose.FLIP_TOP_BOTTOM],
)
def test_mirrored_and_rotated_match_variants(originals, transpose):
    for im, banked in originals.values():
        h = hash_image_bytes(encode(im.transpose(transpose), "JPEG", quality=90))
        assert hamming(h.pdq, banked.pdq) > DISTINCT  # the plain hash alone would miss it ...
        assert bank_distance(h, banked) <= MATCH  # ... the banked dihedral variants catch it


@pytest.mark.parametrize("fraction", [0.02, 0.05, 0.10])
def test_small_centre_crops_match_variants(originals, fraction):
    for im, banked in originals.values():
        dx, dy = round(im.width * fraction), round(im.height * fraction)
        h = hash_image_bytes(encode(im.crop((dx, dy, im.width - dx, im.height - dy))))
        assert bank_distance(h, banked) <= MATCH


def test_distinct_images_do_not_match():
    hashes = [hash_image_bytes(encode(generate(100 + i, 256, 192))).pdq for i in range(40)]
    distances = [hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert len(distances) == 780
    assert min(distances) > DISTINCT


def test_large_jpeg_reduced_decode_stays_close_to_full_size():
    im = generate(7, 3000, 2000)
    data = encode(im, "JPEG", quality=90)
    h = hash_image_bytes(data)
    assert (h.width, h.height) == (3000, 2000)
    # Reference: PDQ of the full-size decode, no draft, no downscale.
    import pdqhash

    vector, _ = pdqhash.compute(np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))))
    full = np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes().hex()
    assert hamming(h.pdq, full) <= 16
    # And a half-size copy of it lands close to the same normalised hash.
    half = hash_image_bytes(encode(im.resize((1500, 1000), Image.Resampling.BILINEAR), "JPEG", quality=80))
    assert hamming(half.pdq, h.pdq) <= 16


# -- colour modes, alpha and orientation hash like the RGB original ----------------------------


def test_palette_image_hashes_like_rgb(originals):
    for im, banked in originals.values():
        for p in (im.convert("P"), im.quantize(64)):
            h = hash_image_bytes(encode(p))
            # Exactly like its own RGB expansion (we hash colours, not palette indices) ...
            assert hamming(h.pdq, hash_image_bytes(encode(p.convert("RGB"))).pdq) <= 2
            # ... and within matching distance of the full-colour original.
            assert hamming(h.pdq, banked.pdq) <= MATCH


def test_alpha_is_composited_on_white():
    base = generate(11)
    width, height = base.size
    margin = (60, 40, width - 60, height - 40)
    mask = Image.new("L", base.size, 0)
    ImageDraw.Draw(mask).rectangle((margin[0], margin[1], margin[2] - 1, margin[3] - 1), fill=255)
    # RGB original: content with white margins.
    rgb = Image.new("RGB", base.size, (255, 255, 255))
    rgb.paste(base.crop(margin), margin[:2])
    # RGBA copy: the same content, but the (transparent) margins hold unrelated bright garbage.
    garbage = generate(12)
    rgba = garbage.copy()
    rgba.paste(base.crop(margin), margin[:2])
    rgba.putalpha(mask)
    h_rgb = hash_image_bytes(encode(rgb))
    h_rgba = hash_image_bytes(encode(rgba))
    assert hamming(h_rgb.pdq, h_rgba.pdq) <= 2
    # Without compositing (hashing the hidden pixels) the result would be far away.
    h_hidden = hash_image_bytes(encode(rgba.convert("RGB")))
    assert hamming(h_rgb.pdq, h_hidden.pdq) > MATCH
    # Same for LA and a palette image with a transparent index.
    la = rgba.convert("LA")
    assert hamming(hash_image_bytes(encode(la)).pdq, hash_image_bytes(encode(rgb.convert("L"))).pdq) <= 4
    pal = rgba.convert("RGB").quantize(255)
    pal_arr = np.asarray(pal).copy()
    pal_arr[np.asarray(mask) == 0] = 255  # index 255 = transparent
    pal_t = Image.fromarray(pal_arr, "P")
    palette = pal.getpalette()
    pal_t.putpalette(palette + [0, 0, 0] * (256 - len(palette) // 3))
    h_pal = hash_image_bytes(encode(pal_t, transparency=255))
    assert hamming(h_pal.pdq, h_rgb.pdq) <= 10


def test_cmyk_and_16_bit_images(originals):
    im, banked = originals[3]
    cmyk = hash_image_bytes(encode(im.convert("CMYK"), "JPEG", quality=95))
    assert hamming(cmyk.pdq, banked.pdq) <= 10
    grey = im.convert("L")
    h8 = hash_image_bytes(encode(grey))
    wide = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)  # 16-bit greyscale
    assert wide.mode.startswith("I")
    h16 = hash_image_bytes(encode(wide))
    assert hamming(h8.pdq, h16.pdq) <= 4
    assert h16.quality >= 50


# Raw pixels are the displayed image transformed by the inverse of the EXIF fix-up.
_INVERSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(_INVERSE))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(orientation, fmt):
    shown = generate(21, 480, 320)
    raw = shown.transpose(_INVERSE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(raw, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    # Sanity: Pillow's own exif_transpose agrees that this displays as ``shown``.
    assert ImageOps.exif_transpose(Image.open(io.BytesIO(data))).size == shown.size
    h = hash_image_bytes(data)
    h_shown = hash_image_bytes(encode(shown, fmt, **({"quality": 95} if fmt == "JPEG" else {})))
    assert hamming(h.pdq, h_shown.pdq) <= 8
    assert (h.width, h.height) == shown.size


# -- animations --------------------------------------------------------------------------------


def _frames(seeds, size=(160, 120)):
    return [generate(s, *size, noise=0) for s in seeds]


def test_animated_gif_frames_and_dedupe():
    a, b, c = _frames([31, 32, 33])
    a2 = a.copy()
    a2.putpixel((5, 5), (0, 0, 0))  # not identical (Pillow would merge identical frames) ...
    b2 = b.copy()
    b2.putpixel((7, 9), (255, 255, 255))  # ... but near-identical: dropped by our de-duplication
    seq = [a, a2, b, b2, c]
    data = encode(seq[0], "GIF", save_all=True, append_images=seq[1:], duration=200, loop=0)
    h = hash_image_bytes(data, with_variants=True)
    assert h.format == "GIF" and h.frames == 5 and h.animated
    assert len(h.frame_hashes) == 3
    singles = [hash_image_bytes(encode(f, "GIF")).pdq for f in (a, b, c)]
    for (frame_hash, quality), single in zip(h.frame_hashes, singles, strict=True):
        assert hamming(frame_hash, single) <= 8 and quality >= 50
    assert h.pdq == h.frame_hashes[0][0]
    assert set(h.query_hashes()) == {fh for fh, _ in h.frame_hashes}
    # A still copy of a later frame matches that frame of the animation.
    still_c = hash_image_bytes(encode(c, "JPEG", quality=80))
    assert min(hamming(still_c.pdq, fh) for fh in h.query_hashes()) <= MATCH


def test_long_animation_is_sampled_about_once_per_second():
    frames = _frames(range(40, 50), (96, 72))
    seq = [frames[i // 10] for i in range(100)]  # 100 frames x 50 ms = 5 s, content changes per 0.5 s
    for i, f in enumerate(seq):  # make neighbours non-identical so the GIF keeps all 100 frames
        seq[i] = f.copy()
        seq[i].putpixel((i % 96, 0), (i, 0, 0))
    data = encode(seq[0], "GIF", save_all=True, append_images=seq[1:], duration=50, loop=0)
    h = hash_image_bytes(data, max_frames=20)
    assert h.frames == 100
    assert 4 <= len(h.frame_hashes) <= 6  # t = 0, 1, 2, 3, 4 s
    assert len(hash_image_bytes(data, max_frames=3).frame_hashes) <= 3


def test_cut_short_animation_keeps_the_frames_before_the_cut():
    seq = _frames([81, 82, 83, 84])
    data = encode(seq[0], "GIF", save_all=True, append_images=seq[1:], duration=100, loop=0)
    full = hash_image_bytes(data)
    assert len(full.frame_hashes) == 4
    cut = hash_image_bytes(data[: int(len(data) * 0.6)])  # players still show the first frames
    assert 1 <= len(cut.frame_hashes) < 4
    assert cut.frame_hashes == full.frame_hashes[: len(cut.frame_hashes)]
    assert _reason(data[: len(data) // 10]) == R_TRUNCATED  # inside the first frame: refused


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_animated_webp_and_apng(fmt):
    seq = _frames([51, 52, 53])
    data = encode(seq[0], fmt, save_all=True, append_images=seq[1:], duration=100, loop=0)
    h = hash_image_bytes(data)
    assert h.frames == 3 and len(h.frame_hashes) == 3


# -- refusals ----------------------------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def _reason(data: bytes, **kwargs) -> str:
    with pytest.raises(MediaError) as info:
        hash_image_bytes(data, **kwargs)
    assert info.value.reason in REASONS and str(info.value) == info.value.reason
    return info.value.reason


def test_decompression_bomb_header_is_refused(monkeypatch):
    bomb = _png_header(50_000, 50_000)
    assert len(bomb) < 200
    assert _reason(bomb) == R_BOMB
    # Also when another part of the process has disabled Pillow's global check.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert _reason(bomb) == R_BOMB
    assert _reason(_png_header(9000, 9000)) == R_BOMB  # 81 MP > our 64 MP default


def test_real_large_image_refused_by_max_pixels():
    data = encode(Image.new("RGB", (2000, 1500), (10, 200, 30)))
    assert _reason(data, max_pixels=1_000_000) == R_BOMB
    assert hash_image_bytes(data, max_pixels=3_000_000).quality < 50  # flat: hashable, low quality


def test_gif_bomb_refused():
    data = encode(Image.new("P", (3000, 3000)), "GIF")
    assert hash_image_bytes(data, max_pixels=10_000_000).frames == 1
    assert _reason(data, max_pixels=1_000_000) == R_BOMB


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_truncated_files_are_refused(fmt):
    data = encode(generate(61, 320, 240), fmt)
    for fraction in (0.1, 0.5, 0.95):
        assert _reason(data[: int(len(data) * fraction)]) == R_TRUNCATED


def test_other_refusals(tmp_path):
    assert _reason(b"") == R_EMPTY
    assert _reason(b"hello, this is not an image") == R_NOT_IMAGE
    assert _reason(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n") == R_UNSUPPORTED
    assert _reason(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") == R_UNSUPPORTED
    data = encode(generate(62, 200, 150), "JPEG")
    assert _reason(data, max_bytes=len(data) - 1) == R_TOO_LARGE
    assert hash_image_bytes(data, max_bytes=len(data)).pdq


def test_hash_image_file(tmp_path):
    data = encode(generate(63, 200, 150), "JPEG")
    path = tmp_path / "secret-name.jpg"
    path.write_bytes(data)
    assert hash_image_file(path) == hash_image_bytes(data)
    with pytest.raises(MediaError) as info:
        hash_image_file(path, max_bytes=100)
    assert info.value.reason == R_TOO_LARGE
    with pytest.raises(MediaError) as info:
        hash_image_file(tmp_path / "missing-secret-name.jpg")
    assert info.value.reason == R_UNREADABLE and "secret" not in str(info.value)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's TIFF plugin warns on bad tags
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_only_raise_media_error(data):
    try:
        h = hash_image_bytes(data)
    except MediaError as exc:
        assert exc.reason in REASONS
    else:
        assert is_pdq_hex(h.pdq)


_SEEDS_FOR_FUZZ = {
    fmt: encode(generate(70, 48, 36, noise=0), fmt, **kw)
    for fmt, kw in [("PNG", {}), ("JPEG", {"quality": 70}), ("GIF", {}), ("WEBP", {}), ("BMP", {}),
                    ("TIFF", {})]
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(_SEEDS_FOR_FUZZ)),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 10_000),
)
def test_corrupted_images_only_raise_media_error(fmt, edits, cut):
    data = bytearray(_SEEDS_FOR_FUZZ[fmt])
    for pos, value in edits:
        data[pos % len(data)] = value
    data = bytes(data[: max(1, len(data) - cut)]) if cut % 3 == 0 else bytes(data)
    try:
        h = hash_image_bytes(data, max_pixels=4_000_000)
    except MediaError as exc:
        assert exc.reason in REASONS
    else:
        assert is_pdq_hex(h.pdq) and 0 <= h.quality <= 100


def test_package_imports_no_chat_platform_library():
    code = (
        "import sys, safety_bot.media; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('discord', 'nio')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
