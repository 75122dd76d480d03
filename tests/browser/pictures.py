"""Generated photo-like pictures for the browser tests: smooth light and colour, shapes with soft edges,
fine texture and sensor-like noise; in several sizes, formats (JPEG, PNG, WebP) and EXIF orientations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZES = [(320, 240), (480, 640), (640, 480), (800, 600), (1024, 768), (1080, 1350), (1200, 900), (1280, 720),
         (1600, 1200), (2000, 1500), (1536, 2048), (3000, 2000), (1080, 1920), (2448, 3264)]
FORMATS = ["jpeg", "png", "webp", "jpeg", "webp-lossless", "jpeg"]


def photo(seed: int, width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x /= width
    y /= height
    arr = np.empty((height, width, 3), np.float32)
    light = 0.6 + 0.4 * np.exp(-(((x - rng.uniform(0.2, 0.8)) ** 2) + (y - rng.uniform(0.2, 0.8)) ** 2) * 3)
    for c in range(3):
        base = rng.uniform(60, 190)
        arr[..., c] = (base + rng.uniform(-60, 60) * x + rng.uniform(-60, 60) * y) * light
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    layer = Image.new("RGB", (width, height))
    mask = Image.new("L", (width, height), 0)
    draw, mdraw = ImageDraw.Draw(layer), ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(4, 9))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
        colour = tuple(int(v) for v in rng.integers(20, 236, 3))
        box = [cx - rx, cy - ry, cx + rx, cy + ry]
        if rng.random() < 0.6:
            draw.ellipse(box, fill=colour)
            mdraw.ellipse(box, fill=255)
        else:
            draw.rectangle(box, fill=colour)
            mdraw.rectangle(box, fill=255)
    soft = max(1, min(width, height) // 200)
    im = Image.composite(layer, im, mask.filter(ImageFilter.GaussianBlur(soft)))
    texture = rng.normal(0, 1, (height // 8 + 1, width // 8 + 1)).astype(np.float32)
    texture = np.kron(texture, np.ones((8, 8), np.float32))[:height, :width]
    arr = np.asarray(im).astype(np.float32) + 6 * texture[..., None] + rng.normal(0, 3, (height, width, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


# What Pillow's exif_transpose would undo: the stored pixels are the upright picture turned the other way.
_STORE = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
          4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
          7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def save(im: Image.Image, path: Path, fmt: str, orientation: int = 1, *, alpha: bool = False) -> Path:
    stored = im.transpose(_STORE[orientation]) if _STORE[orientation] is not None else im
    kw: dict = {}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kw["exif"] = exif.tobytes()
    if alpha:
        a = Image.new("L", stored.size, 255)
        ImageDraw.Draw(a).ellipse([0, 0, stored.size[0] // 3, stored.size[1] // 3], fill=0)
        stored = stored.convert("RGBA")
        stored.putalpha(a)
    if fmt == "jpeg":
        stored.convert("RGB").save(path, "JPEG", quality=90, **kw)
    elif fmt == "jpeg-grey":
        stored.convert("L").save(path, "JPEG", quality=90, **kw)
    elif fmt == "png-palette":
        stored.convert("RGB").quantize(256).save(path, "PNG", **kw)
    elif fmt == "gif":
        stored.convert("RGB").quantize(256).save(path, "GIF")
    elif fmt == "png":
        stored.save(path, "PNG", **kw)
    elif fmt == "webp":
        stored.save(path, "WEBP", quality=85, **kw)
    else:
        stored.save(path, "WEBP", lossless=True, **kw)
    return path


EXTRA = [("jpeg-grey", "jpg", 6), ("png-palette", "png", 1), ("gif", "gif", 1), ("jpeg-grey", "jpg", 1)]


def picture_set(folder: Path, count: int = 60) -> list[Path]:
    """`count` files: sizes, formats and orientations in turn (every format carries EXIF orientations),
    then a greyscale JPEG, a palette PNG and a GIF or two."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        w, h = SIZES[i % len(SIZES)]
        fmt = FORMATS[i % len(FORMATS)]
        orientation = (i % 8) + 1
        alpha = fmt in ("png", "webp-lossless") and i % 4 == 0
        ext = {"jpeg": "jpg", "png": "png"}.get(fmt, "webp")
        out.append(save(photo(1000 + i, w, h), folder / f"p{i:02d}-{w}x{h}-o{orientation}.{ext}", fmt, orientation,
                        alpha=alpha))
    for j, (fmt, ext, orientation) in enumerate(EXTRA):
        w, h = SIZES[(3 * j + 2) % len(SIZES)]
        out.append(save(photo(2000 + j, w, h), folder / f"x{j:02d}-{w}x{h}-o{orientation}-{fmt}.{ext}", fmt,
                        orientation))
    return out
