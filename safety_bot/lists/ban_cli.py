"""`safety-bot bans ...`: Discord ban pools (issue 19, item 4)."""

from __future__ import annotations


def register_bans(sub, with_config) -> None:
    return None
