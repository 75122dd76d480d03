"""Media hashing and matching: PDQ perceptual hashes, SHA-256/MD5 exact hashes, and a matcher.

Platform-neutral: nothing here imports a chat platform library. Typical use::

    hashes = hash_image_bytes(data)                      # MediaError on bad input
    hashes = hash_video_bytes(data)                      # videos (is_video(data)): frames ~1/s, MD5
    matcher.add(entry_id, hashes.bank_hashes())          # when banking (with_variants=True)
    matcher.add_exact(entry_id, hashes.sha256, hashes.md5)
    for m in matcher.query_many(hashes.query_hashes()):  # when checking an upload
        decision = classify(m.distance, query_quality, entry_quality)

Image bytes are only held in memory during a call; nothing here writes them anywhere or keeps them.
Hashes are sensitive too (PDQ hashes can be roughly inverted): store them encrypted, never publish.
"""

from .decode import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    MEDIA_ERROR_REASONS,
    SUPPORTED_FORMATS,
    MediaError,
)
from .hashing import (
    FRAME_DEDUPE_DISTANCE,
    MIN_QUALITY,
    MediaHashes,
    hamming,
    hash_image_bytes,
    hash_image_file,
    is_pdq_hex,
)
from .matcher import FLAG_DISTANCE, REMOVE_DISTANCE, HashMatcher, Match, MultiMatch, classify
from .video import hash_video_bytes, is_video, video_frames_match

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "FLAG_DISTANCE",
    "FRAME_DEDUPE_DISTANCE",
    "MEDIA_ERROR_REASONS",
    "MIN_QUALITY",
    "REMOVE_DISTANCE",
    "SUPPORTED_FORMATS",
    "HashMatcher",
    "Match",
    "MultiMatch",
    "MediaError",
    "MediaHashes",
    "classify",
    "hamming",
    "hash_image_bytes",
    "hash_image_file",
    "hash_video_bytes",
    "is_pdq_hex",
    "is_video",
    "video_frames_match",
]
