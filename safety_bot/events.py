"""The core's event types: what an adapter hands to the core. Plain data, no behaviour, no imports of
the service, so every layer (service, moderator commands, adapters) can use them without a cycle."""

from __future__ import annotations

from dataclasses import dataclass, field

from .domain import Case, MessageRef, MessageSnapshot, UserRef


@dataclass(frozen=True)
class Community:
    id: str
    platform: str
    network: str
    name: str = ""
    has_escalation: bool = False


@dataclass
class ReportEvent:
    community: str
    reporter: UserRef
    text: str
    locale: str = "en"
    message: MessageSnapshot | None = None  # the reported message, captured at once by the adapter
    message_ref: MessageRef | None = None  # when only the reference is known
    accused: UserRef | None = None
    accused_is_moderator: bool = False
    source: str = "member"


@dataclass
class ModContext:
    actor: UserRef
    community: str
    is_moderator: bool
    locale: str = "en"
    command_prefix: str = ""  # how commands are typed on this platform, for help and usage texts ("!safety ")
    via: str = "command"  # "command", or "button" when a case card's button was pressed (confirmations say so)
    via_escalation: bool = False  # sent by the escalation contact / from the escalation destination (guard.py)


@dataclass
class Resolved:
    """A command's targets as the adapter found them on the platform."""

    targets: list[UserRef] = field(default_factory=list)
    moderators: set[str] = field(default_factory=set)  # keys of targets who hold moderator power
    message: MessageRef | None = None
    message_author: UserRef | None = None  # who wrote `message`, when the adapter could look it up


def reporter_actor(case: Case) -> str:
    """Who did it, in the audit log, when the reporter did something: the case's alias, never their
    account. The log is exported with cases; only an audited `reveal` shows who reported."""
    return f"reporter:{case.alias}"
