"""Cues in what members write: self-harm, immediate danger, a minor's age, another app, a friend joining.

The cue lists are data: each locale file (playbooks/locales/*.yaml) has a `cues:` section, and every
member text is checked against the lists of ALL languages (people mix languages). Matching is pure.

The rule against false positives (tests/core/test_cues.py holds it):
- A cue is a whole phrase, matched on word boundaries, that speaks of harming oneself ("kill myself",
  "want to die") or of being in danger now ("going to hurt me"). Strong single words count
  ("suicide", "suicidal").
- Figures of speech are not cues: "this is killing me" or "my mom will kill me" contain no cue phrase,
  and phrases listed under `not_cues` ("dying of embarrassment") are blanked out before matching.
- A negated cue ("I'm not going to kill myself") still counts: a false alarm costs a kind message and a
  ping; a missed one can cost a life.
- An age cue needs a person and an age ("I'm 15", "she's 14", "15 yo", "15 years old"); a number before a
  counted thing ("15 pictures", "I'm 15 minutes away") is not an age (`age_not_before`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

MINOR_AGES = range(5, 18)
AGE = "{age}"


class CueLists(BaseModel):
    """The `cues:` section of one locale file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    self_harm: list[str] = Field(default_factory=list)
    danger: list[str] = Field(default_factory=list)
    not_cues: list[str] = Field(default_factory=list)
    age: list[str] = Field(default_factory=list)
    age_not_before: list[str] = Field(default_factory=list)
    minor: list[str] = Field(default_factory=list)
    apps: dict[str, list[str]] = Field(default_factory=dict)
    victim_join: list[str] = Field(default_factory=list)


def normalize(text: str) -> str:
    text = (text or "").lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return " ".join(text.split())


def _phrase(p: str) -> str:
    return r"\s+".join(re.escape(w) for w in normalize(p).split())


def _any(phrases: list[str]) -> re.Pattern | None:
    alts = sorted({_phrase(p) for p in phrases if p.strip()}, key=len, reverse=True)
    if not alts:
        return None
    return re.compile(r"(?<![\w'])(?:" + "|".join(alts) + r")(?![\w'])")


_TOKEN = re.compile(r"[\w']+")  # a word: a run of word characters and apostrophes
_DIGIT = re.compile(r"\d")
_LEAD = re.compile(r"[\w']*")


def _leads(phrases: list[str]) -> frozenset[str] | None:
    """The words a match of `_any(phrases)` can start with: a match starts where no word character comes
    before, with its first word's leading run of word characters, which ends where the text's word ends
    too. A text none of whose words is one of these cannot match, and is not searched. None when some
    phrase starts with punctuation (then the pattern is always searched)."""
    out = set()
    for p in phrases:
        words = normalize(p).split()
        if not words:
            continue
        lead = _LEAD.match(words[0]).group()
        if not lead:
            return None
        out.add(lead)
    return frozenset(out)


def _needs(phrases: list[str]) -> dict[str, tuple[frozenset[str], ...]]:
    """For each lead (`_leads`), the other words each phrase starting with it needs: those of its words made of
    word characters and apostrophes only. Such a word stands between spaces in a match (or at the match's
    end, where no word character follows), so it is one of the text's words; a text that lacks one of them
    for every phrase of a lead cannot match there. (A word with other characters, "self-harm", is not
    required: the check stays a superset of the matches.)"""
    out: dict[str, set[frozenset[str]]] = {}
    for p in phrases:
        words = normalize(p).split()
        if not words:
            continue
        lead = _LEAD.match(words[0]).group()
        out.setdefault(lead, set()).add(frozenset(w for w in words[1:] if _TOKEN.fullmatch(w)))
    return {lead: tuple(needs) for lead, needs in out.items()}


def _hit(rx: re.Pattern | None, leads: frozenset[str] | None, words: set[str], low: str,
         needs: dict[str, tuple[frozenset[str], ...]] | None = None) -> bool:
    if rx is None or (leads is not None and leads.isdisjoint(words)):
        return False
    if leads is not None and needs is not None and not any(
            need <= words for lead in leads & words for need in needs[lead]):
        return False
    return rx.search(low) is not None


@dataclass
class Found:
    self_harm: bool = False
    danger: bool = False
    minor_age: int | None = None
    minor_words: bool = False
    apps: list[str] = field(default_factory=list)
    victim_join: bool = False

    @property
    def urgent(self) -> bool:
        return self.self_harm or self.danger

    @property
    def minor(self) -> bool:
        return self.minor_age is not None or self.minor_words


class Cues:
    """All languages' cue lists, compiled once."""

    def __init__(self, by_lang: dict[str, CueLists]):
        merged = CueLists(**{
            k: [p for c in by_lang.values() for p in getattr(c, k)]
            for k in ("self_harm", "danger", "not_cues", "age", "age_not_before", "minor", "victim_join")
        })
        apps: dict[str, list[str]] = {}
        for c in by_lang.values():
            for app, words in c.apps.items():
                apps.setdefault(app, []).extend(words)
        self.self_harm = _any(merged.self_harm)
        self.danger = _any(merged.danger)
        self.not_cues = _any(merged.not_cues)
        self.minor = _any(merged.minor)
        self.victim_join = _any(merged.victim_join)
        self.apps = {app: _any(words) for app, words in apps.items()}
        self._leads = {kind: _leads(getattr(merged, kind)) for kind in ("self_harm", "danger", "minor", "victim_join")}
        self._app_leads = {app: _leads(words) for app, words in apps.items()}
        self._needs = {kind: _needs(getattr(merged, kind)) for kind in self._leads}
        self._app_needs = {app: _needs(words) for app, words in apps.items()}
        # apps by the words their phrases start with: a text is checked only for the apps its words can start
        self._apps_always = frozenset(app for app, leads in self._app_leads.items() if leads is None)
        self._apps_by_lead: dict[str, set[str]] = {}
        for app, leads in self._app_leads.items():
            for lead in leads or ():
                self._apps_by_lead.setdefault(lead, set()).add(app)
        self._app_lead_words = frozenset(self._apps_by_lead)
        not_before = sorted({_phrase(w) for w in merged.age_not_before}, key=len, reverse=True)
        stop = (r"(?!\s*(?:" + "|".join(not_before) + r")(?![\w']))") if not_before else ""
        ages = []
        for p in merged.age:
            before, _, after = normalize(p).partition(AGE)
            if not _:
                continue
            rx = (_phrase(before) + (r"\s+" if before.endswith(" ") else "")) if before.strip() else ""
            rx += r"(\d{1,2})(?![\d%])"
            rx += (r"\s*" + _phrase(after)) if after.strip() else stop
            # A word of the phrase that every match contains: texts without it skip the pattern (exact, and
            # most texts contain none of them; 40 patterns were most of a report's cue check).
            needle = max((before + " " + after).split(), key=len, default=None)
            ages.append((rx, needle))
        self.ages = [re.compile(r"(?<![\w'])" + a + r"(?![\w'])") for a, _n in ages]
        self._age_needles = [n for _a, n in ages]
        # each distinct needle once, with the patterns that need it (searched in the list's order)
        groups: dict[str | None, list[int]] = {}
        for i, needle in enumerate(self._age_needles):
            groups.setdefault(needle, []).append(i)
        self._age_groups = tuple((needle, tuple(idx)) for needle, idx in groups.items())
        self._not_cue_leads = _leads(merged.not_cues)
        self._not_cue_needs = _needs(merged.not_cues)

    def find(self, text: str) -> Found:
        low = normalize(text)
        words = set(_TOKEN.findall(low))
        # not-cues blanked out first; a text that cannot hold one (`_hit`'s check) is left as it is
        if self.not_cues is not None and _hit(self.not_cues, self._not_cue_leads, words, low, self._not_cue_needs):
            low = self.not_cues.sub(" ", low)
            words = set(_TOKEN.findall(low))
        found = Found()
        leads, needs = self._leads, self._needs
        found.self_harm = _hit(self.self_harm, leads["self_harm"], words, low, needs["self_harm"])
        found.danger = _hit(self.danger, leads["danger"], words, low, needs["danger"])
        found.minor_words = _hit(self.minor, leads["minor"], words, low, needs["minor"])
        # every age pattern holds (\d{1,2}): a text without a digit has no age
        if _DIGIT.search(low) is not None:
            wanted = sorted(i for needle, idx in self._age_groups if needle is None or needle in low for i in idx)
            for i in wanted:
                for m in self.ages[i].finditer(low):
                    age = int(m.group(1))
                    if age in MINOR_AGES:
                        found.minor_age = age
                        break
                if found.minor_age is not None:
                    break
        maybe = self._apps_always
        if not self._app_lead_words.isdisjoint(words):
            maybe = maybe.union(*(self._apps_by_lead[w] for w in self._app_lead_words & words))
        if maybe:
            found.apps = [app for app, rx in self.apps.items()
                          if app in maybe and _hit(rx, self._app_leads[app], words, low, self._app_needs[app])]
        found.victim_join = _hit(self.victim_join, leads["victim_join"], words, low, needs["victim_join"])
        return found
