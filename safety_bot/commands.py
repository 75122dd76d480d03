"""Moderator commands as data: the registry (`COMMAND_SPECS`: each command declared once), and the text
parser shared by the console and Matrix adapters.

Discord builds the same `ModCommand` from slash-command options, so all three platforms reach the
core with one shape. Parsing is pure and never raises: a malformed line gives a usage message.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from dataclasses import dataclass, field

TEAM = "safety_team"  # who may run a command: the community's safety team (checked from current roles)
ANY_STATE = ("open", "acting", "closed")
OPEN_STATES = ("open", "acting")


@dataclass(frozen=True)
class Param:
    """One parameter of a moderator command, typed, so every platform can offer it its own way.

    kind: case (a case number), member (a member of the platform), user_id (an account id, for someone
    who left), message (a link or id), text (free text), choice (one of `choices`), flag (on or off).
    `to` says where the value goes in the `ModCommand`: case, member, user_id, link, text, or
    flag:<name> (`cmd.flags[name]`; a flag only when set). What an option means (Discord's option help) is the
    team text `command_option_<command>_<name>` (CommandSpec.option_help)."""

    name: str
    kind: str
    to: str
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommandSpec:
    """A moderator command, declared once. The console help, `!safety help`, the Discord `/safety` group
    and the README's command table are made from this; `moderation.moderate` dispatches to `handler`."""

    name: str
    usage: str  # the text form, after the platform's prefix
    handler: str  # "module:function" in safety_bot, resolved at first use (no import cycle)
    params: tuple[Param, ...] = ()
    who: str = TEAM
    case_states: tuple[str, ...] = ANY_STATE  # the case states it acts on (its handler refuses others)
    needs_target: bool = False  # a member or an id must be given
    platforms: tuple[str, ...] = ()  # only these platforms offer it (empty: all)

    @property
    def summary(self) -> str:
        """One line: what it does (Discord's description): the team text `command_summary_<name>`, in English."""
        return english(f"command_summary_{self.name}")

    def option_help(self, param: Param) -> str:
        """What an option means (Discord's option help), in English; "" when the locale file says nothing."""
        return _english_template(f"command_option_{self.name}_{param.name}") or ""


def _p(name, kind, to=None, required=False, choices=()):
    return Param(name, kind, to or name, required, tuple(choices))


_CASE = _p("case", "case", required=True)
_OPT_CASE = _p("case", "case")
COMMAND_SPECS: dict[str, CommandSpec] = {s.name: s for s in (
    CommandSpec("cases", "cases [all]", "moderation:cmd_cases",
                (_p("all", "flag", "flag:all"),)),
    CommandSpec("case", "case N", "moderation:cmd_case", (_CASE,)),
    CommandSpec("note", "note N <text>", "moderation:cmd_note",
                (_CASE, _p("text", "text", required=True))),
    CommandSpec("assign", "assign N [member]",
                "moderation:cmd_assign", (_CASE, _p("member", "member"))),
    CommandSpec("close", "close N [actioned|unfounded|duplicate|withdrawn]", "moderation:cmd_close",
                (_CASE, _p("reason", "choice", "text", choices=("actioned", "unfounded", "duplicate", "withdrawn"))),
                case_states=OPEN_STATES),
    CommandSpec("ban", "ban <member or id> [more ids...] [--case N] [--confirm] [reason]", "sanctions:cmd_ban",
                (_p("member", "member"),
                 _p("user_id", "user_id"),
                 _p("case", "case"),
                 _p("confirm", "flag", "flag:confirm"),
                 _p("reason", "text", "text")),
                needs_target=True),
    CommandSpec("unban", "unban <member or id> [reason]", "sanctions:cmd_unban",
                (_p("member", "member"), _p("user_id", "user_id"), _p("reason", "text", "text")),
                needs_target=True),
    CommandSpec("unsuspend", "unsuspend <member or id> [reason]", "suspension:cmd_unsuspend",
                (_p("member", "member"), _p("user_id", "user_id"), _p("reason", "text", "text")),
                needs_target=True),
    CommandSpec("remove", "remove <message link or id> [--case N] [--block]", "moderation:cmd_remove",
                (_p("link", "message", required=True),
                 _OPT_CASE, _p("block", "flag", "flag:block"))),
    CommandSpec("warn", "warn <member> <reason> [--case N]",
                "sanctions:cmd_warn",
                (_p("member", "member", required=True), _p("reason", "text", "text", required=True), _OPT_CASE),
                needs_target=True),
    CommandSpec("strikes", "strikes <member>", "sanctions:cmd_strikes",
                (_p("member", "member"), _p("user_id", "user_id")), needs_target=True),
    CommandSpec("resources", "resources <member> [country]",
                "moderation:cmd_resources", (_p("member", "member", required=True), _p("country", "text", "text")),
                needs_target=True),
    CommandSpec("reply", "reply N <text>", "moderation:cmd_reply",
                (_CASE, _p("text", "text", required=True))),
    CommandSpec("open", "open <member> <note> [--category sextortion|child_safety|harassment]",
                "moderation:cmd_open",
                (_p("member", "member", required=True), _p("note", "text", "text", required=True),
                 _p("category", "choice", "flag:category", choices=("sextortion", "child_safety", "harassment"))),
                needs_target=True),
    CommandSpec("export", "export N [--reason <why, when the reporter has not consented>]", "moderation:cmd_export",
                (_CASE, _p("reason", "text", "flag:reason"))),
    CommandSpec("reveal", "reveal N <reason>", "moderation:cmd_reveal",
                (_CASE, _p("reason", "text", "text", required=True))),
    CommandSpec("hold", "hold N [off]", "moderation:cmd_hold",
                (_CASE, _p("off", "flag", "text:off"))),
    CommandSpec("reopen", "reopen N", "care_commands:cmd_reopen",
                (_CASE,)),
    CommandSpec("link", "link N <member>",
                "care_commands:cmd_link", (_CASE, _p("member", "member", required=True)), case_states=OPEN_STATES,
                needs_target=True),
    CommandSpec("alt", "alt N <member or id> [--remove]",
                "alt_accounts:cmd_alt",
                (_CASE, _p("member", "member"),
                 _p("user_id", "user_id"),
                 _p("remove", "flag", "flag:remove")),
                case_states=OPEN_STATES, needs_target=True),
    CommandSpec("category", "category N <sextortion|child_safety|harassment> <reason>", "case_category:cmd_category",
                (_CASE, _p("category", "choice", "text", required=True, choices=("sextortion", "child_safety", "harassment")),
                 _p("reason", "text", "text", required=True)), case_states=OPEN_STATES),
    CommandSpec("confirm", "confirm <code>",
                "two_person:cmd_confirm", (_p("code", "text", "text", required=True),)),
    CommandSpec("lists", "lists", "lists.commands:cmd_lists"),
    CommandSpec("watch", "watch <room> [--apply]",
                "lists.commands:cmd_watch",
                (_p("room", "text", "text", required=True),
                 _p("apply", "flag", "flag:apply")),
                platforms=("matrix", "console")),
    CommandSpec("unwatch", "unwatch <room>",
                "lists.commands:cmd_unwatch", (_p("room", "text", "text", required=True),),
                platforms=("matrix", "console")),
    CommandSpec("help", "help", ""),
)}
USAGE: dict[str, str] = {name: spec.usage for name, spec in COMMAND_SPECS.items()}
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


def _english_template(key: str) -> str | None:
    """The English text of `key` from the locale files this process loaded (the app's playbooks folder, as
    configured); before any, from the checkout's playbooks/ (tests, tools)."""
    from .locales import LOADED, load_locales

    for texts in LOADED:
        if (found := texts.template(key, "en")) is not None:
            return found
    checkout = Path(__file__).resolve().parents[1] / "playbooks"
    if (checkout / "locales" / "en.yaml").is_file() and not any(getattr(t, "folder", None) == checkout for t in LOADED):
        texts, _ = load_locales(checkout, [])
        return texts.template(key, "en") if texts is not None else None
    return None


def english(key: str, **kw) -> str:
    """A team text in English: for callers that pass no `t` (the Discord command registration, tests)."""
    template = _english_template(key)
    return template.format(**kw) if template is not None and kw else (template or key)


def usage(name: str, prefix: str = "", t=english) -> str:
    """`t(key, **kw)`: the reader's team texts (a moderator command's `Ctx.t`); English when not given."""
    return t("command_usage", usage=f"{prefix}{USAGE[name]}")


def help_text(prefix: str = "", t=english) -> str:
    return t("command_help", commands="\n".join(f"  {prefix}{u}" for u in USAGE.values()))


def _case_number(token: str | None) -> int | None:
    if token is None:
        return None
    token = token.lstrip("#")
    return int(token) if token.isascii() and token.isdecimal() and len(token) < 10 else None


def parse(line: str, prefix: str = "", t=english) -> ModCommand | ParseError:
    """One command line (without the platform's prefix); `prefix` is shown in usage and help texts, in the
    team texts of `t(key, **kw)` (English when not given)."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    if not words:
        return ParseError(help_text(prefix, t))
    name = words[0].lower()
    if name not in USAGE:
        return ParseError(t("command_unknown", name=name[:30]) + " " + help_text(prefix, t))
    flags: dict[str, str | bool] = {}
    rest: list[str] = []
    i = 1
    while i < len(words):
        w = words[i]
        if w in ("--case", "--category", "--reason"):
            if i + 1 >= len(words):
                return ParseError(t("command_needs_value", option=w) + " " + usage(name, prefix, t))
            flags[w[2:]] = words[i + 1] if w != "--reason" else " ".join(words[i + 1:])
            i = i + 2 if w != "--reason" else len(words)
            continue
        if w in ("--block", "--confirm", "-y", "--all", "--remove", "--apply"):
            flags[w.lstrip("-").replace("y", "confirm") if w == "-y" else w[2:]] = True
            i += 1
            continue
        rest.append(w)
        i += 1
    cmd = ModCommand(name=name, flags=flags)
    if "case" in flags:
        cmd.case = _case_number(str(flags["case"]))
        if cmd.case is None:
            return ParseError(t("command_not_case_number", given=str(flags['case'])[:20]) + " " + usage(name, prefix, t))
    if name == "link":  # link N <member>: the person a friend's report is about joins the case
        if len(rest) != 2 or _case_number(rest[0]) is None:
            return ParseError(usage(name, prefix, t))
        cmd.case = _case_number(rest[0])
        cmd.targets = [rest[1]]
        return cmd
    if name == "alt":  # alt N <member or id> [--remove]
        if len(rest) != 2 or _case_number(rest[0]) is None:
            return ParseError(usage(name, prefix, t))
        cmd.case = _case_number(rest[0])
        cmd.targets = [rest[1]]
        return cmd
    needs_case = name in ("case", "note", "assign", "close", "reply", "export", "reveal", "hold", "reopen", "category")
    if needs_case:
        if not rest or _case_number(rest[0]) is None:
            return ParseError(usage(name, prefix, t))
        cmd.case = _case_number(rest[0])
        rest = rest[1:]
        if name in ("note", "reply", "reveal") and not rest or name == "category" and len(rest) < 2:
            return ParseError(usage(name, prefix, t))
        cmd.text = " ".join(rest)
        if name == "assign" and rest:
            cmd.targets = [rest[0]]  # assign N member: that member (the caller when no one is named)
        return cmd
    if name in ("watch", "unwatch"):  # watch <room> [--apply] / unwatch <room>
        if len(rest) != 1:
            return ParseError(usage(name, prefix, t))
        cmd.text = rest[0]
        return cmd
    if name == "lists":
        return cmd
    if name in ("cases", "help"):
        cmd.flags["all"] = bool(rest and rest[0] == "all") or bool(flags.get("all"))
        return cmd
    if name == "remove":
        if not rest:
            return ParseError(usage(name, prefix, t))
        cmd.message = rest[0]
        cmd.text = " ".join(rest[1:])
        return cmd
    if name == "ban":
        if not rest:
            return ParseError(usage(name, prefix, t))
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
    if name in ("unban", "unsuspend", "warn", "open"):
        if len(rest) < (1 if name in ("unban", "unsuspend") else 2):
            return ParseError(usage(name, prefix, t))
        cmd.targets = [rest[0]]
        cmd.text = " ".join(rest[1:])
        return cmd
    if name == "confirm":
        if len(rest) != 1:
            return ParseError(usage(name, prefix, t))
        cmd.text = rest[0]
        return cmd
    if name in ("strikes", "resources"):
        if not rest:
            return ParseError(usage(name, prefix, t))
        cmd.targets = [rest[0]]
        cmd.text = " ".join(rest[1:])
        return cmd
    return ParseError(usage(name, prefix, t))  # pragma: no cover - every name is handled above


def _looks_like_target(word: str) -> bool:
    return word.startswith("@") or word.startswith("<@") or (word.isascii() and word.isdecimal())
