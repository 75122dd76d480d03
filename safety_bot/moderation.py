"""Moderator commands: each checks the actor, validates input, changes the store in one transaction,
audits, and returns actions. Refusals change nothing. Commands about cases and messages are here; those
against a member (ban, unban, warn, strikes) are in `sanctions`, and what they share in `mod_context`."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from . import export as exporter
from . import guard, reply_guard, two_person
from .actions import CaptureEvidence, Outcome, PostToTeam, RemoveMessage, removal_reason
from .commands import COMMAND_SPECS, ModCommand, help_text, usage
from .domain import Case, CloseReason, Report, Status, Urgency, UserRef
from .mod_context import Ctx, ack, add_note, confirm_phrase, find_case, save, wishes_line
from .sanctions import active_strikes
from .events import ModContext, Resolved
from .store import StoreUnavailable
from .text import inert_line, inert_plain
from .views import detail_text, list_line

if TYPE_CHECKING:
    from .service import SafetyService

log = logging.getLogger(__name__)


async def moderate(svc: "SafetyService", ctx: ModContext, cmd: ModCommand, resolved: Resolved | None = None) -> Outcome:
    c = Ctx(svc, ctx, cmd, resolved or Resolved())
    if not ctx.is_moderator and not ctx.via_escalation:
        log.info("refused a moderator command from a non-moderator in %s", ctx.community)
        return c.refuse("not_moderator")
    if cmd.name == "help":
        return Outcome(reply=help_text(ctx.command_prefix, c.t))
    handler = handler_for(cmd.name)
    if handler is None:
        return Outcome(ok=False, reply=help_text(ctx.command_prefix, c.t))
    try:
        refusal = await guard.check(c)  # the invariants, before any command runs (guard.py)
        if refusal is not None:
            return refusal
        out = await handler(c)
    except StoreUnavailable:
        return c.refuse("store_unavailable_mod")
    return out


async def case_refusal(svc: "SafetyService", ctx: ModContext, number: int) -> Outcome | None:
    """For a button on a case post: the refusal (audited, as for a command) when this actor may not act on
    the case, or None. The same text for a case that does not exist and for one they may not see."""
    c = Ctx(svc, ctx, ModCommand("case", case=number), Resolved())
    if not ctx.is_moderator and not ctx.via_escalation:
        return c.refuse("not_moderator")
    refusal = await guard.check(c)
    if refusal is not None:
        return refusal
    if await find_case(c, number) is None:
        return c.refuse("unknown_case", number=number)
    return None


# ---------------------------------------------------------------------------- viewing
async def cmd_cases(c: Ctx) -> Outcome:
    statuses = () if c.cmd.flags.get("all") else ("open", "acting")
    cases = await guard.visible(c.svc, c.actor, await c.svc.store.list_cases(c.ctx.community, statuses))
    cases.sort(key=lambda x: (x.urgency != Urgency.URGENT, x.number))
    async with c.svc.store.transaction():
        await c.svc.audit(c.actor.key, "case.list", c.ctx.community)
    if not cases:
        return Outcome(reply=c.t("cases_none_open" if not statuses == () else "cases_none"))
    return Outcome(reply="\n".join(list_line(c.svc.lib, x, c.ctx.locale) for x in cases))


async def cmd_case(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    store = c.svc.store
    strikes = []
    for a in case.accused:
        active = active_strikes(c, await store.strikes_for(case.network, a.key))
        if active:
            strikes.append(c.t("case_strikes", name=inert_plain(a.name or a.id), count=len(active)))
    text = detail_text(c.svc.lib, case, await store.reports_for(case.id), await store.evidence_for(case.id),
                       await store.notes_for(case.id), await c.svc.linked_cases(case, c.actor), "; ".join(strikes),
                       prefix=c.ctx.command_prefix, locale=c.ctx.locale)
    async with store.transaction():
        await c.svc.audit(c.actor.key, "case.view", c.ctx.community, case)
    return Outcome(reply=text, case_number=case.number)


async def cmd_reveal(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    if case.reporter is None:
        return c.refuse("reveal_no_reporter", number=case.number)
    # A stolen account could unmask every reporter: reveals count toward the hourly limit (past it, a second
    # member confirms), and the escalation destination is told of each one (never whom it revealed).
    limited = await two_person.check(c, 1, "reveal")
    if limited is not None:
        return limited
    reason = c.cmd.text.strip()
    out = Outcome(reply=c.t("reveal_done", number=case.number, name=inert_plain(case.reporter.name),
                            id=case.reporter.id), case_number=case.number)
    com = c.svc.community(c.ctx.community)
    if com.has_escalation and not c.ctx.via_escalation:
        out.actions.append(PostToTeam(community=com.id, destination="escalation", case_number=case.number,
                                      text=c.svc.team_text("reveal_alert", who=inert_plain(c.actor.name or c.actor.id, limit=64),
                                                           id=inert_plain(c.actor.id, limit=80), number=case.number,
                                                           reason=inert_line(reason, limit=300))))
    # stored on its case, so the case's export shows who unmasked the reporter and why
    return await save(c, case, "case.reveal_reporter", out, case_number=case.number, reason=reason)


# ---------------------------------------------------------------------------- case housekeeping
async def cmd_note(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    text = c.cmd.text.strip()
    if len(text) > c.svc.config.limits.note_max_chars:
        return c.refuse("note_too_long", limit=c.svc.config.limits.note_max_chars)
    ack(c, case)
    async with c.svc.store.transaction():
        await add_note(c, case, text)
    return await save(c, case, "case.note", Outcome(reply=c.t("note_added", number=case.number), case_number=case.number))


async def cmd_assign(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    who = c.r.targets[0] if c.r.targets else c.actor
    if await guard.conflict(c.svc, case, who):
        return c.refuse("assign_refused", number=case.number)
    case.assignee = who
    ack(c, case)
    return await save(c, case, "case.assign", Outcome(reply=c.t("assigned", number=case.number, name=inert_plain(who.name or who.id)),
                                                       case_number=case.number), assignee=who.key)


async def cmd_close(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    word = (c.cmd.text.split() or ["actioned"])[0].lower()
    try:
        reason = CloseReason(word)
    except ValueError:
        return Outcome(ok=False, reply=usage("close", c.ctx.command_prefix, c.t))
    if case.status == Status.CLOSED:
        return c.refuse("close_already", number=case.number)
    case.status, case.close_reason, case.updated_at = Status.CLOSED, reason, c.svc.clock()
    out = Outcome(reply=c.t("closed", number=case.number, reason=c.t(f"close_reason_{reason.value}")),
                  case_number=case.number)
    if case.reporter and reason != CloseReason.WITHDRAWN:
        out.actions.append(c.svc.private(case.reporter, c.svc.t("outcome_closed", case.locale), case.locale,
                                         case.community, "outcome"))
    if case.reporter:
        await c.svc.store.delete_intake(case.reporter.platform, case.reporter.id)
    return await save(c, case, "case.close", out, reason=reason.value)


async def cmd_hold(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    off = c.cmd.text.strip().lower() == "off"
    case.flags["hold"] = not off
    msg = c.t("hold_off" if off else "hold_on", number=case.number)
    return await save(c, case, "case.hold", Outcome(reply=msg, case_number=case.number), hold=not off)


async def cmd_reply(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    if case.reporter is None:
        return c.refuse("reply_no_reporter", number=case.number)
    text = c.cmd.text.strip()
    if len(text) > c.svc.config.limits.note_max_chars:
        return c.refuse("note_too_long", limit=c.svc.config.limits.note_max_chars)
    refused = await reply_guard.refusal(c, text)  # no advice to pay, no asking for images, no blame
    if refused is not None:
        return refused
    signer = c.actor.name if c.svc.config.replies.show_moderator_name else None
    body = c.svc.t("team_writes", case.locale) + "\n" + inert_plain(text)
    if signer:
        body += f"\n- {inert_plain(signer)}"
    body += "\n" + c.svc.t("you_can_answer", case.locale)
    ack(c, case)
    async with c.svc.store.transaction():
        await add_note(c, case, text, "reply_out")
    out = Outcome(actions=[c.svc.private(case.reporter, body, case.locale, case.community, "reply")],
                  reply=c.t("reply_sent", number=case.number), case_number=case.number)
    return await save(c, case, "case.reply_out", out)


# ---------------------------------------------------------------------------- acting
async def cmd_remove(c: Ctx) -> Outcome:
    ref = c.r.message
    if ref is None:
        return Outcome(ok=False, reply=c.t("message_not_found_ref") + " " + usage("remove", c.ctx.command_prefix, c.t))
    if ref.community != c.ctx.community:
        return c.refuse("message_other_community")
    limited = await two_person.check(c, 1, "removal")
    if limited:
        return limited
    case = await find_case(c, c.cmd.case) if c.cmd.case is not None else None
    if c.cmd.case is not None and case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    opened = False
    author = c.r.message_author
    if case is None:
        case = await _find_case_for_message(c, ref)
    if case is None and author is not None:
        case = await _open_case_about(c, author)
    if case is None:
        case = await _new_mod_case(c, [author] if author else [], c.cmd.flags.get("category") or "sextortion",
                                   c.t("remove_opened_note"))
        opened = True
    ack(c, case)
    out = Outcome(case_number=case.number, actions=[
        CaptureEvidence(case_id=case.id, ref=ref),
        RemoveMessage(case_id=case.id, ref=ref, block_media=bool(c.cmd.flags.get("block")),
                      reason=removal_reason(c.svc.team_text, case.number)),
    ])
    lines = [(c.t("remove_opened", number=case.number) + " " if opened else "") + c.t("remove_started", number=case.number)]
    if c.cmd.flags.get("block"):
        lines.append(c.t("remove_block"))
    wishes = wishes_line(c, case)
    if case.reporter:
        lines.append(wishes)
    out.reply = "\n".join(lines)
    return await save(c, case, "message.remove", out, message=ref.message_id, block=bool(c.cmd.flags.get("block")))


async def _find_case_for_message(c: Ctx, ref) -> Case | None:
    for case in reversed(await c.svc.store.list_cases(c.ctx.community, ("open", "acting"))):
        if await guard.conflict(c.svc, case, c.actor):
            continue
        for rep in await c.svc.store.reports_for(case.id):
            if rep.reported_message and rep.reported_message.message_id == ref.message_id:
                return case
    return None


async def _open_case_about(c: Ctx, user: UserRef) -> Case | None:
    """The newest open case (visible to this moderator) that names the account as accused."""
    for case in reversed(await c.svc.store.list_cases(c.ctx.community, ("open", "acting"))):
        if any(a.key == user.key for a in case.accused) and not await guard.conflict(c.svc, case, c.actor):
            return case
    return None


async def _new_mod_case(c: Ctx, accused: list[UserRef], category: str, note: str) -> Case:
    if category not in c.svc.lib.playbooks:
        category = "sextortion"
    com = c.svc.community(c.ctx.community)
    now = c.svc.clock()
    pb = c.svc.lib.playbook(category)
    case = Case(community=com.id, network=com.network, number=0, category=category,
                urgency=Urgency.URGENT if pb.always_urgent else Urgency.NORMAL, status=Status.OPEN,
                created_at=now, updated_at=now, reporter=None, accused=accused, locale=c.ctx.locale,
                flags={"opened_by_moderator": True, "intake_done": True})
    about_mod = [a.key for a in accused if a.key in c.r.moderators]
    if about_mod:
        case.flags["about_moderator"] = True
        case.hidden_from = about_mod
    async with c.svc.store.transaction():
        case = await c.svc.store.create_case(case)
        await c.svc.store.add_report(Report(case_id=case.id, reporter=None, text="", source="moderator", created_at=now))
        await add_note(c, case, note)
        await c.svc.audit(c.actor.key, "case.open", com.id, case, category=category)
    return case


async def cmd_open(c: Ctx) -> Outcome:
    if not c.r.targets:
        return Outcome(ok=False, reply=usage("open", c.ctx.command_prefix, c.t))
    category = str(c.cmd.flags.get("category") or "sextortion")
    if category not in c.svc.lib.playbooks:
        return Outcome(ok=False, reply=c.t("unknown_category", category=inert_plain(category[:30])) + " "
                       + usage("open", c.ctx.command_prefix, c.t))
    text = c.cmd.text.strip()
    if len(text) > c.svc.config.limits.note_max_chars:
        return c.refuse("note_too_long", limit=c.svc.config.limits.note_max_chars)
    case = await _new_mod_case(c, c.r.targets[:1], category, text)
    out = Outcome(reply=c.t("opened_case", number=case.number, category=category), case_number=case.number)
    out.actions += await c.svc.team_post(case, c.svc.team_text("team_post_opened_by_moderator", number=case.number),
                                         ping=case.urgency == Urgency.URGENT)
    if case.flags.get("about_moderator"):
        out.reply += " " + c.t("opened_case_about_moderator")
    return await save(c, None, "case.opened_notice", out, case_number=case.number)


async def cmd_resources(c: Ctx) -> Outcome:
    if not c.r.targets:
        return Outcome(ok=False, reply=usage("resources", c.ctx.command_prefix, c.t))
    t = c.r.targets[0]
    strict = await guard.strict_cases_about(c.svc, c.svc.community(c.ctx.community).network, t.key)
    if strict:  # the bot never messages the accused of an open sextortion or child-safety case
        from .sanctions import never_message_refusal
        return Outcome(ok=False, reply=await never_message_refusal(c, strict, "resources_refused"))
    case = None
    for x in reversed(await c.svc.store.list_cases(c.ctx.community, ("open", "acting"))):
        if x.reporter and x.reporter.key == t.key:
            case = x
            break
    loc = case.locale if case else c.svc.config.locale
    from .intake import parse_country
    country = parse_country(c.cmd.text, c.svc.texts) if c.cmd.text else None
    body = c.svc.t("resources_from_team", loc) + "\n" + c.svc.resources_text(case, loc, country=country)
    out = Outcome(actions=[c.svc.private(t, body, loc, c.ctx.community, "resources")],
                  reply=c.t("resources_sending", name=inert_plain(t.name or t.id)))
    # the case's reporter is named by the case's alias: the audit log goes out with the case's export
    return await save(c, case, "resources.sent", out, target=f"reporter:{case.alias}" if case else t.key)


async def cmd_export(c: Ctx) -> Outcome:
    case = await find_case(c, c.cmd.case)
    if case is None:
        return c.refuse("unknown_case", number=c.cmd.case)
    reason = str(c.cmd.flags.get("reason") or "").strip()
    consent = case.flags.get("consent") == "yes" or case.reporter is None
    if not consent and not reason:
        return Outcome(ok=False, reply=c.t("export_needs_consent", number=case.number))
    bundle = await exporter.build_bundle(c.svc.store, case)
    path = exporter.write_bundle(c.svc.config.path(c.svc.config.exports_dir), bundle)
    out = Outcome(reply=c.t("exported", number=case.number, path=path), case_number=case.number)
    return await save(c, case, "case.export", out, consent=consent, reason=reason, file=path.name)


_handlers: dict = {}


def handler_for(name: str):
    """The handler the registry (`commands.COMMAND_SPECS`) declares for a command, or None."""
    spec = COMMAND_SPECS.get(name)
    if spec is None or not spec.handler:
        return None
    if name not in _handlers:
        module, function = spec.handler.split(":")
        _handlers[name] = getattr(importlib.import_module(f"safety_bot.{module}"), function)
    return _handlers[name]
