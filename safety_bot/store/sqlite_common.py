"""What the SQLite store's modules share: JSON as it is stored."""

from __future__ import annotations

import json


_UNAVAILABLE = ("locked", "busy", "readonly", "read-only", "disk is full", "disk i/o", "unable to open")


def _unavailable(exc: Exception) -> bool:
    """Whether a SQLite error is the database's (locked, full, unreadable) rather than a row's."""
    text = str(exc).lower()
    return any(word in text for word in _UNAVAILABLE)


# One encoder for every value (json.dumps with these options would build a new encoder each call).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _j(value) -> str:
    if not value and type(value) in _EMPTY:  # most lists and dicts of a new case are empty
        return _EMPTY[type(value)]
    return _ENCODE(value)


_EMPTY = {list: "[]", dict: "{}", tuple: "[]"}
_EMPTY_TEXT = {"[]": list, "{}": dict}


def _load(text: str):
    """json.loads, without the parser for an empty list or dict (a new one each time: callers change it)."""
    empty = _EMPTY_TEXT.get(text)
    return empty() if empty is not None else json.loads(text)


def merge_parts(out, parts, keyed: tuple[str, ...], listed: tuple[str, ...]):
    """Several groups' kept rows (SQLite's and PostgreSQL's `Part`) into `out`, in order: in the `keyed`
    tables (dicts) a later value of one key wins, the `listed` ones (lists) are appended."""
    for p in parts:
        for name in keyed:
            getattr(out, name).update(getattr(p, name))
        for name in listed:
            getattr(out, name).extend(getattr(p, name))
    return out
