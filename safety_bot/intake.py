"""The intake conversation, as pure functions: which question comes next, what an answer means,
and how answers change a case's playbook and urgency. Every question can be skipped."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .actions import Choice, Prompt
from .domain import Case, Urgency
from .locales import CHOICE_WORDS
from .playbooks import Library, QuestionDef, Texts, lang_of, pick

SKIP = "skipped"
SWITCH_HOPS = 3


@dataclass(frozen=True)
class Answer:
    kind: str  # value | skip | stop | invalid
    value: str = ""


def next_question(library: Library, case: Case, asked: list[str]) -> str | None:
    for q in library.playbook(case.category).questions:
        if q not in asked and q not in case.answers:
            return q
    return None


def prompt_for(library: Library, qid: str, locale: str, case: Case | None = None) -> Prompt:
    q = library.questions[qid]
    # a friend reporting for someone: asked about them, not about the friend
    bystander = bool(case is not None and q.bystander_text and case.answers.get("about") == "someone_else"
                     and not case.flags.get("victim"))
    memo = library.__dict__.setdefault("_prompts", {})  # a Prompt is immutable: one per question, language, wording
    prompt = memo.get((qid, locale, bystander))
    if prompt is None:
        footer = library.texts.t("question_footer", locale)
        prompt = Prompt(
            question=qid,
            text=pick(q.bystander_text if bystander else q.text, locale) + "\n" + footer,
            choices=tuple(Choice(c.value, pick(c.label, locale)) for c in q.choices),
            free_text=q.free_text,
        )
        if len(memo) < 10000:
            memo[qid, locale, bystander] = prompt
    return prompt


def parse_answer(q: QuestionDef, text: str, locale: str, texts: Texts) -> Answer:
    """What a member's answer means. The words recognised (skip, stop, yes, no, me, someone_else) come from every
    locale file."""
    raw = " ".join((text or "").split())
    low = raw.lower().strip(" .!")
    if low in texts.words("skip"):
        return Answer("skip")
    if low in texts.words("stop"):
        return Answer("stop")
    if q.choices:
        if low.isdigit() and 1 <= int(low) <= len(q.choices):
            return Answer("value", q.choices[int(low) - 1].value)
        for c in q.choices:
            labels = {c.value.lower(), c.value.replace("_", " ").lower(), *(v.lower() for v in c.label.values())}
            if low in labels:
                return Answer("value", c.value)
        for meaning in CHOICE_WORDS:  # "ja", "nope", "ich", "a friend": a word list named like a choice
            if low in texts.words(meaning) and any(c.value == meaning for c in q.choices):
                return Answer("value", meaning)
        if not q.free_text:
            return Answer("invalid")
    if not raw:
        return Answer("invalid")
    return Answer("value", raw)


def apply_answer(library: Library, case: Case, qid: str, value: str, locale: str = "en") -> list[str]:
    """Record an answer on the case and apply the playbook rules. Returns what changed, for the team: team
    texts in `locale` (the configured one)."""
    changes: list[str] = []
    case.answers[qid] = value
    if qid == "anonymous":
        case.flags["anonymous"] = value in ("anonymous", SKIP)  # skipping keeps them private
    if qid == "consent" and value in ("yes", "no"):
        case.flags["consent"] = value
    for _ in range(SWITCH_HOPS):
        pb = library.playbook(case.category)
        target = None
        for candidate, conditions in pb.switch_to.items():
            if conditions and all(case.answers.get(k) in v for k, v in conditions.items()):
                target = candidate
                break
        if not target or target == case.category:
            break
        if not pb.contact_accused and library.playbook(target).contact_accused:
            # Sextortion stays sextortion: a reporter's answer never moves a case down to a strike-based
            # category (the accused could then be warned). The team sees the answer and can re-categorise.
            if case.flags.get("reporter_suggested_category") != target:
                case.flags["reporter_suggested_category"] = target
                changes.append(library.texts.t("change_category_suggested", locale, suggested=target,
                                               category=case.category, number=case.number))
            break
        changes.append(library.texts.t("change_category", locale, before=case.category, after=target))
        case.category = target
    pb = library.playbook(case.category)
    urgent = pb.always_urgent or any(case.answers.get(k) in v for k, v in pb.urgent_when.items())
    if urgent and case.urgency != Urgency.URGENT:
        case.urgency = Urgency.URGENT
        changes.append(library.texts.t("change_urgent", locale))
    return changes


def wants_minor_resources(case: Case) -> bool:
    """Unless the member said nobody is under 18, we include resources for minors and parents."""
    return case.category == "child_safety" or case.answers.get("minor", SKIP) != "no"


def wants_adult_resources(case: Case) -> bool:
    return case.category != "child_safety" or case.answers.get("about") == "someone_else"


# ---------------------------------------------------------------------------- countries
def parse_country(text: str, texts: Texts) -> str | None:
    """A country code from a member's answer: a name from any locale file's `countries`, or a code."""
    low = " ".join((text or "").lower().replace(".", "").split())
    found = texts.country(low)
    if found:
        return found
    if re.fullmatch(r"[a-z]{2}", low):
        return low.upper()
    return None


def country_from_locale(locale: str | None) -> str | None:
    """`en-US` -> US, `pt-BR` -> BR, `de` -> DE. A bare `en` says nothing about the country."""
    if not locale:
        return None
    parts = locale.replace("_", "-").split("-")
    if len(parts) > 1 and len(parts[1]) == 2:
        return parts[1].upper()
    return {"de": "DE", "fr": "FR", "nl": "NL", "it": "IT", "pl": "PL", "ja": "JP", "ko": "KR"}.get(lang_of(locale))
