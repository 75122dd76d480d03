"""What the SQLite store's modules share: JSON as it is stored."""

from __future__ import annotations

import json


# One encoder for every value (json.dumps with these options would build a new encoder each call).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _j(value) -> str:
    return _ENCODE(value)
