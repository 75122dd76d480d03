"""Actions: what the core decides should happen. Adapters carry them out; the runtime records them.

Each action is a small frozen dataclass with a `kind`. They serialise to JSON (for the outbox that
makes actions crash-safe) and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, ClassVar

from .card_text import card_text
from .domain import MessageRef, UserRef


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Prompt:
    """A question to a member. Adapters show choices as buttons or a numbered list; Skip is always offered."""

    question: str
    text: str
    choices: tuple[Choice, ...] = ()
    free_text: bool = True


@dataclass(frozen=True)
class Action:
    kind: ClassVar[str] = "action"

    # fields holding plain data that nobody changes once made: encoded as they are, not copied
    _shared: ClassVar[frozenset] = frozenset()

    def to_json(self) -> dict:
        data = {"kind": self.kind}  # what {"kind": ..., **_plain(self)} gives, without the second dict
        shared = self._shared
        for name in _field_names(self):
            value = getattr(self, name)
            data[name] = value if type(value) in _SCALARS or name in shared else _plain(value)
        return data


@dataclass(frozen=True)
class SendPrivate(Action):
    """A private message to a member (DM; on Discord an ephemeral reply when DMs are closed)."""

    kind: ClassVar[str] = "send_private"
    to: UserRef
    text: str
    community: str = ""
    purpose: str = "info"  # ack | question | resources | crisis | reply | outcome | info
    prompt: Prompt | None = None


@dataclass(frozen=True)
class PostToTeam(Action):
    """A case card or notice for the safety team's private destination (or the escalation one)."""

    kind: ClassVar[str] = "post_to_team"
    community: str
    text: str
    case_number: int | None = None
    ping: bool = False
    destination: str = "safety"  # safety | escalation
    card: dict | None = None  # structured case view for rich adapters (embeds, buttons)
    # one-press actions the core offers on this notice (case_buttons.uploader_ban); rich adapters render them
    buttons: tuple = ()
    # Set (service.team_post) when `text` is the card's text, `card_text(card, prefix=card_prefix)`: the outbox
    # then keeps the card only and renders the text again when it reads the action (it was half the row).
    card_prefix: str | None = None

    @classmethod
    def of_card(cls, card: dict, prefix: str, **kw) -> "PostToTeam":
        """A post whose text is its card's text, rendered here once. It remembers that (not a field: a copy
        made with other values compares again), so the outbox need not render the card a second time."""
        post = cls(text=card_text(card, prefix=prefix), card=card, card_prefix=prefix, **kw)
        object.__setattr__(post, "_text_of", (card, prefix, post.text))
        return post

    # The card is plain data (views.card) that nobody changes once made: shared, not copied (the outbox
    # encodes it at once; copying it was a measurable part of a new case's cost).
    _shared: ClassVar[frozenset] = frozenset({"card"})

    def to_json(self) -> dict:
        data = super().to_json()
        if self.card_prefix is not None and self.card is not None and self._text_is_card():
            del data["text"]
        return data

    def _text_is_card(self) -> bool:
        known = self.__dict__.get("_text_of")
        if known is not None and known[0] is self.card and known[1] == self.card_prefix and known[2] is self.text:
            return True  # made by of_card with these very values
        return self.text == card_text(self.card, prefix=self.card_prefix)


@dataclass(frozen=True)
class CaptureEvidence(Action):
    """Fetch a message from the platform and store it on the case. Comes before any removal."""

    kind: ClassVar[str] = "capture_evidence"
    case_id: int
    ref: MessageRef


@dataclass(frozen=True)
class RemoveMessage(Action):
    kind: ClassVar[str] = "remove_message"
    case_id: int
    ref: MessageRef
    block_media: bool = False
    # Shown on the platform where it can be (a Matrix redaction reason): generic, names the case, never the reporter.
    reason: str = ""


def removal_reason(t, case_number: int | None) -> str:
    """`t(key, **kw)`: the configured locale's texts (SafetyService.team_text)."""
    return t("removal_reason_case", number=case_number) if case_number else t("removal_reason")


@dataclass(frozen=True)
class BanUser(Action):
    """Zero-tolerance ban in one community. `reason` is generic and names the case, never the reporter."""

    kind: ClassVar[str] = "ban"
    community: str
    user: UserRef
    case_id: int | None
    reason: str
    delete_message_seconds: int = 604800

    def __post_init__(self) -> None:
        # Evidence first: recent messages are purged only when a case holds them, captured before they go.
        # A ban without a case (a bare `ban`, a followed list or pool) deletes nothing: nowhere to keep them.
        if self.case_id is None and self.delete_message_seconds:
            object.__setattr__(self, "delete_message_seconds", 0)


@dataclass(frozen=True)
class UnbanUser(Action):
    kind: ClassVar[str] = "unban"
    community: str
    user: UserRef
    reason: str
    case_id: int | None = None


@dataclass(frozen=True)
class LiftSuspension(Action):
    """Lift a server-wide suspension a ban made (Matrix, `matrix.suspend_local_accused`); only on request."""

    kind: ClassVar[str] = "lift_suspension"
    community: str
    user: UserRef
    reason: str = ""


@dataclass(frozen=True)
class TimeoutUser(Action):
    kind: ClassVar[str] = "timeout"
    community: str
    user: UserRef
    seconds: int
    reason: str


@dataclass(frozen=True)
class WarnUser(Action):
    """A warning DM to a member. Never produced for sextortion or child-safety cases."""

    kind: ClassVar[str] = "warn"
    community: str
    user: UserRef
    text: str


ACTION_TYPES: dict[str, type[Action]] = {
    cls.kind: cls
    for cls in (SendPrivate, PostToTeam, CaptureEvidence, RemoveMessage, BanUser, UnbanUser, TimeoutUser, WarnUser,
                LiftSuspension)
}


_SCALARS = frozenset((str, int, float, bool, type(None)))
_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(value: Any) -> tuple[str, ...]:
    names = _FIELDS.get(type(value))
    if names is None:
        names = _FIELDS[type(value)] = tuple(f.name for f in fields(value))
    return names


def _plain(value: Any) -> Any:
    """JSON-ready copy: dataclasses become dicts, tuples lists (what asdict + a deep copy gave, faster)."""
    cls = type(value)
    if cls in _SCALARS:
        return value
    if cls is dict:
        return {k: v if type(v) is str else _plain(v) for k, v in value.items()}
    if cls is list or cls is tuple:
        return [v if type(v) is str else _plain(v) for v in value]
    if cls is UserRef:  # the person an action is for: the same dict as the dataclass path below
        return value.to_dict()
    names = _FIELDS.get(cls)
    if names is None and is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[cls] = tuple(f.name for f in fields(value))
    if names is not None:
        return {n: _plain(getattr(value, n)) for n in names}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def action_from_json(data: dict) -> Action:
    data = dict(data)
    cls = ACTION_TYPES[data.pop("kind")]
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        v = data[f.name]
        if f.name in ("to", "user") and isinstance(v, dict):
            v = UserRef(**v)
        elif f.name == "ref" and isinstance(v, dict):
            v = MessageRef(**v)
        elif f.name == "prompt" and isinstance(v, dict):
            v = Prompt(v["question"], v["text"], tuple(Choice(**c) for c in v.get("choices", [])), v.get("free_text", True))
        kwargs[f.name] = v
    if cls is PostToTeam and "text" not in kwargs and kwargs.get("card") is not None:
        kwargs["text"] = card_text(kwargs["card"], prefix=kwargs.get("card_prefix") or "")
    return cls(**kwargs)


@dataclass
class Outcome:
    """What the core returns for one event: actions to run and a reply for whoever triggered it."""

    actions: list[Action] = field(default_factory=list)
    reply: str = ""
    ok: bool = True
    case_number: int | None = None
    prompt: Prompt | None = None
    needs_confirmation: bool = False
    # (outbox id, action) pairs, written in the same transaction as the change that caused them
    queued: list = field(default_factory=list)

    def extend(self, other: "Outcome") -> "Outcome":
        self.actions.extend(other.actions)
        self.queued.extend(other.queued)
        if other.reply:
            self.reply = (self.reply + "\n" + other.reply).strip()
        return self
