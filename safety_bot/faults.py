"""Fault injection for the crash tests: die at a named point, like a power cut.

    SAFETY_BOT_CRASH_AT=report.committed        the first time the point is reached
    SAFETY_BOT_CRASH_AT=action.before_call:3    the third time
    SAFETY_BOT_CRASH_AT=action.before_call.ban  a dotted name also matches its more specific points

When the point is reached the process sends itself SIGKILL: no cleanup, no flush, no `finally`.
Points in the product:
  report.committed              `SafetyService.report`: the report is committed, the member not yet told
  action.before_call.<kind>     `Runtime`: the action is in the outbox, the platform not yet called
  action.after_call.<kind>      `Runtime`: the platform call returned, the outbox entry not yet marked done
(<kind> is the action's kind: ban, remove_message, send_private, ...)

The variable is read once at import. When it is unset, `point` is a function that returns at once.
Never set it in production.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("SAFETY_BOT_CRASH_AT") or None
_name, _, _nth = (_SPEC or "").partition(":")
_target = int(_nth) if _nth.isdigit() and int(_nth) > 0 else 1
_hits = 0


def _point(name: str) -> None:
    global _hits
    if name != _name and not name.startswith(_name + "."):
        return
    _hits += 1
    if _hits == _target:
        os.kill(os.getpid(), signal.SIGKILL)


def _off(name: str) -> None:
    return None


point = _point if _SPEC else _off
