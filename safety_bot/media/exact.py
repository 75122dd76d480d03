"""Exact file-hash lookup (SHA-256 and MD5) by bank entry, and the checks on ids and hex digests that the
PDQ matcher (matcher.py) shares. Not thread-safe on its own: HashMatcher calls it under its lock."""

from __future__ import annotations

import numpy as np


def check_id(entry_id: int) -> int:
    if isinstance(entry_id, bool) or not isinstance(entry_id, (int, np.integer)):
        raise TypeError("entry_id must be an int")
    entry_id = int(entry_id)
    if entry_id < 0 or entry_id >= 2**63:
        raise ValueError("entry_id must be a non-negative 64-bit int")
    return entry_id


def check_digest(value: str | None, length: int) -> str | None:
    if value is None:
        return None
    value = value.lower()
    if len(value) != length or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"expected a {length}-character hex digest")
    return value


class ExactIndex:
    """SHA-256 and MD5 digests -> the entries that hold them."""

    def __init__(self) -> None:
        self._sha256: dict[str, set[int]] = {}
        self._md5: dict[str, set[int]] = {}
        self._of: dict[int, set[tuple[str | None, str | None]]] = {}

    def add(self, entry_id: int, sha256: str | None, md5: str | None) -> None:
        if sha256 is not None:
            self._sha256.setdefault(sha256, set()).add(entry_id)
        if md5 is not None:
            self._md5.setdefault(md5, set()).add(entry_id)
        self._of.setdefault(entry_id, set()).add((sha256, md5))

    def query(self, sha256: str | None, md5: str | None) -> set[int]:
        found: set[int] = set()
        if sha256 is not None:
            found |= self._sha256.get(sha256, set())
        if md5 is not None:
            found |= self._md5.get(md5, set())
        return found

    def remove(self, entry_id: int) -> None:
        for sha256, md5 in self._of.pop(entry_id, ()):
            for table, key in ((self._sha256, sha256), (self._md5, md5)):
                if key is None:
                    continue
                owners = table.get(key)
                if owners is not None:
                    owners.discard(entry_id)
                    if not owners:
                        del table[key]
