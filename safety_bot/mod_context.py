"""What every moderator command works with: the command's context (`Ctx`) and the few steps they share:
find a case the moderator may see, acknowledge it, save a change with its audit entry and actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import guard
from .actions import Outcome
from .commands import ModCommand
from .domain import Case, CaseNote, Status, UserRef
from .events import ModContext, Resolved
from .plugins import plugin as platform_plugin

if TYPE_CHECKING:
    from .service import SafetyService

DAY = 86400


@dataclass
class Ctx:
    svc: "SafetyService"
    ctx: ModContext
    cmd: ModCommand
    r: Resolved

    @property
    def actor(self) -> UserRef:
        return self.ctx.actor

    def t(self, key, **kw):
        return self.svc.t(key, self.ctx.locale, **kw)

    def refuse(self, key, **kw) -> Outcome:
        return Outcome(ok=False, reply=self.t(key, **kw))


def confirm_phrase(c: Ctx) -> str:
    """How this moderator confirms a command that needs it: the card's button, or the platform's way."""
    if c.ctx.via == "button":
        return c.t("confirm_phrase_button")
    p = platform_plugin(c.actor.platform)
    return c.t(p.confirm_phrase if p and c.ctx.via == "command" else "confirm_phrase_command")


async def find_case(c: Ctx, number: int | None) -> Case | None:
    """The case, unless it does not exist here or is hidden from this moderator (same answer for both)."""
    if number is None:
        return None
    case = await c.svc.store.get_case(c.ctx.community, number)
    if case is None or await guard.conflict(c.svc, case, c.actor):
        return None
    return case


def ack(c: Ctx, case: Case) -> None:
    case.flags.setdefault("acked_at", c.svc.clock())
    if case.status == Status.OPEN:
        case.status = Status.ACTING
    case.updated_at = c.svc.clock()


def wishes_line(c: Ctx, case: Case | None) -> str:
    if case is None:
        return ""
    from .views import answer_items
    wanted = [line for key, line in answer_items(c.svc.lib, case, c.ctx.locale) if key in ("wishes", "minor", "consent")]
    return c.t("reporter_answers", answers="; ".join(wanted)) if wanted else c.t("reporter_answers_none")


async def save(c: Ctx, case: Case | None, action: str, out: Outcome, **detail) -> Outcome:
    async with c.svc.store.transaction():
        if case is not None:
            await c.svc.store.save_case(case)
        await c.svc.audit(c.actor.key, action, c.ctx.community, case, **detail)
        await c.svc.enqueue(out)
    return out


async def add_note(c: Ctx, case: Case, text: str, kind: str = "note", author: str | None = None) -> None:
    name = c.actor.name if author is None else ""  # the display name, shown to the team with the note
    await c.svc.store.add_note(CaseNote(case.id, author or c.actor.key, kind, text, c.svc.clock(), author_name=name))
