"""Test harness: a console community driven line by line, recording what each party sees.

Every printed line starts with a destination tag, so tests can assert exactly who saw what:
  [private to NAME] ...            only NAME
  [#CHANNEL @ COMMUNITY] ...       a channel (the safety channel, or a public one)
  [escalation to NAME @ C] ...     the escalation contact
  [audit log @ C] ...              the platform's audit log (moderators)
  [bot to NAME] ...                a reply only NAME sees (like an ephemeral reply)
  NAME@C> ...                      the line NAME typed
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import yaml

from adapters.console import ConsoleAdapter
from safety_bot.app import App
from safety_bot.config import load_config
from safety_bot.store import MemoryStore

ROOT = Path(__file__).resolve().parent.parent

BASE_CONFIG = {
    "playbooks": str(ROOT / "playbooks"),
    "console": {
        "start_as": "alice",
        "communities": [
            {"id": "cafe", "network": "friends", "channels": ["general", "art"], "safety_channel": "safety-team",
             "escalation": "olivia", "members": ["alice", "bob", "carol", "dave", "olivia"], "moderators": ["mia", "max"]},
            {"id": "club", "network": "friends", "channels": ["lobby"], "safety_channel": "mods-only",
             "members": ["bob", "erin"], "moderators": ["mia"]},
        ],
    },
}


def write_config(tmp_path: Path, overrides: dict | None = None, *, db: str | None = None) -> Path:
    data = yaml.safe_load(yaml.safe_dump(BASE_CONFIG))
    data["storage"] = {"database": db or str(tmp_path / "db.sqlite3")}
    data["exports_dir"] = str(tmp_path / "exports")
    for key, value in (overrides or {}).items():
        data[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


class Harness:
    def __init__(self, app: App, offset: list[float]):
        self.app = app
        self.offset = offset
        self.lines: list[str] = []
        self.console = ConsoleAdapter(app, self.lines.append, clock_offset=offset)

    async def run(self, *lines: str) -> list[str]:
        start = len(self.lines)
        for line in lines:
            await self.console.handle(line)
        return self.lines[start:]

    # who saw what
    def private(self, name: str, lines=None) -> str:
        return "\n".join(l for l in (lines or self.lines) if l.startswith(f"[private to {name}]"))

    def replies(self, name: str, lines=None) -> str:
        return "\n".join(l for l in (lines or self.lines) if l.startswith(f"[bot to {name}]"))

    def channel(self, channel: str, community: str = "cafe", lines=None) -> str:
        return "\n".join(l for l in (lines or self.lines) if l.startswith(f"[#{channel} @ {community}]"))

    def team(self, community: str = "cafe", lines=None) -> str:
        ch = {"cafe": "safety-team", "club": "mods-only"}[community]
        return self.channel(ch, community, lines)

    def escalation(self, lines=None) -> str:
        return "\n".join(l for l in (lines or self.lines) if l.startswith("[escalation to"))

    @property
    def store(self):
        return self.app.store

    @property
    def service(self):
        return self.app.service


def destination(line: str) -> str:
    m = re.match(r"^(\[[^\]]+\]|\S+@\S+>)", line)
    return m.group(1) if m else "?"


async def make_harness(tmp_path: Path, overrides: dict | None = None, *, sqlite: bool = False, env=None) -> Harness:
    cfg = load_config(write_config(tmp_path, overrides), env=env or {})
    offset = [0.0]
    store = None if sqlite else MemoryStore()
    app = App(cfg, store=store, clock=lambda: time.time() + offset[0])
    await app.__aenter__()
    return Harness(app, offset)
