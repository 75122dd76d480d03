"""Video hashing (vPDQ-style) and the rule for when two videos match.

A video is hashed into an exact MD5 (the format StopNCII shares videos in) and SHA-256 of the file,
and PDQ hashes of frames sampled about once per second (each frame downscaled to a long side of 512
px first, near-identical neighbours dropped, as Meta's vPDQ does). Decoding uses PyAV (FFmpeg) on
bytes held in memory: nothing is written to disk, nothing returned refers to the bytes.

Untrusted input is bounded before and while decoding, each bound a clear refusal (a ``MediaError``
whose reason is a fixed phrase, safe to log): the file size, the container (MP4/MOV/3GP, Matroska/
WebM, AVI: recognised from the first bytes before FFmpeg sees them, so playlist and concat formats
that open other files are never used), the codec, the pixels per frame (checked from the stream
header before decoding and again on every frame), the duration (declared and as decoded) and the
number of frames decoded (a 10-second file can declare 100,000 tiny frames).

The match rule (``video_frames_match``): a query video matches a banked video when

- its SHA-256 or MD5 equals the banked file's (an exact copy), or
- counting the query's sampled frames of PDQ quality >= ``min_quality`` that are within the
  distance of some frame of the banked video (``matched``): at least half of the query's frames
  match (a recompressed or trimmed copy, a clip cut out of it), or ``matched`` is at least half of
  the banked video's frame count (the banked video inside a longer upload; counted on query
  frames, which at one frame per second each stand for about one banked frame), and in either case
  at least two frames match (one when either video has a single frame). A shared title card or
  logo screen (one or two seconds) therefore does not make two long videos match.
- a frame within the distance of a banked *picture* matches that picture (a video showing it), as
  an animated GIF frame does.

With ``media.remove_distance`` this decides removal, with ``media.flag_distance`` a flag for review.
"""

from __future__ import annotations

import hashlib
import io

from .decode import (
    HASH_SIZE,
    R_BOMB,
    R_EMPTY,
    R_MALFORMED_VIDEO,
    R_NOT_VIDEO,
    R_TOO_LARGE,
    R_TOO_LONG,
    R_TOO_MANY_FRAMES,
    R_UNSUPPORTED,
    MediaError,
)
from .hashing import FRAME_DEDUPE_DISTANCE, MIN_QUALITY, MediaHashes

__all__ = [
    "DEFAULT_MAX_VIDEO_BYTES",
    "DEFAULT_MAX_VIDEO_FRAMES",
    "DEFAULT_MAX_VIDEO_PIXELS",
    "DEFAULT_MAX_VIDEO_SECONDS",
    "VIDEO_REASONS",
    "hash_video_bytes",
    "is_video",
    "video_frames_match",
]

#: Videos larger than this are refused before decoding (Matrix's default upload limit is 50 MB).
DEFAULT_MAX_VIDEO_BYTES = 50 * 1024 * 1024
#: Longer videos are refused (declared or as decoded): ten minutes covers recorded video calls.
DEFAULT_MAX_VIDEO_SECONDS = 600.0
#: Frames decoded (not only sampled) at most: ten minutes at 60 frames per second.
DEFAULT_MAX_VIDEO_FRAMES = 36_000
#: Pixels per frame at most: 4K UHD (3840 x 2160).
DEFAULT_MAX_VIDEO_PIXELS = 3840 * 2160
#: Sample one frame per this many seconds.
SAMPLE_SECONDS = 1.0
#: Of the query's (or the banked video's) frames, at least this fraction must match.
MATCH_FRACTION = 0.5

#: The reasons this module adds to ``MEDIA_ERROR_REASONS``.
VIDEO_REASONS = frozenset({R_NOT_VIDEO, R_TOO_LONG, R_TOO_MANY_FRAMES, R_MALFORMED_VIDEO})

# Containers by their first bytes -> FFmpeg demuxer (format names as FFmpeg spells them).
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "libdav1d", "mpeg4", "mjpeg", "mpeg2video", "h263",
                     "theora", "prores"})


def sniff_container(data: bytes) -> str | None:
    """The FFmpeg demuxer for a video file recognised from its first bytes, or None."""
    head = bytes(data[:16])
    if len(head) >= 12 and head[4:8] in _MP4_BOXES:
        return "mov"  # MP4, MOV, 3GP, M4V
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"  # Matroska and WebM
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    return None


def is_video(data: bytes) -> bool:
    """Whether the bytes start like a video container we hash (MP4/MOV, Matroska/WebM, AVI)."""
    return sniff_container(data) is not None


def hash_video_bytes(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_VIDEO_BYTES,
    max_seconds: float = DEFAULT_MAX_VIDEO_SECONDS,
    max_frames: int = DEFAULT_MAX_VIDEO_FRAMES,
    max_pixels: int = DEFAULT_MAX_VIDEO_PIXELS,
) -> MediaHashes:
    """Hash a video held in memory. Raises :class:`MediaError` (and nothing else) on bad input.
    CPU-bound (decoding dominates: about a second per minute of 720p video): run it in a thread.

    The result is a ``MediaHashes`` with ``video=True``: ``frame_hashes`` the kept sampled frames,
    ``pdq``/``quality`` the first kept frame of quality >= 50 (else the best), ``frames`` the frames
    sampled, ``duration`` in seconds; no variants (``bank_hashes()`` are the frames)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("data must be bytes")
    data = bytes(data)
    if not data:
        raise MediaError(R_EMPTY)
    if len(data) > max_bytes:
        raise MediaError(R_TOO_LARGE)
    demuxer = sniff_container(data)
    if demuxer is None:
        raise MediaError(R_NOT_VIDEO)
    try:
        import av  # noqa: F401 - PyAV, part of the media extra
    except ImportError as exc:
        raise MediaError(R_UNSUPPORTED) from exc  # videos need PyAV: pip install 'safety-bot[media]'
    try:
        frames, fmt, width, height, duration = _sample(data, demuxer, max_seconds, max_frames, max_pixels)
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - FFmpeg's errors carry no safe text
        raise MediaError(R_MALFORMED_VIDEO) from exc
    if not frames:
        raise MediaError(R_MALFORMED_VIDEO)
    kept = _dedupe(frames)
    rep = next((i for i, (_, q) in enumerate(kept) if q >= MIN_QUALITY), None)
    if rep is None:
        rep = max(range(len(kept)), key=lambda i: kept[i][1])
    pdq, quality = kept[rep]
    return MediaHashes(
        pdq=pdq, quality=quality, sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(), frames=len(frames), frame_hashes=tuple(kept),
        format=fmt, width=width, height=height, video=True, duration=round(duration, 3))


def video_frames_match(matched: int, query_frames: int, banked_frames: int,
                       fraction: float = MATCH_FRACTION) -> bool:
    """The frame rule of the module docstring. ``matched``: query frames (of usable quality) within the
    distance of some frame of the banked video; ``query_frames``: the query's frames of usable quality;
    ``banked_frames``: the banked video's frames."""
    if matched <= 0 or query_frames <= 0 or banked_frames <= 0:
        return False
    if matched < min(2, query_frames, banked_frames):
        return False
    return matched >= fraction * query_frames or min(matched, banked_frames) >= fraction * banked_frames


# -- internals ---------------------------------------------------------------------------------


def _sample(data: bytes, demuxer: str, max_seconds: float, max_frames: int, max_pixels: int):
    import av  # PyAV: imported here so that pictures work without it

    with av.open(io.BytesIO(data), mode="r", format=demuxer) as container:
        if not container.streams.video:
            raise MediaError(R_NOT_VIDEO)
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx.name not in _CODECS:
            raise MediaError(R_UNSUPPORTED)
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width * height > max_pixels:
            raise MediaError(R_BOMB)
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > max_seconds:
            raise MediaError(R_TOO_LONG)
        stream.thread_type = "AUTO"
        from .hashing import pdq_of_image

        frames: list[tuple[str, int]] = []
        decoded = 0
        next_at = 0.0
        first: float | None = None
        last = 0.0
        for frame in container.decode(stream):
            decoded += 1
            if decoded > max_frames:
                raise MediaError(R_TOO_MANY_FRAMES)
            if frame.width * frame.height > max_pixels:
                raise MediaError(R_BOMB)
            t = frame.time if frame.time is not None else decoded / 30.0
            if first is None:
                first = t
            t -= first
            last = max(last, t)
            if t > max_seconds:
                raise MediaError(R_TOO_LONG)
            if t + 1e-6 < next_at:
                continue
            next_at = (int(t / SAMPLE_SECONDS) + 1) * SAMPLE_SECONDS
            w, h = _scaled(frame.width, frame.height)
            frames.append(pdq_of_image(frame.to_image(width=w, height=h)))
        return frames, demuxer_label(container), width, height, last


def demuxer_label(container) -> str:
    name = container.format.name or ""
    return "MP4" if name.startswith("mov") else "WEBM" if name.startswith("matroska") else name.upper()[:10]


def _declared_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _scaled(width: int, height: int) -> tuple[int, int]:
    long_side = max(width, height, 1)
    if long_side <= HASH_SIZE:
        return max(width, 1), max(height, 1)
    scale = HASH_SIZE / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def _dedupe(frames: list[tuple[str, int]]) -> list[tuple[str, int]]:
    kept: list[tuple[str, int]] = []
    last: int | None = None
    for hex_, quality in frames:
        value = int(hex_, 16)
        if last is not None and (value ^ last).bit_count() <= FRAME_DEDUPE_DISTANCE:
            continue
        kept.append((hex_, quality))
        last = value
    return kept
