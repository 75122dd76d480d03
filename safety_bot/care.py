"""Member care: what a member's own words change about their case, and the crisis answer.

Every text a member writes (the statement, each answer, every later message) goes through `scan()`:
- a self-harm or danger cue makes the case urgent, answers at once with a kind message and crisis lines
  with numbers first, and pings the team;
- an age cue ("I'm 15") records that a minor is involved, which moves a sextortion case to child safety
  (the playbook's switch rule), and the child-safety first message goes out at once;
- a mention of another app ("add me on snap") offers how to report and block there.
Pure decisions on a `Case`; the service stores and sends.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from . import intake as intake_rules
from . import resources as res
from .cues import Found
from .domain import Case, Urgency
from .playbooks import Library, Texts, pick

CHILD = "child_safety"


def audiences_for(case: Case, *, victim: bool = False) -> tuple[set[str], bool]:
    """Who the resource list is for, and whether entries for minors come first. `victim`: for the person
    a friend's report is about (linked later), who gets what a victim gets, not a bystander's list."""
    audiences: set[str] = set()
    if victim:
        case = dataclasses.replace(case, answers={**case.answers, "about": "me"})
    if case.answers.get("about") == "someone_else":
        audiences.add("bystander")
    if intake_rules.wants_adult_resources(case):
        audiences.add("adult")
    if intake_rules.wants_minor_resources(case):
        audiences |= {"minor", "parent"}
    minor_first = case.category == CHILD or case.answers.get("minor") in ("yes", "unsure")
    return audiences, minor_first


def country_of(case: Case | None, locale: str) -> str | None:
    if case is not None:
        return case.flags.get("country") or intake_rules.country_from_locale(case.locale)
    return intake_rules.country_from_locale(locale)


def crisis_text(lib: Library, case: Case | None, locale: str, intro_key: str, *, country: str | None = None) -> str:
    """A short kind opening, then crisis lines with numbers first. With no local line (country not
    known), the international lines that have numbers and: call your local emergency number."""
    texts: Texts = lib.texts
    country = country or country_of(case, locale)
    if case is not None:
        audiences, minor_first = audiences_for(case)
    else:
        audiences, minor_first = {"adult", "minor", "parent"}, False
    lines = res.select(lib.resources, country=country, audiences=audiences, needs=set(), urgent_only=True,
                       limit=5, minor_first=minor_first)
    body = texts.t(intro_key, locale) + "\n" + res.render(texts, lines, locale)
    if not any(r.region == country for r in lines):
        body += "\n" + texts.t("crisis_no_country", locale)
    return body


@dataclass
class Scan:
    found: Found
    changes: list[str] = field(default_factory=list)
    new_cues: list[str] = field(default_factory=list)  # self_harm / danger heard in this text (again or not)
    to_child: bool = False  # this text moved the case to child safety
    new_apps: list[str] = field(default_factory=list)


def scan(lib: Library, case: Case, text: str, platform: str = "", locale: str = "en") -> Scan:
    """Apply the cues found in one member text to the case (mutates it; the caller saves). `changes` are
    for the team's headline: team texts in `locale` (the configured one)."""
    found = lib.cues.find(text or "")
    out = Scan(found)
    if found.urgent:
        seen = set(case.flags.get("danger_cues", []))
        now = ({"self_harm"} if found.self_harm else set()) | ({"danger"} if found.danger else set())
        # every text with words of danger is heard, not only the first: the member gets the crisis lines
        # and the team a ping each time (a second "I want to die" is never "I did not understand")
        out.new_cues = sorted(now)
        case.flags["danger_cues"] = sorted(seen | now)
        case.answers.setdefault("danger", "yes")  # not asked again: they told us
        if case.urgency != Urgency.URGENT:
            case.urgency = Urgency.URGENT
            out.changes.append(lib.texts.t("change_urgent_cues", locale, cues=lib.texts.t("cue_headline_and", locale).join(
                lib.texts.t(f"change_cue_{k}", locale) for k in sorted(now))))
    if found.minor and case.answers.get("minor") != "yes":
        before = case.category
        case.flags["age_cue"] = found.minor_age if found.minor_age is not None else True
        out.changes.append(lib.texts.t("change_age_cue", locale))
        out.changes += intake_rules.apply_answer(lib, case, "minor", "yes", locale)
        out.to_child = case.category == CHILD and before != CHILD
    apps = [a for a in found.apps if a != platform]
    if apps:
        seen_apps = set(case.flags.get("apps", []))
        out.new_apps = [a for a in apps if a not in seen_apps]
        case.flags["apps"] = sorted(seen_apps | set(apps))
    return out


def cue_intro_key(cues: list[str]) -> str:
    return "cue_self_harm" if "self_harm" in cues else "cue_danger"


def found_intro_key(found) -> str:
    """`cue_intro_key` for the words of danger found in a text (cues.Found) that is not applied to a case."""
    return "cue_self_harm" if found.self_harm else "cue_danger"


def team_headline(svc, case: Case, s: Scan, *, new: bool = False) -> str:
    """The team's headline for what a member's words changed (team texts, the configured locale)."""
    parts = []
    if "self_harm" in s.new_cues:
        parts.append(svc.team_text("cue_headline_self_harm"))
    if "danger" in s.new_cues:
        parts.append(svc.team_text("cue_headline_danger"))
    if s.to_child:
        parts.append(svc.team_text("cue_headline_minor", age=case.flags.get("age_cue")))
    return svc.team_text("cue_headline_new" if new else "cue_headline", number=case.number,
                         what=svc.team_text("cue_headline_and").join(parts)) + \
        svc.team_text("cue_headline_crisis_sent" if s.new_cues else "cue_headline_end")


def apps_text(lib: Library, apps: list[str], locale: str) -> str:
    """How to report and block on the apps named (all of them when `apps` is empty)."""
    chosen = [a for a in lib.apps if not apps or a.id in apps]
    lines = [lib.texts.t("apps_intro", locale)]
    for a in chosen:
        lines.append(f"- {a.name}: {pick(a.how, locale)}" + (f" ({a.url})" if a.url else ""))
    return "\n".join(lines)
