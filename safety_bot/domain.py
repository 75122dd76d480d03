"""The platform-neutral domain: people, messages, cases, reports, evidence, strikes, bans, audit.

Nothing here knows about Discord or Matrix. Ids are strings so every platform fits.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Status(str, enum.Enum):
    OPEN = "open"
    ACTING = "acting"
    CLOSED = "closed"


class Urgency(str, enum.Enum):
    NORMAL = "normal"
    URGENT = "urgent"


class CloseReason(str, enum.Enum):
    ACTIONED = "actioned"
    UNFOUNDED = "unfounded"
    DUPLICATE = "duplicate"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class UserRef:
    """A person on a platform. `name` is the display name when we saw them (kept as evidence)."""

    platform: str
    id: str
    name: str = ""

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"

    def to_dict(self) -> dict:
        return {"platform": self.platform, "id": self.id, "name": self.name}  # asdict(self), without its deep copy

    @classmethod
    def from_dict(cls, d: dict | None) -> "UserRef | None":
        return cls(**d) if d else None


@dataclass(frozen=True)
class MessageRef:
    """Where a message lives. `link` is the platform's permalink (never a media/CDN URL)."""

    platform: str
    community: str
    channel_id: str
    message_id: str
    link: str = ""

    def to_dict(self) -> dict:
        return {"platform": self.platform, "community": self.community, "channel_id": self.channel_id,
                "message_id": self.message_id, "link": self.link}  # asdict(self), without its deep copy

    @classmethod
    def from_dict(cls, d: dict | None) -> "MessageRef | None":
        return cls(**d) if d else None


@dataclass(frozen=True)
class AttachmentMeta:
    """What we keep about an attachment: type, size, dimensions and hashes. Never bytes, URL or filename."""

    content_type: str = ""
    size: int = 0
    width: int | None = None
    height: int | None = None
    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class MessageSnapshot:
    """A message as the platform showed it at capture time."""

    ref: MessageRef
    author: UserRef
    text: str
    created_at: float
    attachments: tuple[AttachmentMeta, ...] = ()
    edited_at: float | None = None


@dataclass
class Evidence:
    case_id: int
    ref: MessageRef | None
    author: UserRef | None
    text: str
    message_created_at: float | None
    captured_at: float
    captured_by: str
    attachments: list[dict] = field(default_factory=list)
    note: str = ""
    id: int | None = None


@dataclass
class Report:
    case_id: int
    reporter: UserRef | None
    text: str
    source: str  # member | message | homeserver | moderator
    created_at: float
    reported_message: MessageRef | None = None
    locale: str = "en"
    id: int | None = None


@dataclass
class Case:
    community: str
    network: str
    number: int
    category: str
    urgency: Urgency
    status: Status
    created_at: float
    updated_at: float
    reporter: UserRef | None = None
    accused: list[UserRef] = field(default_factory=list)
    assignee: UserRef | None = None
    close_reason: CloseReason | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    # People who must never see this case (an accused moderator).
    hidden_from: list[str] = field(default_factory=list)
    locale: str = "en"
    alias: str = ""
    id: int | None = None

    @property
    def label(self) -> str:
        return f"case {self.number}"

    @property
    def anonymous(self) -> bool:
        return bool(self.flags.get("anonymous"))


@dataclass
class CaseNote:
    case_id: int
    author: str  # a UserRef key, "system", or "reporter"
    kind: str  # note | reply_out | reply_in | system
    text: str
    at: float
    id: int | None = None
    author_name: str = ""  # the team member's display name when they wrote it (shown to the team only)


@dataclass
class Strike:
    network: str
    user_id: str  # UserRef.key
    reason: str
    at: float
    by: str
    case_id: int | None = None
    id: int | None = None


@dataclass
class Ban:
    network: str
    user_id: str  # UserRef.key
    case_id: int | None
    at: float
    by: str
    reason: str
    active: bool = True
    id: int | None = None


@dataclass
class AuditEntry:
    at: float
    actor: str
    action: str
    community: str = ""
    case_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    seq: int | None = None
    prev_hash: str = ""
    hash: str = ""


@dataclass
class Intake:
    """A member's report conversation in progress: which case, which question comes next."""

    platform: str
    user_id: str
    case_id: int
    asked: list[str] = field(default_factory=list)
    current: str | None = None
    locale: str = "en"
    updated_at: float = 0.0
