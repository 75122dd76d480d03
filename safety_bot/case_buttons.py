"""The buttons on a case card (remove, ban, assign, close), decided in the core for every platform: who
may press them, which case they act on (never one hidden from the presser), whom "ban" means (the
case's accused accounts on this platform) and which messages "remove" means (the reported messages and
captured evidence on this platform). Each button becomes ordinary moderator commands, so every rule of
those commands applies too. The adapter only says which button was pressed, by whom, and whether an
account holds moderator power on the platform."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .actions import Outcome
from .commands import ModCommand
from .domain import MessageRef, UserRef
from .events import ModContext, Resolved
from .plugins import plugin as platform_plugin

if TYPE_CHECKING:
    from .service import SafetyService

# On every open case card, in this order. "remove" deletes (evidence first); "removeblock" also banks the
# images' hashes: banking is always a separate, explicit choice (issue 13).
BUTTONS = ("remove", "removeblock", "ban", "assign", "close")
CONFIRM_BUTTON = "banconfirm"  # the second step of "ban"
UPLOADER_BAN = "banuploader"  # on the alert about another uploader of a banked picture (issue 13, item 5)


@dataclass
class ButtonSteps:
    """What a pressed button means: commands to run in order (each an Outcome already decided by the core),
    or a refusal. `confirm` asks the adapter to offer the `banconfirm` button."""

    outcomes: list[Outcome] = field(default_factory=list)
    confirm: bool = False
    refused: bool = False  # the presser is not on the safety team


def _case_option(platform: str, number: int) -> str:
    p = platform_plugin(platform)
    return (p.case_option if p else "--case {n}").format(n=number)


async def press(svc: "SafetyService", ctx: ModContext, op: str, number: int,
                holds_power: Callable[[UserRef], bool], *, in_scope: Callable[[MessageRef], bool] | None = None,
                out_of_scope: str = "") -> ButtonSteps:
    """`in_scope`: whether a message is the bot's to remove (the platform's channel checks, as for its remove
    command); messages out of scope are not removed and `out_of_scope` says why."""
    name = {CONFIRM_BUTTON: "ban"}.get(op, op)
    if not ctx.is_moderator and not ctx.via_escalation:  # the command refuses, logs it, and changes nothing
        return ButtonSteps([await svc.moderate(ctx, ModCommand(name=name, case=number))], refused=True)
    # Conflict of interest (guard.py): the same answer as for a case that does not exist; audited, escalated.
    refusal = await svc.case_refusal(ctx, number)
    if refusal is not None:
        return ButtonSteps([refusal])
    case = await svc.store.get_case(ctx.community, number)
    platform = ctx.actor.platform
    p = platform_plugin(platform)
    shown, prefix = (p.display_name, p.command_prefix) if p else (platform, "")
    button_ctx = replace(ctx, via="button")
    if op == "assign":
        return ButtonSteps([await svc.moderate(button_ctx, ModCommand("assign", case=number))])
    if op == "close":
        return ButtonSteps([await svc.moderate(button_ctx, ModCommand("close", case=number, text="actioned"))])
    if op in ("ban", CONFIRM_BUTTON):
        targets = [a for a in case.accused if a.platform == platform]
        if not targets:
            return ButtonSteps([Outcome(reply=svc.t("button_ban_no_account", ctx.locale, number=number, platform=shown,
                                                    ban=f"{prefix}ban", case=_case_option(platform, number)))])
        cmd = ModCommand("ban", case=number, targets=[t.id for t in targets],
                         flags={"confirm": True} if op == CONFIRM_BUTTON else {})
        resolved = Resolved(targets=targets, moderators={t.key for t in targets if holds_power(t)})
        out = await svc.moderate(button_ctx, cmd, resolved)
        return ButtonSteps([out], confirm=out.needs_confirmation)
    if op in ("remove", "removeblock"):
        refs: dict[str, MessageRef] = {}
        for ev in await svc.store.evidence_for(case.id):
            if ev.ref and ev.ref.platform == platform:
                refs.setdefault(ev.ref.message_id, ev.ref)
        for rep in await svc.store.reports_for(case.id):
            if rep.reported_message and rep.reported_message.platform == platform:
                refs.setdefault(rep.reported_message.message_id, rep.reported_message)
        if not refs:
            return ButtonSteps([Outcome(reply=svc.t("button_remove_no_message", ctx.locale, number=number,
                                                    remove=f"{prefix}remove", case=_case_option(platform, number)))])
        steps = ButtonSteps()
        for ref in refs.values():
            if in_scope is not None and not in_scope(ref):
                steps.outcomes.append(Outcome(ok=False, reply=out_of_scope or svc.t("button_remove_not_ours", ctx.locale)))
                continue
            cmd = ModCommand("remove", case=number, message=ref.link or ref.message_id,
                             flags={"block": True} if op == "removeblock" else {})
            steps.outcomes.append(await svc.moderate(button_ctx, cmd, Resolved(message=ref)))
        return steps
    return ButtonSteps([Outcome(ok=False, reply="")])


def uploader_ban(case_number: int, uploader: UserRef) -> dict:
    """The one-press ban offered with the alert about someone other than the accused who posted a banked
    picture (they were not banned automatically: only the accused and linked accounts are)."""
    return {"op": UPLOADER_BAN, "case": case_number, "user": uploader.id, "label": "discord_button_banuploader"}


async def press_uploader_ban(svc: "SafetyService", ctx: ModContext, number: int, target: UserRef,
                             holds_power: Callable[[UserRef], bool]) -> ButtonSteps:
    """The uploader-ban button: exactly `ban <uploader> --case N --confirm`, so every guard of the ban command
    applies (conflicts of interest, team members only from the escalation destination, the two-person rule);
    pressing it is the explicit choice the command's --confirm stands for."""
    cmd = ModCommand("ban", case=number, targets=[target.id], flags={"confirm": True},
                     text=svc.t("uploader_ban_reason", ctx.locale, number=number))
    if not ctx.is_moderator and not ctx.via_escalation:
        return ButtonSteps([await svc.moderate(ctx, cmd)], refused=True)
    refusal = await svc.case_refusal(ctx, number)
    if refusal is not None:
        return ButtonSteps([refusal])
    resolved = Resolved(targets=[target], moderators={target.key} if holds_power(target) else set())
    return ButtonSteps([await svc.moderate(replace(ctx, via="button"), cmd, resolved)])
