"""How cases look to the safety team: a structured card (for embeds) and plain text. Pure functions.

All user-supplied text goes through `inert()` here, once, so no adapter can forget it.
"""

from __future__ import annotations

import contextvars
import datetime as dt

from .domain import Case, CaseNote, Evidence, Report, Status, Urgency
from .locales import TIME_FORMATS, lang_of
from .playbooks import Library, pick
from .plugins import plugin as platform_plugin
from .text import inert_line, inert_plain, one_line
from .card_text import card_text  # noqa: F401 (the card's plain text; its own module: actions.py renders it too)

# The intake answers a card shows, in this order; their labels are team texts `answer_<key>` (en.yaml).
ANSWER_KEYS = ("danger", "anonymous", "topic", "about", "minor", "country", "threat", "evidence", "wishes", "consent")


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


def reporter_label(library: Library, case: Case, locale: str = "en") -> str:
    t = library.texts.t
    if case.reporter is None:
        return t("card_reporter_none", locale)
    if case.anonymous:
        return t("card_reporter_anonymous", locale, alias=case.alias, number=case.number)
    if "anonymous" not in case.answers and not case.flags.get("intake_done"):
        return t("card_reporter_pending", locale, alias=case.alias)
    return f"{inert_line(case.reporter.name or case.reporter.id)} ({inert_line(case.reporter.id)})"


def person(u) -> str:
    return f"{inert_line(u.name or u.id, limit=64)} ({inert_line(u.id, limit=80)})" if u.name and u.name != u.id else inert_line(u.id, limit=80)


def answer_items(library: Library, case: Case, locale: str = "en") -> list[tuple[str, str]]:
    """(question key, "Label: answer") for each answer the case has, in the card's order."""
    out: list[tuple[str, str]] = []
    if not case.answers:  # a new case: nothing answered yet
        return out
    for key in ANSWER_KEYS:
        if key not in case.answers:
            continue
        value = case.answers[key]
        q = library.questions.get(key)
        shown = library.texts.t("answer_skipped", locale) if value == "skipped" else value
        if q and q.choices:
            for c in q.choices:
                if c.value == value:
                    shown = pick(c.label, locale)
        label = library.texts.t(f"answer_{key}", locale)
        out.append((key, f"{label}: {inert_line(str(shown), limit=500)}"))
    return out


def answers_lines(library: Library, case: Case, locale: str = "en") -> list[str]:
    return [line for _, line in answer_items(library, case, locale)]


def status_label(library: Library, case: Case, locale: str = "en") -> str:
    shown = library.texts.t(_STATUS_KEYS[case.status], locale)
    if case.close_reason:
        shown += " (" + library.texts.t(f"close_reason_{case.close_reason.value}", locale) + ")"
    return shown


_STATUS_KEYS = {s: f"status_{s.value}" for s in Status}
_URGENCY_KEYS = {u: f"urgency_{u.value}" for u in Urgency}
_CARD_PARTS = ("statement", "answers", "evidence", "flags", "guidance")
_CARD_WORDS = ("card_category", "card_urgency", "card_status", "card_reporter", "card_accused", "card_accused_none",
               "card_assigned", "card_assigned_none", *(f"card_{part}" for part in _CARD_PARTS))


def _card_words(library: Library, category: str, locale: str) -> dict[str, str]:
    """The words of a card that depend only on its category and language, looked up once per library."""
    memo = library.__dict__.setdefault("_card_words", {})
    words = memo.get((category, locale))
    if words is None:
        pb = library.playbook(category)
        words = {key: library.texts.t(key, locale) for key in _CARD_WORDS}
        words["category"] = pick(pb.name, locale)
        words["guidance"] = pb.text("moderator_guidance", locale).strip()
        words["labels"] = {part: words[f"card_{part}"] for part in _CARD_PARTS}  # each card gets a copy
        words["commands"] = _numbered(library, "card_commands", locale, prefix="{prefix}")
        words["footer"] = _numbered(library, "card_footer", locale)
        if len(memo) < 1000:
            memo[category, locale] = words
    return words


_NUMBER = "\x00number\x00"


def _numbered(library: Library, key: str, locale: str, **kw):
    """A text whose only changing field is a case number: filled once with a marker, so a card puts its
    number in with one replace instead of formatting the whole template. None (format each time) unless
    that gives exactly what formatting gives (a format spec on the number, say, would not)."""
    def t(number):
        return library.texts.t(key, locale, number=number, **kw)

    try:
        filled = t(_NUMBER)
        if all(filled.replace(_NUMBER, str(n)) == t(n) for n in (7, 1234)):
            return filled
    except (ValueError, TypeError, KeyError, IndexError):  # e.g. {number:04d}: a card formats it (and any error shows there)
        pass
    return None


def _with_number(words: dict, key: str, library: Library, locale: str, number: int, **kw) -> str:
    filled = words[key]
    if filled is not None and type(number) is int:
        return filled.replace(_NUMBER, str(number))
    return library.texts.t(f"card_{key}", locale, number=number, **kw)


def card(library: Library, case: Case, reports: list[Report], evidence: list[Evidence],
         linked: list[int], *, headline: str = "", locale: str = "en") -> dict:
    """A structured view of a case for the team's channel. Adapters render it as embed, notice or text.
    Its words are team texts (`card_*` in en.yaml) in `locale`; `labels` names the card's parts for adapters."""
    def t(key, **kw):
        return library.texts.t(key, locale, **kw)

    words = _card_words(library, case.category, locale)
    fields = [
        (words["card_category"], words["category"]),
        (words["card_urgency"], t(_URGENCY_KEYS[case.urgency])),
        (words["card_status"], status_label(library, case, locale)),
        (words["card_reporter"], reporter_label(library, case, locale)),
        (words["card_accused"], ", ".join(person(a) for a in case.accused) or words["card_accused_none"]),
        (words["card_assigned"], person(case.assignee) if case.assignee else words["card_assigned_none"]),
    ]
    statements = [f"\"{inert_line(r.text, limit=1500)}\"" for r in reports if r.text]
    links = [e.ref.link or f"{e.ref.channel_id}/{e.ref.message_id}" for e in evidence if e.ref]
    links += [r.reported_message.link or r.reported_message.message_id for r in reports if r.reported_message]
    flags = []
    if case.flags.get("retaliation_suspected"):
        nums = ", ".join(str(n) for n in case.flags["retaliation_suspected"])
        flags.append(t("card_flag_retaliation", numbers=nums))
    if case.flags.get("about_moderator"):
        flags.append(t("card_flag_about_moderator"))
    if linked:
        others = ", ".join(map(str, linked))
        flags.append(t("card_flag_linked_many" if len(linked) > 1 else "card_flag_linked_one", numbers=others))
    if case.flags.get("possible_minor") or (case.answers.get("minor") in ("unsure", "skipped")):
        flags.append(t("card_flag_possible_minor"))
    labels = dict(words["labels"])
    labels["footer"] = _with_number(words, "footer", library, locale, case.number)
    return {
        "title": headline or t("card_title", number=case.number),
        "case_number": case.number,
        "urgent": case.urgency == Urgency.URGENT,
        "category": case.category,
        "fields": fields,
        "statements": statements,
        "answers": answers_lines(library, case, locale),
        "evidence_links": sorted(set(links)),
        "flags": flags,
        "guidance": words["guidance"],
        "closed": case.status == Status.CLOSED,
        "labels": labels,
        "commands": _with_number(words, "commands", library, locale, case.number, prefix="{prefix}"),
    }


def detail_text(library: Library, case: Case, reports, evidence, notes: list[CaseNote], linked, strikes_line="",
                prefix: str = "", locale: str = "en") -> str:
    def t(key, **kw):
        return library.texts.t(key, locale, **kw)

    c = card(library, case, reports, evidence, linked, locale=locale)
    lines = [card_text(c, with_guidance=False, prefix=prefix)]
    lines.append(t("case_opened_updated", opened=when(case.created_at), updated=when(case.updated_at)))
    for e in evidence:
        where = e.ref.link or f"{e.ref.channel_id}/{e.ref.message_id}" if e.ref else "-"
        author = person(e.author) if e.author else t("case_evidence_unknown_author")
        text = inert_line(e.text, limit=300) if e.text else t("case_evidence_no_text")
        att = t("case_evidence_attachments", count=len(e.attachments)) if e.attachments else ""
        lines.append(t("case_evidence_line", id=e.id, where=where, author=author,
                       at=when(e.message_created_at) if e.message_created_at else "?", text=text, attachments=att,
                       note=" - " + e.note if e.note else ""))
    for n in notes:
        kind = n.kind if n.kind in ("reply_in", "reply_out", "system") else "note"
        who = t(f"case_timeline_{kind}")
        if n.kind in ("note", "reply_out") and ":" in (n.author or ""):  # who did it, for the team (issue 13)
            account = n.author.split(':', 1)[1]
            shown = f"{n.author_name} ({account})" if n.author_name and n.author_name != account else account
            who = t("case_timeline_by", who=who, name=inert_plain(shown, limit=120))
        lines.append(t("case_timeline_line", at=when(n.at), who=who, text=inert_line(n.text, limit=1000)))
    if strikes_line:
        lines.append(strikes_line)
    return "\n".join(lines)


def list_line(library: Library, case: Case, locale: str = "en") -> str:
    def t(key, **kw):
        return library.texts.t(key, locale, **kw)

    who = ", ".join(inert_plain(a.name or a.id, limit=40) for a in case.accused) or "-"
    assignee = inert_plain(case.assignee.name or case.assignee.id, limit=40) if case.assignee else t("case_list_unassigned")
    urgent = t("case_list_urgent") if case.urgency.value == "urgent" else ""
    return t("case_list_line", number=case.number, urgent=urgent, category=case.category,
             status=t(f"status_{case.status.value}"), accused=one_line(who, 60), assignee=assignee,
             opened=when(case.created_at))
