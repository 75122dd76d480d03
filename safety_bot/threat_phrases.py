"""Sextortion threat phrasings, stopped before delivery: the `threats:` lists of every locale file, used
together (a threat in German is stopped in an English community too).

Discord AutoMod holds them as one keyword rule (adapters/discord/automod.py); on Matrix the Synapse module
asks the bot, which matches them here (`ThreatPhrases.match`) with Discord's keyword rules, so both
platforms stop the same messages:
- a keyword matches whole words, case-insensitive; `*` at its start or end lets it match part of a word
  (`nude*` matches "nudes");
- a pattern is a regular expression (the syntax Rust and Python share), searched anywhere.
Discord's limits are checked when the locale files load: 1,000 keywords of at most 60 characters, 10
patterns of at most 260 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_KEYWORDS, MAX_KEYWORD_CHARS = 1000, 60
MAX_PATTERNS, MAX_PATTERN_CHARS = 10, 260


def keyword_problem(word: str) -> str | None:
    w = word.strip()
    if not w.strip("*").strip():
        return "an empty keyword"
    if len(w) > MAX_KEYWORD_CHARS:
        return f"{w[:30]!r}... is longer than Discord's {MAX_KEYWORD_CHARS} characters"
    if "*" in w.strip("*"):
        return f"{w!r}: '*' may only stand at the start or the end of a keyword"
    return None


def pattern_problem(pattern: str) -> str | None:
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"a pattern of {len(pattern)} characters is longer than Discord's {MAX_PATTERN_CHARS}"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"{pattern[:40]!r}... is not a valid regular expression ({exc})"
    return None


def _keyword_regex(word: str) -> str:
    w = word.strip().lower()
    head, tail = w.startswith("*"), w.endswith("*")
    core = re.escape(w.strip("*").strip())
    return ("" if head else r"(?<!\w)") + core + ("" if tail else r"(?!\w)")


@dataclass(frozen=True)
class ThreatPhrases:
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    _compiled: tuple = field(default=(), compare=False, repr=False)

    @classmethod
    def build(cls, keywords, patterns) -> "ThreatPhrases":
        kws = tuple(dict.fromkeys(k.strip().lower() for k in keywords if k.strip()))
        pats = tuple(dict.fromkeys(p for p in patterns if p.strip()))
        compiled = []
        if kws:
            compiled.append((re.compile("|".join(_keyword_regex(k) for k in kws), re.IGNORECASE), kws))
        for p in pats:
            compiled.append((re.compile(p), None))
        return cls(kws, pats, tuple(compiled))

    @classmethod
    def from_texts(cls, texts) -> "ThreatPhrases":
        lists = getattr(texts, "threat_lists", {}) or {}
        kws = [k for lang in sorted(lists) for k in lists[lang].get("keywords", [])]
        pats = [p for lang in sorted(lists) for p in lists[lang].get("patterns", [])]
        return cls.build(kws, pats)

    def limits_problems(self) -> list[str]:
        out = []
        if len(self.keywords) > MAX_KEYWORDS:
            out.append(f"{len(self.keywords)} keywords in all languages; Discord allows {MAX_KEYWORDS}")
        if len(self.patterns) > MAX_PATTERNS:
            out.append(f"{len(self.patterns)} patterns in all languages; Discord allows {MAX_PATTERNS}")
        return out

    def __bool__(self) -> bool:
        return bool(self.keywords or self.patterns)

    def match(self, text: str) -> str | None:
        """The matched words (as Discord reports `matched_content`), or None."""
        if not text:
            return None
        for rx, _ in self._compiled:
            m = rx.search(text)
            if m:
                return m.group(0)
        return None
