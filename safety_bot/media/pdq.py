"""What a PDQ search returns and how a distance is acted on (``classify``); ``pack_hex`` packs hex hashes
into the matcher's uint64 words. Split from ``matcher.py``, which re-exports all of it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

import numpy as np

from .hashing import MIN_QUALITY, is_pdq_hex

__all__ = ["FLAG_DISTANCE", "REMOVE_DISTANCE", "Match", "MultiMatch", "classify", "pack_hex"]

#: Meta's recommended PDQ match threshold.
REMOVE_DISTANCE = 31
#: Beyond a confident match but still worth a human look.
FLAG_DISTANCE = 52


class Match(NamedTuple):
    """Best (smallest) distance of one bank entry to the query hash."""

    entry_id: int
    distance: int


class MultiMatch(NamedTuple):
    """Best distance of one bank entry over several query hashes (``query_many``);
    ``query_index`` is the position of the query hash that achieved it (the first, on ties)."""

    entry_id: int
    distance: int
    query_index: int


def classify(
    distance: int,
    query_quality: int,
    entry_quality: int,
    *,
    remove_at: int = REMOVE_DISTANCE,
    flag_at: int = FLAG_DISTANCE,
    min_quality: int = MIN_QUALITY,
) -> Literal["remove", "flag"] | None:
    """Decision for a perceptual match: "remove", "flag" (for human review) or None.

    Low-quality hashes (on either side) are never acted on: flat or near-blank images collide
    easily. Exact (SHA-256/MD5) matches are the caller's to handle, whatever the quality.
    """
    if query_quality < min_quality or entry_quality < min_quality:
        return None
    if distance <= remove_at:
        return "remove"
    if distance <= flag_at:
        return "flag"
    return None


def pack_hex(pdq_hexes: Iterable[str]) -> np.ndarray:
    """Hex PDQ hashes -> ``(n, 4)`` uint64 array (word 0 = the first 16 hex characters)."""
    hexes = list(pdq_hexes)
    for h in hexes:
        if not is_pdq_hex(h):
            raise ValueError("not a 64-character hex PDQ hash")
    if not hexes:
        return np.empty((0, 4), dtype=np.uint64)
    raw = bytes.fromhex("".join(hexes))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(len(hexes), 4)
