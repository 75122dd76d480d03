"""PDQ perceptual hashes plus SHA-256/MD5 exact hashes of untrusted image bytes.

``hash_image_bytes`` is CPU-bound (about 5-60 ms for a photo, more for long animations): call it from
a worker thread (``asyncio.to_thread``), not on the event loop. It is thread-safe.

The input bytes are only held in memory for the duration of the call; the returned
:class:`MediaHashes` holds hashes and small metadata only.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
import re
from dataclasses import dataclass, field

import numpy as np
import pdqhash
from PIL import Image

from .decode import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    R_MALFORMED,
    R_TOO_LARGE,
    R_UNREADABLE,
    MediaError,
    decode_image,
)

__all__ = [
    "FRAME_DEDUPE_DISTANCE",
    "MIN_QUALITY",
    "MediaHashes",
    "hamming",
    "hash_image_bytes",
    "hash_image_file",
    "is_pdq_hex",
    "pdq_of_image",
]

#: Meta's recommendation: PDQ hashes with quality below this carry too little detail to match on.
MIN_QUALITY = 50
#: Consecutive animation frames within this distance of the previously kept frame are dropped.
FRAME_DEDUPE_DISTANCE = 10
#: Crop variants banked alongside the dihedral hashes: (left, top, right, bottom) fractions removed.
CROP_VARIANTS: tuple[tuple[float, float, float, float], ...] = (
    (0.025, 0.025, 0.025, 0.025),  # centre crop, 2.5% per side
    (0.05, 0.05, 0.05, 0.05),  # centre crop, 5% per side
    (0.10, 0.10, 0.10, 0.10),  # centre crop, 10% per side
    (0.0, 0.10, 0.0, 0.0),  # top edge removed (captions, status bars)
    (0.0, 0.0, 0.0, 0.10),  # bottom edge removed
    (0.10, 0.0, 0.0, 0.0),  # left edge removed
    (0.0, 0.0, 0.10, 0.0),  # right edge removed
)

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class MediaHashes:
    """Hashes of one image or animation. Contains no image bytes, filenames or URLs.

    ``pdq``/``quality`` describe the representative frame (the first frame for still images; for
    animations the first kept frame with quality >= MIN_QUALITY, else the best one).
    ``frame_hashes`` lists (pdq, quality) for every kept frame in playback order, near-duplicate
    neighbours dropped; a still image has exactly one entry. ``variants`` (only with
    ``with_variants=True``) holds the 8 dihedral hashes of the representative frame (the first is
    ``pdq`` itself) followed by crop variants, de-duplicated, all sharing ``quality``: bank them
    with the entry so that mirrored, rotated and slightly cropped copies still match.
    """

    # Hash values are kept out of repr(): hashes are sensitive and reprs end up in logs.
    pdq: str = field(repr=False)
    quality: int
    sha256: str = field(repr=False)
    md5: str = field(repr=False)
    frames: int = 1
    frame_hashes: tuple[tuple[str, int], ...] = field(default=(), repr=False)
    variants: tuple[str, ...] = field(default=(), repr=False)
    format: str = ""  # "JPEG", "PNG", "GIF", "WEBP", ... (as Pillow names it)
    width: int = 0  # of the original, after EXIF orientation
    height: int = 0
    video: bool = False  # a video (video.py): frame_hashes are frames sampled about once per second
    duration: float = 0.0  # seconds (videos)

    @property
    def animated(self) -> bool:
        return self.frames > 1

    def query_hashes(self) -> tuple[str, ...]:
        """The hashes to look up in a bank: the representative frame and every kept frame."""
        return _unique((self.pdq, *(h for h, _ in self.frame_hashes)))

    def bank_hashes(self) -> tuple[str, ...]:
        """The hashes to store for a bank entry: ``query_hashes()`` plus the variants."""
        return _unique((*self.query_hashes(), *self.variants))


def hash_image_bytes(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    with_variants: bool = False,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> MediaHashes:
    """Hash an image held in memory. Raises :class:`MediaError` (and nothing else) on bad input."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("data must be bytes")
    data = bytes(data)
    # The exact hashes run beside the decode (both release the GIL): for a large JPEG this hides them.
    exact = _EXACT.submit(_exact_hashes, data) if len(data) > _PARALLEL_EXACT_FROM and len(data) <= max_bytes else None
    try:
        decoded = decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels, max_frames=max_frames)
    except BaseException:
        if exact is not None:
            exact.cancel()
        raise
    try:
        return _hash_decoded(data, decoded, with_variants=with_variants,
                             exact=exact.result() if exact is not None else None)
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. a degenerate frame the hasher rejects
        raise MediaError(R_MALFORMED) from exc


def hash_image_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    with_variants: bool = False,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> MediaHashes:
    """Hash an image file (read into memory, size checked before reading)."""
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size > max_bytes:
                raise MediaError(R_TOO_LARGE)
            data = fh.read(max_bytes + 1)
    except MediaError:
        raise
    except OSError as exc:  # the OSError text contains the path: keep it out of the reason
        raise MediaError(R_UNREADABLE) from exc
    return hash_image_bytes(
        data, max_bytes=max_bytes, max_pixels=max_pixels, with_variants=with_variants,
        max_frames=max_frames,
    )


def hamming(a_hex: str, b_hex: str) -> int:
    """Hamming distance between two 64-hex-character PDQ hashes."""
    return (_hex_int(a_hex) ^ _hex_int(b_hex)).bit_count()


def is_pdq_hex(value: object) -> bool:
    """Whether ``value`` is a 64-character hex string (either case)."""
    return isinstance(value, str) and _HEX64.fullmatch(value.lower()) is not None


def pdq_of_image(im: Image.Image) -> tuple[str, int]:
    """PDQ (hex, quality) of an RGB Pillow image (no resizing; see ``decode.HASH_SIZE``)."""
    vector, quality = pdqhash.compute(_rgb_array(im))
    return _vector_hex(vector), int(quality)


# -- internals ---------------------------------------------------------------------------------


_EXACT = ThreadPoolExecutor(max_workers=2, thread_name_prefix="exact-hash")
_PARALLEL_EXACT_FROM = 256 * 1024


def _exact_hashes(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()


def _hash_decoded(data: bytes, decoded, *, with_variants: bool, exact: tuple[str, str] | None = None) -> MediaHashes:
    kept: list[tuple[str, int]] = []
    kept_images: list[Image.Image] = []
    last: int | None = None
    for frame in decoded.frames:
        hex_, quality = pdq_of_image(frame)
        value = int(hex_, 16)
        if last is not None and (value ^ last).bit_count() <= FRAME_DEDUPE_DISTANCE:
            continue
        kept.append((hex_, quality))
        kept_images.append(frame)
        last = value
    rep = next((i for i, (_, q) in enumerate(kept) if q >= MIN_QUALITY), None)
    if rep is None:
        rep = max(range(len(kept)), key=lambda i: kept[i][1])  # first of the best
    pdq, quality = kept[rep]
    sha256, md5 = exact or _exact_hashes(data)
    variants: tuple[str, ...] = ()
    if with_variants:
        variants = _variants(kept_images[rep])
    return MediaHashes(
        pdq=pdq,
        quality=quality,
        sha256=sha256,
        md5=md5,
        frames=decoded.frame_count,
        frame_hashes=tuple(kept),
        variants=variants,
        format=decoded.format,
        width=decoded.width,
        height=decoded.height,
    )


def _variants(im: Image.Image) -> tuple[str, ...]:
    vectors, _quality = pdqhash.compute_dihedral(_rgb_array(im))
    out = [_vector_hex(v) for v in vectors]
    width, height = im.size
    for left, top, right, bottom in CROP_VARIANTS:
        box = (
            round(width * left),
            round(height * top),
            width - round(width * right),
            height - round(height * bottom),
        )
        if box[2] - box[0] < 8 or box[3] - box[1] < 8:
            continue
        out.append(pdq_of_image(im.crop(box))[0])
    return _unique(out)


def _rgb_array(im: Image.Image) -> np.ndarray:
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def _vector_hex(vector: np.ndarray) -> str:
    # pdqhash returns 256 bits, most significant (bit 255) first: packing them big-endian gives the
    # reference implementation's hex string (w[15] .. w[0]).
    return np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes().hex()


def _hex_int(value: str) -> int:
    if not is_pdq_hex(value):
        raise ValueError("not a 64-character hex PDQ hash")
    return int(value, 16)


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
