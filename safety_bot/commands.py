"""Moderator commands as data, and the text parser shared by the console and Matrix adapters.

Discord builds the same `ModCommand` from slash-command options, so all three platforms reach the
core with one shape. Parsing is pure and never raises: a malformed line gives a usage message.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

USAGE: dict[str, str] = {
    "cases": "cases [all]",
    "case": "case N",
    "note": "note N <text>",
    "assign": "assign N [member]",
    "close": "close N [actioned|unfounded|duplicate|withdrawn]",
    "ban": "ban <member or id> [more ids...] [--case N] [--confirm] [reason]",
    "unban": "unban <member or id> [reason]",
    "remove": "remove <message link or id> [--case N] [--block]",
    "warn": "warn <member> <reason> [--case N]",
    "strikes": "strikes <member>",
    "resources": "resources <member> [country]",
    "reply": "reply N <text>",
    "open": "open <member> <note> [--category sextortion|child_safety|harassment]",
    "export": "export N [--reason <why, when the reporter has not consented>]",
    "reveal": "reveal N <reason>",
    "hold": "hold N [off]",
    "help": "help",
}
COMMANDS = tuple(USAGE)


@dataclass
class ModCommand:
    name: str
    case: int | None = None
    targets: list[str] = field(default_factory=list)  # raw member names / ids / mentions
    message: str | None = None  # raw message link or id
    text: str = ""
    flags: dict[str, str | bool] = field(default_factory=dict)


@dataclass
class ParseError:
    message: str


def usage(name: str, prefix: str = "") -> str:
    return f"Usage: {prefix}{USAGE[name]}"


def help_text(prefix: str = "") -> str:
    return "Safety team commands:\n" + "\n".join(f"  {prefix}{u}" for u in USAGE.values())


def _case_number(token: str | None) -> int | None:
    if token is None:
        return None
    token = token.lstrip("#")
    return int(token) if token.isascii() and token.isdecimal() and len(token) < 10 else None


def parse(line: str, prefix: str = "") -> ModCommand | ParseError:
    """One command line (without the platform's prefix); `prefix` is shown in usage and help texts."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    if not words:
        return ParseError(help_text(prefix))
    name = words[0].lower()
    if name not in USAGE:
        return ParseError(f"Unknown command '{name[:30]}'. " + help_text(prefix))
    flags: dict[str, str | bool] = {}
    rest: list[str] = []
    i = 1
    while i < len(words):
        w = words[i]
        if w in ("--case", "--category", "--reason"):
            if i + 1 >= len(words):
                return ParseError(f"{w} needs a value. {usage(name, prefix)}")
            flags[w[2:]] = words[i + 1] if w != "--reason" else " ".join(words[i + 1:])
            i = i + 2 if w != "--reason" else len(words)
            continue
        if w in ("--block", "--confirm", "-y", "--all"):
            flags[w.lstrip("-").replace("y", "confirm") if w == "-y" else w[2:]] = True
            i += 1
            continue
        rest.append(w)
        i += 1
    cmd = ModCommand(name=name, flags=flags)
    if "case" in flags:
        cmd.case = _case_number(str(flags["case"]))
        if cmd.case is None:
            return ParseError(f"'{str(flags['case'])[:20]}' is not a case number. {usage(name, prefix)}")
    needs_case = name in ("case", "note", "assign", "close", "reply", "export", "reveal", "hold")
    if needs_case:
        if not rest or _case_number(rest[0]) is None:
            return ParseError(usage(name, prefix))
        cmd.case = _case_number(rest[0])
        rest = rest[1:]
        if name in ("note", "reply", "reveal") and not rest:
            return ParseError(usage(name, prefix))
        cmd.text = " ".join(rest)
        return cmd
    if name in ("cases", "help"):
        cmd.flags["all"] = bool(rest and rest[0] == "all") or bool(flags.get("all"))
        return cmd
    if name == "remove":
        if not rest:
            return ParseError(usage(name, prefix))
        cmd.message = rest[0]
        cmd.text = " ".join(rest[1:])
        return cmd
    if name == "ban":
        if not rest:
            return ParseError(usage(name, prefix))
        # several ids may follow; the first word that is not a target starts the reason
        targets = [rest[0]]
        for w in rest[1:]:
            if _looks_like_target(w):
                targets.append(w)
            else:
                break
        cmd.targets = targets
        cmd.text = " ".join(rest[len(targets):])
        return cmd
    if name in ("unban", "warn", "open"):
        if len(rest) < (1 if name == "unban" else 2):
            return ParseError(usage(name, prefix))
        cmd.targets = [rest[0]]
        cmd.text = " ".join(rest[1:])
        return cmd
    if name in ("strikes", "resources"):
        if not rest:
            return ParseError(usage(name, prefix))
        cmd.targets = [rest[0]]
        cmd.text = " ".join(rest[1:])
        return cmd
    return ParseError(usage(name, prefix))  # pragma: no cover - every name is handled above


def _looks_like_target(word: str) -> bool:
    return word.startswith("@") or word.startswith("<@") or (word.isascii() and word.isdecimal())
