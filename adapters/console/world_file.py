"""The console's pretend community, kept beside the database so a restart continues the same world:
message ids go on from where they were (case evidence keeps pointing at the right message), bans hold,
and you are still who and where you were. One small JSON file, readable only by its owner (0600),
written whole and swapped in atomically. `safety-bot run --fresh` deletes it with the database."""

from __future__ import annotations

import json
import os
from pathlib import Path

VERSION = 1


def path_for(database: Path) -> Path:
    return database.with_name(database.name + ".console.json")


def save(path: Path, adapter) -> None:
    w = adapter.world
    data = {
        "version": VERSION,
        "counter": w.counter,
        "messages": [vars(m) for m in w.messages.values()],
        "bans": w.bans,
        "timeouts": w.timeouts,
        "me": adapter.me,
        "here": adapter.here,
        "locale": adapter.locale,
        "clock_offset": adapter.offset[0],
        "asking": sorted(adapter.asking),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
    os.replace(tmp, path)


def load(path: Path, adapter, msg_type) -> bool:
    """Restore the world into `adapter`. False when there is nothing (or nothing usable) to restore."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return False
    w = adapter.world
    known = set(w.communities)
    w.counter = int(data.get("counter", 0))
    w.messages = {m["id"]: msg_type(**m) for m in data.get("messages", []) if m.get("community") in known}
    w.bans = {c: dict(v) for c, v in data.get("bans", {}).items() if c in known}
    w.timeouts = {c: dict(v) for c, v in data.get("timeouts", {}).items() if c in known}
    me, here = data.get("me"), data.get("here")
    if here in known and me in w.people(here):
        adapter.me, adapter.here = me, here
    adapter.locale = data.get("locale") or adapter.locale
    adapter.offset[0] = float(data.get("clock_offset", 0.0))
    adapter.asking = set(data.get("asking", []))
    return True
