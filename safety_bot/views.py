"""How cases look to the safety team: a structured card (for embeds) and plain text. Pure functions.

All user-supplied text goes through `inert()` here, once, so no adapter can forget it.
"""

from __future__ import annotations

import contextvars
import datetime as dt

from .domain import Case, CaseNote, Evidence, Report, Status
from .locales import TIME_FORMATS, lang_of
from .playbooks import Library, pick
from .plugins import plugin as platform_plugin
from .text import inert_plain, one_line

ANSWER_LABELS = {
    "danger": "Immediate danger",
    "anonymous": "Name shown to team",
    "topic": "About",
    "about": "Happening to",
    "minor": "Anyone under 18",
    "country": "Country",
    "threat": "Threat and demands",
    "evidence": "Evidence links",
    "wishes": "What would help",
    "consent": "Consent to share evidence",
}


# How times are written for the people reading them. Adapters set this for their own tasks: a platform's
# name when its plugin renders times itself (Discord: <t:...>, in each reader's locale and zone); else a language code.
TIME_STYLE: contextvars.ContextVar[str] = contextvars.ContextVar("time_style", default="en")


def when(ts: float) -> str:
    style = TIME_STYLE.get()
    rendering = platform_plugin(style)  # a platform that renders times itself (Discord: <t:...>)
    if rendering is not None and rendering.render_time is not None:
        return rendering.render_time(ts)
    # formats.datetime of the locale files; ISO only if no locale file was ever loaded
    fmt = TIME_FORMATS.get(lang_of(style)) or TIME_FORMATS.get("en") or "%Y-%m-%d %H:%M UTC"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime(fmt)


def reporter_label(case: Case) -> str:
    if case.reporter is None:
        return "none (opened by a moderator)"
    if case.anonymous:
        return f"{case.alias} (anonymous; 'reveal {case.number} <reason>' is audited)"
    if "anonymous" not in case.answers and not case.flags.get("intake_done"):
        return f"{case.alias} (name shown once they choose)"
    return f"{inert_plain(case.reporter.name or case.reporter.id)} ({case.reporter.id})"


def person(u) -> str:
    return f"{inert_plain(u.name or u.id, limit=64)} ({inert_plain(u.id, limit=80)})" if u.name and u.name != u.id else inert_plain(u.id, limit=80)


def answers_lines(library: Library, case: Case) -> list[str]:
    out = []
    for key, label in ANSWER_LABELS.items():
        if key not in case.answers:
            continue
        value = case.answers[key]
        q = library.questions.get(key)
        shown = value
        if q and q.choices:
            for c in q.choices:
                if c.value == value:
                    shown = pick(c.label, "en")
        out.append(f"{label}: {inert_plain(str(shown), limit=500)}")
    return out


def card(library: Library, case: Case, reports: list[Report], evidence: list[Evidence],
         linked: list[int], *, headline: str = "") -> dict:
    """A structured view of a case for the team's channel. Adapters render it as embed, notice or text."""
    pb = library.playbook(case.category)
    fields = [
        ("Category", pick(pb.name, "en")),
        ("Urgency", case.urgency.value.upper() if case.urgency.value == "urgent" else case.urgency.value),
        ("Status", case.status.value + (f" ({case.close_reason.value})" if case.close_reason else "")),
        ("Reporter", reporter_label(case)),
        ("Accused", ", ".join(person(a) for a in case.accused) or "not named yet"),
        ("Assigned", person(case.assignee) if case.assignee else "nobody yet"),
    ]
    statements = [f"\"{inert_plain(r.text, limit=1500)}\"" for r in reports if r.text]
    links = [e.ref.link or f"{e.ref.channel_id}/{e.ref.message_id}" for e in evidence if e.ref]
    links += [r.reported_message.link or r.reported_message.message_id for r in reports if r.reported_message]
    flags = []
    if case.flags.get("retaliation_suspected"):
        nums = ", ".join(str(n) for n in case.flags["retaliation_suspected"])
        flags.append(f"Possible retaliation: the reporter is the accused in case {nums}. Nothing happens automatically.")
    if case.flags.get("about_moderator"):
        flags.append("This case is about a member of the safety team and is hidden from them.")
    if linked:
        others = ", ".join(map(str, linked))
        flags.append(f"Linked: case{'s' if len(linked) > 1 else ''} {others} also name{'' if len(linked) > 1 else 's'} this account.")
    if case.flags.get("possible_minor") or (case.answers.get("minor") in ("unsure", "skipped")):
        flags.append("Possibly a minor: treat as urgent.")
    return {
        "title": headline or f"Case {case.number}",
        "case_number": case.number,
        "urgent": case.urgency.value == "urgent",
        "category": case.category,
        "fields": fields,
        "statements": statements,
        "answers": answers_lines(library, case),
        "evidence_links": sorted(set(links)),
        "flags": flags,
        "guidance": pb.text("moderator_guidance", "en").strip(),
        "closed": case.status == Status.CLOSED,
    }


def card_text(c: dict, *, with_guidance: bool = True, prefix: str = "") -> str:
    lines = [c["title"]]
    lines += [f"{k}: {v}" for k, v in c["fields"]]
    if c["statements"]:
        lines.append("Statement: " + " / ".join(c["statements"]))
    if c["answers"]:
        lines.append("Answers: " + "; ".join(c["answers"]))
    if c["evidence_links"]:
        lines.append("Evidence: " + ", ".join(c["evidence_links"]))
    lines += c["flags"]
    if with_guidance:
        lines.append(c["guidance"])
    n, p = c["case_number"], prefix
    lines.append(f"Commands: {p}case {n} | {p}assign {n} | {p}note {n} <text> | {p}reply {n} <text> | "
                 f"{p}remove <message> --case {n} | {p}ban <member> --case {n} | {p}close {n} <reason>")
    return "\n".join(lines)


def detail_text(library: Library, case: Case, reports, evidence, notes: list[CaseNote], linked, strikes_line="",
                prefix: str = "") -> str:
    c = card(library, case, reports, evidence, linked)
    lines = [card_text(c, with_guidance=False, prefix=prefix)]
    lines.append(f"Opened {when(case.created_at)}, updated {when(case.updated_at)}.")
    for e in evidence:
        where = e.ref.link or f"{e.ref.channel_id}/{e.ref.message_id}" if e.ref else "-"
        author = person(e.author) if e.author else "unknown"
        text = inert_plain(e.text, limit=300) if e.text else "(no text kept)"
        att = f", {len(e.attachments)} attachment(s) hashed" if e.attachments else ""
        lines.append(f"Evidence {e.id}: {where} by {author} at {when(e.message_created_at) if e.message_created_at else '?'}"
                     f": {text}{att}{' - ' + e.note if e.note else ''}")
    for n in notes:
        who = {"reply_in": "reporter", "reply_out": "team to reporter", "system": "bot"}.get(n.kind, "note")
        if n.kind in ("note", "reply_out") and ":" in (n.author or ""):  # who did it, for the team (issue 13)
            account = n.author.split(':', 1)[1]
            shown = f"{n.author_name} ({account})" if n.author_name and n.author_name != account else account
            who += f" by {inert_plain(shown, limit=120)}"
        lines.append(f"[{when(n.at)}] {who}: {inert_plain(n.text, limit=1000)}")
    if strikes_line:
        lines.append(strikes_line)
    return "\n".join(lines)


def list_line(case: Case) -> str:
    who = ", ".join(inert_plain(a.name or a.id, limit=40) for a in case.accused) or "-"
    assignee = inert_plain(case.assignee.name or case.assignee.id, limit=40) if case.assignee else "unassigned"
    urgent = "URGENT " if case.urgency.value == "urgent" else ""
    return f"#{case.number} {urgent}{case.category} {case.status.value} accused: {one_line(who, 60)} ({assignee}) opened {when(case.created_at)}"
