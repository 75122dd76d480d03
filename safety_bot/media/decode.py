"""Safe, bounded decoding of untrusted image bytes into small RGB frames ready for hashing.

Everything here works on bytes held in memory: nothing is written to disk, and nothing returned
holds a reference to the input bytes. Every failure is a :class:`MediaError` whose ``reason`` is a
short fixed phrase (never bytes, filenames, URLs or library error text), so it is safe to log.

Pipeline for each frame: refuse oversized input -> open with a fixed list of formats -> check
``width * height`` against ``max_pixels`` before decoding -> JPEG ``draft()`` (reduced-size DCT
decode) -> load -> normalise mode (alpha composited on white, palette/CMYK/16-bit -> RGB) ->
downscale so the long side is at most :data:`HASH_SIZE` -> apply the EXIF orientation.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = [
    "ANIMATED_FORMATS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "HASH_SIZE",
    "MEDIA_ERROR_REASONS",
    "SUPPORTED_FORMATS",
    "DecodedImage",
    "MediaError",
    "decode_image",
]

#: Refuse inputs larger than this before looking at them (Discord's free upload limit is 10 MiB,
#: Matrix's default is 50 MB; 32 MiB covers phone photos).
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: Refuse images whose declared canvas exceeds this many pixels (checked before decoding). 64 MP
#: covers 48/50 MP phone photos; a 64 MP RGBA canvas is ~256 MB of memory in the worst case.
DEFAULT_MAX_PIXELS = 64_000_000
#: Keep at most this many distinct frames of an animation.
DEFAULT_MAX_FRAMES = 60
#: Frames are downscaled so that their long side is at most this (PDQ works on a 64x64 reduction;
#: measured: 512 px keeps the hash within ~4-12 bits of the full-size hash of a 12 MP photo and
#: costs ~4 ms to hash, where 1024 px costs ~21 ms).
HASH_SIZE = 512
DRAFT_SIZE = 256

#: Formats we agree to parse (Pillow's names; "JPEG" also opens MPO, the multi-picture JPEG of many
#: cameras). Anything else (EPS, which shells out to Ghostscript; PSD; ICO; ...) is refused without
#: reaching its decoder. AVIF is used only when this Pillow build has it.
SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "BMP", "TIFF")
#: Formats whose extra frames are animation frames (MPO/TIFF extra frames are previews/pages).
ANIMATED_FORMATS = frozenset({"GIF", "PNG", "WEBP", "AVIF"})

# Bounds on the work spent scanning an animation: decoding frame N of a GIF/WebP/APNG means decoding
# every frame before it, so we stop scanning (and hash what we have) after this many frames or
# this many decoded pixels, whichever comes first.
MAX_SCAN_FRAMES = 3000
MAX_SCAN_PIXELS = 200_000_000  # ~2 s of GIF decoding on one core
#: Sample roughly one frame per this many milliseconds once an animation has more frames than the cap.
SAMPLE_INTERVAL_MS = 1000
#: Browsers play frames with a declared duration <= 10 ms at 100 ms; we count them the same way.
DEFAULT_FRAME_MS = 100

_WHITE = (255, 255, 255, 255)

# Same table as PIL.ImageOps.exif_transpose. We apply it ourselves, after downscaling, because the
# orientation has to be read once from the container and applied to every frame, and transposing a
# 512 px frame is cheaper than transposing the full-size decode.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG = 0x0112


class MediaError(Exception):
    """The input cannot be hashed. ``reason`` is a short fixed phrase that is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# The fixed reasons (the only values ``MediaError.reason`` takes in this package).
R_TOO_LARGE = "file too large"
R_EMPTY = "empty file"
R_NOT_IMAGE = "not an image"
R_UNSUPPORTED = "unsupported format"
R_BOMB = "too many pixels (decompression bomb)"
R_TRUNCATED = "truncated file"
R_MALFORMED = "malformed image"
R_UNREADABLE = "cannot read file"
# Videos (video.py)
R_NOT_VIDEO = "not a video"
R_TOO_LONG = "video too long"
R_TOO_MANY_FRAMES = "too many video frames"
R_MALFORMED_VIDEO = "malformed video"
#: Every value ``MediaError.reason`` can take.
MEDIA_ERROR_REASONS = frozenset(
    {R_TOO_LARGE, R_EMPTY, R_NOT_IMAGE, R_UNSUPPORTED, R_BOMB, R_TRUNCATED, R_MALFORMED, R_UNREADABLE,
     R_NOT_VIDEO, R_TOO_LONG, R_TOO_MANY_FRAMES, R_MALFORMED_VIDEO}
)


@dataclass(frozen=True)
class DecodedImage:
    """Frames ready for hashing: RGB, long side <= HASH_SIZE, EXIF orientation applied."""

    format: str
    width: int  # of the original canvas, after orientation
    height: int
    frame_count: int  # frames the container declares (1 for still images)
    frames: tuple[Image.Image, ...]  # sampled frames, in order (at least one)


def decode_image(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_frames: int = DEFAULT_MAX_FRAMES,
    animated: bool = True,
) -> DecodedImage:
    """Decode ``data`` into at most ``max_frames`` small RGB frames, or raise :class:`MediaError`.

    Still images give one frame. Animations (GIF, APNG, animated WebP/AVIF) give every frame when
    they have at most ``max_frames`` frames, otherwise about one frame per second of playback
    (capped at ``max_frames``). ``animated=False`` decodes only the first frame. A damaged first
    frame is an error; a damaged later frame ends the animation there (players show the frames
    before it). Scanning stops after MAX_SCAN_FRAMES frames or MAX_SCAN_PIXELS decoded pixels.
    """
    if len(data) > max_bytes:
        raise MediaError(R_TOO_LARGE)
    if not data:
        raise MediaError(R_EMPTY)
    try:
        return _decode(data, max_pixels=max_pixels, max_frames=max(1, max_frames), animated=animated)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own (global) limit fired first. The warning is only an exception when the
        # application turned warnings into errors; we never change the warning filters ourselves.
        raise MediaError(R_BOMB) from exc
    except MemoryError as exc:
        raise MediaError(R_BOMB) from exc
    except Exception as exc:  # noqa: BLE001 - any decoder failure on untrusted input is ours to map
        # Pillow plugins raise OSError, SyntaxError, ValueError, EOFError, struct.error,
        # ZeroDivisionError, IndexError, ... on malformed input. Their text never reaches the reason.
        raise MediaError(_failure_reason(data, exc)) from exc


_open_formats: tuple[str, ...] | None = None


def _formats() -> tuple[str, ...]:
    """SUPPORTED_FORMATS that this Pillow build can open (Image.open raises KeyError otherwise)."""
    global _open_formats
    if _open_formats is None:
        Image.init()
        _open_formats = tuple(f for f in SUPPORTED_FORMATS if f in Image.OPEN)
    return _open_formats


def _decode(data: bytes, *, max_pixels: int, max_frames: int, animated: bool) -> DecodedImage:
    with Image.open(io.BytesIO(data), formats=_formats()) as im:
        fmt = (im.format or "").upper()
        _check_size(im.size, max_pixels)
        width, height = im.size  # before draft() shrinks it
        orientation = _orientation(im) if fmt in ("JPEG", "MPO", "WEBP", "TIFF", "AVIF") else None
        n_frames = 1
        if animated and fmt in ANIMATED_FORMATS:
            n_frames = max(1, int(getattr(im, "n_frames", 1)))
        if n_frames == 1:
            if fmt in ("JPEG", "MPO"):
                # Reduced-size DCT decode (scale 1/2, 1/4 or 1/8), keeping at least DRAFT_SIZE on both
                # sides: PDQ works from a 64x64 tent-filtered image, so 256 px loses nothing it uses,
                # and a 12 MP photo decodes 3-4x faster than in full.
                im.draft("RGB", (DRAFT_SIZE, DRAFT_SIZE))
            im.load()
            if orientation is None:
                orientation = _orientation(im)  # PNG keeps eXIf after the image data
            frames = (_prepare(im, orientation),)
        else:
            frames = tuple(_sample_frames(im, n_frames, max_pixels, max_frames, orientation))
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        # The frame(s) returned are new images: nothing refers to ``data`` or the decoder any more.
        return DecodedImage(format=fmt, width=width, height=height, frame_count=n_frames, frames=frames)


def _sample_frames(
    im: Image.Image, n_frames: int, max_pixels: int, max_frames: int, orientation: int | None
) -> Iterator[Image.Image]:
    every_frame = n_frames <= max_frames
    scanned_pixels = 0
    kept = 0
    elapsed_ms = 0
    next_sample_ms = 0
    for index in range(min(n_frames, MAX_SCAN_FRAMES)):
        if index:
            try:
                im.seek(index)
                _check_size(im.size, max_pixels)  # GIF frames may grow the canvas
                im.load()
            except MediaError:
                raise
            except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):
                raise
            except Exception:  # noqa: BLE001
                # A later frame is damaged or missing (e.g. a cut-short GIF): players show the
                # frames before it, so we hash those rather than refuse the whole animation.
                break
        else:
            im.load()  # errors on the first frame are errors for the whole file
        scanned_pixels += im.size[0] * im.size[1]
        if orientation is None:
            orientation = _orientation(im)
        duration = im.info.get("duration") or 0
        try:
            duration = int(duration)
        except (TypeError, ValueError):
            duration = 0
        if duration <= 10:
            duration = DEFAULT_FRAME_MS
        if every_frame or elapsed_ms >= next_sample_ms:
            yield _prepare(im, orientation)
            kept += 1
            next_sample_ms = elapsed_ms + SAMPLE_INTERVAL_MS
            if kept >= max_frames:
                break
        elapsed_ms += duration
        if scanned_pixels > MAX_SCAN_PIXELS:
            break  # work bound: keep what we have


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise MediaError(R_MALFORMED)
    if width * height > max_pixels:
        raise MediaError(R_BOMB)


def _orientation(im: Image.Image) -> int | None:
    """EXIF orientation 1..8, or None when absent or unreadable (malformed EXIF is not fatal)."""
    try:
        value = im.getexif().get(_EXIF_ORIENTATION_TAG)
    except Exception:  # noqa: BLE001 - a broken EXIF block should not stop hashing
        return None
    return value if isinstance(value, int) and value in _ORIENTATION else None


def _prepare(im: Image.Image, orientation: int | None) -> Image.Image:
    """A new RGB image, long side <= HASH_SIZE, oriented. Never returns ``im`` itself."""
    rgb = _to_rgb(im)
    width, height = rgb.size
    longest = max(width, height)
    if longest > HASH_SIZE:
        scale = HASH_SIZE / longest
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    if orientation in _ORIENTATION:
        rgb = rgb.transpose(_ORIENTATION[orientation])
    if rgb is im:
        rgb = rgb.copy()
    return rgb


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any mode to RGB: alpha composited on white, palette expanded, 16-bit scaled."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _wide_to_rgb(im)
    if mode == "1":
        im = im.convert("L")
        mode = "L"
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, _WHITE)
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return im.convert("RGB")


def _wide_to_rgb(im: Image.Image) -> Image.Image:
    """16/32-bit integer or float greyscale -> 8-bit RGB without clipping everything to white."""
    arr = np.asarray(im, dtype=np.float64)
    if arr.ndim != 2:
        raise MediaError(R_MALFORMED)
    finite = np.isfinite(arr)
    if not finite.all():
        arr = np.where(finite, arr, 0.0)
    top = float(arr.max()) if arr.size else 0.0
    if im.mode == "F" and top <= 1.0:
        arr = arr * 255.0
    elif top > 255.0:
        arr = arr / 257.0 if top <= 65535.0 else arr * (255.0 / top)
    grey = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return grey.convert("RGB")


def _failure_reason(data: bytes, exc: Exception) -> str:
    if _declares_more_bytes(data):
        return R_TRUNCATED
    if isinstance(exc, Image.UnidentifiedImageError):
        return _unidentified_reason(data)
    if isinstance(exc, OSError):
        text = str(exc).lower()
        if "truncated" in text or "broken data stream" in text or "unexpected end" in text:
            return R_TRUNCATED
    return R_MALFORMED


def _declares_more_bytes(data: bytes) -> bool:
    """Whether the container header declares a length beyond the end of ``data`` (RIFF/WebP)."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    return False


# Magic numbers of the formats we parse: when Pillow cannot identify data that starts like one of
# these, the file is damaged (most often cut short) rather than "not an image".
_SUPPORTED_MAGIC = (
    b"\xff\xd8\xff",  # JPEG / MPO
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
)
# Images we deliberately do not parse.
_UNSUPPORTED_MAGIC = (
    b"%!PS",  # PostScript / EPS (Pillow would run Ghostscript)
    b"\xc5\xd0\xd3\xc6",  # DOS EPS
    b"8BPS",  # Photoshop
    b"\x00\x00\x01\x00",  # ICO
    b"\x00\x00\x00\x0cjP  ",  # JPEG 2000
)


def _unidentified_reason(data: bytes) -> str:
    head = data[:16]
    if head.startswith(_SUPPORTED_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return R_MALFORMED
    if head[4:8] == b"ftyp":  # ISO media: AVIF is ours, HEIC/HEIF/MP4/MOV are not
        return R_MALFORMED if head[8:12] in (b"avif", b"avis") else R_UNSUPPORTED
    if head.startswith(_UNSUPPORTED_MAGIC):
        return R_UNSUPPORTED
    return R_NOT_IMAGE
