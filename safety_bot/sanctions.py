"""Moderator commands against a member: the zero-tolerance ban and its lifting, warnings and strikes."""

from __future__ import annotations

from .actions import BanUser, CaptureEvidence, Outcome, TimeoutUser, UnbanUser, WarnUser
from . import guard, reply_guard, two_person
from .commands import usage
from .domain import Case, Status, Strike, UserRef
from .mod_context import DAY, Ctx, ack, add_note, confirm_phrase, find_case, save, wishes_line
from .names import names
from .text import inert_plain


def _generic_reason(c: Ctx, case: Case | None) -> str:
    """The ban's reason on the platform (its audit log): in the configured locale, like the team's posts."""
    return c.svc.team_text("ban_reason_case", number=case.number) if case else c.svc.team_text("ban_reason_generic")


async def cmd_ban(c: Ctx) -> Outcome:
    if not c.r.targets:
        return Outcome(ok=False, reply=usage("ban", c.ctx.command_prefix, c.t))
    case = None
    if c.cmd.case is not None:
        case = await find_case(c, c.cmd.case)
        if case is None:
            return c.refuse("unknown_case", number=c.cmd.case)
    com = c.svc.community(c.ctx.community)
    targets = [t for t in c.r.targets if t.key != c.actor.key]
    if not targets:
        return c.refuse("ban_self")
    already = [t for t in targets if await c.svc.store.active_ban(com.network, t.key)]
    todo = [t for t in targets if t not in already]
    if not todo:
        names = ", ".join(inert_plain(t.name or t.id) for t in already)
        return c.refuse("ban_already_one" if len(already) == 1 else "ban_already_many", names=names)
    if not c.cmd.flags.get("confirm"):
        lines = [c.t("ban_preview_case" if case else "ban_preview", names=", ".join(inert_plain(t.name or t.id) for t in todo),
                     network=com.network, number=case.number if case else "")]
        if case is not None and case.reporter is not None:
            lines.append(wishes_line(c, case))
            lines.append(c.t("ban_reminder"))
        lines.append(c.t("to_go_ahead", how=confirm_phrase(c)))
        return Outcome(reply="\n".join(lines), case_number=case.number if case else None, needs_confirmation=True)
    # acting on a case (its card's button, --case): a report naming the victim as the accused needs a second person
    protected = case is not None and await guard.protected_by_open_case(c.svc, com.network, {t.key for t in todo})
    limited = await two_person.check(c, len(todo), "ban", protected=protected)  # limits on power (two_person.py)
    if limited is not None:
        return limited
    out = Outcome(case_number=case.number if case else None)
    communities = c.svc.network_communities(com.network, todo[0].platform)
    if case is not None:
        # Evidence first: capture again what is known from these accounts before the ban purges it.
        for ev in await c.svc.store.evidence_for(case.id):
            if ev.ref and ev.author and any(ev.author.key == t.key for t in todo):
                out.actions.append(CaptureEvidence(case_id=case.id, ref=ev.ref))
        for t in todo:
            if all(a.key != t.key for a in case.accused):
                case.accused.append(t)
        ack(c, case)
    for t in todo:
        for target_com in communities:
            out.actions.append(BanUser(community=target_com.id, user=t, case_id=case.id if case else None,
                                       reason=_generic_reason(c, case)))
    names = ", ".join(inert_plain(t.name or t.id) for t in todo)
    out.reply = c.t("banning_one" if len(communities) == 1 else "banning_many", names=names, count=len(communities))
    if already:
        out.reply += " " + c.t("ban_skipped", names=", ".join(inert_plain(t.name or t.id) for t in already))
    if case is None:  # BanUser purges nothing without a case (evidence first)
        out.reply += " " + c.t("ban_no_case_messages_stay")
    if case is not None and c.cmd.text:
        async with c.svc.store.transaction():
            await add_note(c, case, c.t("ban_reason_note", reason=c.cmd.text))
    return await save(c, case, "ban.requested", out, targets=[t.key for t in todo], moderator_reason=c.cmd.text)


async def cmd_unban(c: Ctx) -> Outcome:
    if not c.r.targets:
        return Outcome(ok=False, reply=usage("unban", c.ctx.command_prefix, c.t))
    com = c.svc.community(c.ctx.community)
    t = c.r.targets[0]
    ban = await c.svc.store.active_ban(com.network, t.key)
    if ban is None:
        return c.refuse("unban_not_banned", name=inert_plain(t.name or t.id))
    out = Outcome(reply=c.t("unban_started", name=inert_plain(t.name or t.id), network=com.network))
    for target_com in c.svc.network_communities(com.network, t.platform):
        out.actions.append(UnbanUser(community=target_com.id, user=t, reason=c.svc.team_text("unban_reason"),
                                          case_id=ban.case_id))
    # The request, its audit entry and the queued unbans in one transaction; the ban row ends when the
    # platforms confirm (unban.py), or stays when one refuses.
    return await save(c, None, "ban.lift_requested", out, target=t.key, reason=c.cmd.text.strip() or "(no reason given)",
                      ban_id=ban.id, ban_case_id=ban.case_id)


def active_strikes(c: Ctx, strikes: list[Strike]) -> list[Strike]:
    horizon = c.svc.clock() - c.svc.config.strikes.decay_days * DAY
    return [s for s in strikes if s.at >= horizon]


async def never_message_refusal(c: Ctx, strict: list[Case], key: str = "warn_refused") -> str:
    """Why the bot will not message this member: names the case only when the moderator may see it here."""
    for x in strict:
        if x.community == c.ctx.community and not await guard.conflict(c.svc, x, c.actor):
            return c.t(key, number=x.number)
    return c.t("warn_refused_generic")


async def cmd_warn(c: Ctx) -> Outcome:
    if not c.r.targets or not c.cmd.text.strip():
        return Outcome(ok=False, reply=usage("warn", c.ctx.command_prefix, c.t))
    t = c.r.targets[0]
    com = c.svc.community(c.ctx.community)
    case = None
    if c.cmd.case is not None:
        case = await find_case(c, c.cmd.case)
        if case is None:
            return c.refuse("unknown_case", number=c.cmd.case)
    about = [x for x in await c.svc.store.cases_about(com.network, t.key) if x.status != Status.CLOSED]
    strict = [x for x in ([case] if case else []) if not c.svc.lib.playbook(x.category).contact_accused] + \
        await guard.strict_cases_about(c.svc, com.network, t.key)  # also through an account linked to an accused
    if strict:
        return Outcome(ok=False, reply=await never_message_refusal(c, strict))
    reason = c.cmd.text.strip()
    refused = await reply_guard.refusal(c, reason)
    if refused is not None:
        return refused
    for x in about + ([case] if case else []):
        # the reporter, and the person a friend's report is about once linked (`link`): both came to the team
        if any(p is not None and names(reason, p) for p in (x.reporter, UserRef.from_dict(x.flags.get("victim")))):
            return Outcome(ok=False, reply=c.t("warn_names_reporter"))
    limited = await two_person.check(c, 1, "warning")
    if limited is not None:
        return limited
    cfg = c.svc.config.strikes
    async with c.svc.store.transaction():
        await c.svc.store.add_strike(Strike(network=com.network, user_id=t.key, reason=reason, at=c.svc.clock(),
                                            by=c.actor.key, case_id=case.id if case else None))
    active = active_strikes(c, await c.svc.store.strikes_for(com.network, t.key))
    n = len(active)
    out = Outcome(case_number=case.number if case else None)
    # in the members' language (config `locale`), not the moderator's
    out.actions.append(WarnUser(community=com.id, user=t, text=c.svc.t("warning_to_member", c.svc.config.locale,
                                                                      community=com.name or com.id, reason=inert_plain(reason))))
    step = c.t("warn_strike", n=n, timeout_at=cfg.timeout_at, ban_at=cfg.ban_at, days=cfg.decay_days)
    if n >= cfg.ban_at:
        out.actions.append(BanUser(community=com.id, user=t, case_id=case.id if case else None,
                                   reason=c.svc.team_text("warn_ban_reason"), delete_message_seconds=0))
        step += c.t("warn_step_ban")
    elif n >= cfg.timeout_at:
        out.actions.append(TimeoutUser(community=com.id, user=t, seconds=cfg.timeout_minutes * 60,
                                       reason=c.svc.team_text("warn_timeout_reason")))
        step += c.t("warn_step_timeout", minutes=cfg.timeout_minutes)
    out.reply = c.t("warned", name=inert_plain(t.name or t.id), step=step)
    if case:
        ack(c, case)
    return await save(c, case, "member.warned", out, target=t.key, strikes=n)


async def cmd_strikes(c: Ctx) -> Outcome:
    if not c.r.targets:
        return Outcome(ok=False, reply=usage("strikes", c.ctx.command_prefix, c.t))
    t = c.r.targets[0]
    com = c.svc.community(c.ctx.community)
    all_strikes = await c.svc.store.strikes_for(com.network, t.key)
    active = active_strikes(c, all_strikes)
    cfg = c.svc.config.strikes
    ban = await c.svc.store.active_ban(com.network, t.key)
    lines = [c.t("strikes_summary", name=inert_plain(t.name or t.id), active=len(active),
                 faded=len(all_strikes) - len(active), timeout_at=cfg.timeout_at, ban_at=cfg.ban_at)]
    from .views import when
    lines += [c.t("strikes_item", at=when(s.at), reason=inert_plain(s.reason, limit=200)) for s in active]
    if ban:
        lines.append(c.t("strikes_banned_case" if ban.case_id else "strikes_banned"))
    async with c.svc.store.transaction():
        await c.svc.audit(c.actor.key, "member.strikes_viewed", c.ctx.community, target=t.key)
    return Outcome(reply="\n".join(lines))
