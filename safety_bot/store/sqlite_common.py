"""What the SQLite store's modules share: JSON as it is stored."""

from __future__ import annotations

import json


def _j(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
