"""Log set-up: `log_format: text` (one readable line per record) or `json` (one JSON object per line).

JSON lines carry an event name and, for case events, the community and case number: never report text,
names or user ids. Case events come from the audit trail (see `CaseEventLog`), so every recorded step
is one line, named like its audit entry (`report.received`, `action.ban`, `media.match_removed`).
"""

from __future__ import annotations

import json
import logging
import re
import time

# discord.py logs request bodies at DEBUG: case text must never reach log files.
NOISY = ("discord.http", "discord.gateway", "discord.client", "nio", "aiosqlite", "peewee", "aiohttp.access")
_SLUG = re.compile(r"[^a-z0-9]+")


def event_name(record: logging.LogRecord) -> str:
    """The record's `event` extra, or a stable name made from its logger and message template (the
    template, not the formatted message: arguments never become part of the name)."""
    given = getattr(record, "event", None)
    if given:
        return str(given)
    template = _SLUG.sub("_", str(record.msg).split("%")[0].lower()).strip("_")[:60]
    return f"{record.name}:{template}" if template else record.name


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        row = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": event_name(record),
        }
        for key in ("community", "case"):
            value = getattr(record, key, None)
            if value is not None:
                row[key] = value
        row["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            row["error"] = record.exc_info[0].__name__
            row["traceback"] = self.formatException(record.exc_info)
        return json.dumps(row, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def setup_logging(level: str, fmt: str = "text", stream=None) -> logging.Handler:
    """Configure the root logger once for the process; returns the handler it installed."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_safety_bot", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream)
    handler._safety_bot = True  # type: ignore[attr-defined]
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level))
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level)))
    return handler


class CaseEventLog:
    """An audit observer: one INFO line per recorded step, with its name, community and case number.
    The audit detail is not logged (it may hold user ids or message ids)."""

    def __init__(self, logger: logging.Logger | None = None):
        self.log = logger or logging.getLogger("safety_bot.audit_events")

    def __call__(self, event: str, community: str = "", case=None, **detail) -> None:
        if event == "outbox.done":  # action results: only failures are worth a line (the audit has the rest)
            if detail.get("status") in ("failed", "forbidden"):
                kind = detail.get("kind")
                self.log.warning("action %s failed on %s (%s)", kind, detail.get("platform"), detail.get("status"),
                                 extra={"event": f"action.{kind}.failed", "community": community or None})
            return
        if event in ("case.list", "case.view", "member.strikes_viewed"):
            return  # reads, not steps: the audit log has them
        number = getattr(case, "number", None)
        extra = {"event": event, "community": community or None, "case": number}
        where = (f" {community}" if community else "") + (f" case {number}" if number is not None else "")
        self.log.info("%s%s", event, where, extra=extra)
