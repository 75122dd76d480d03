"""What the safety team sends to a member is checked before it leaves (issue 13, item 3).

A moderator under pressure, or a compromised moderator account, must not be able to use the bot's voice
to tell a victim to pay, to ask them for the images, or to blame them. Replies and warning texts pass
`check()`: the word lists are data, per language, in the `reply_guard:` section of each locale file
(playbooks/locales/*.yaml); every language's lists apply to every text, because a moderator may write in
any language. Texts are compared folded (safety_bot/names.py: NFKC, zero-width and bidi controls removed,
confusables mapped), so "p\u200bay" and "раy" (Cyrillic) are still "pay".

A phrase does not count when a negation stands shortly before it in the same sentence ("please do not
pay him" passes). A refusal says why, and suggests a wording (locale texts reply_refused_<kind>).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .names import fold

KINDS = ("payment", "images", "blame")
NEGATION_WINDOW = 4  # words before a phrase in which a negation cancels it


@dataclass(frozen=True)
class Verdict:
    kind: str  # payment | images | blame
    phrase: str


def _word_regex(word: str) -> str:
    """One word of a phrase: `a|b` either word; `#` an amount ("200", "$200", "200€"); `word*` any ending."""
    if "|" in word:
        return "(?:" + "|".join(_word_regex(w) for w in word.split("|") if w) + ")"
    if word == "#":
        return r"[$€£]?\d[\w.,]*"
    return re.escape(word[:-1]) + r"\w*" if word.endswith("*") else re.escape(word)


def _phrase_regex(phrase: str) -> re.Pattern:
    """A phrase from a locale file: words separated by spaces; `*` at a word's end matches any ending
    ("picture*": picture, pictures); `a|b` matches either word ("him|her"); `#` matches an amount ("give him
    the #": give him the $200); a lone `*` stands for up to three words of the same clause ("send * pictures":
    send us the pictures, but not "we will send it. Pictures ..."). Matched on word boundaries in the folded
    text."""
    rx = ""
    for word in fold(phrase).split():
        if word == "*":
            rx += r"(?:[^\w'.!?;:,\n]+[\w']+){0,3}"
            continue
        rx += (r"\W+" if rx else "") + _word_regex(word)
    return re.compile(r"(?<![\w'])" + rx + r"(?![\w'])")


class ReplyGuard:
    def __init__(self, lists: dict[str, dict[str, list[str]]]):
        """`lists`: language -> {"payment"|"images"|"blame"|"negations"|"negations_after": [phrases]}."""
        self.rules: list[tuple[str, str, re.Pattern]] = []
        before: set[str] = set()
        after: set[str] = set()
        for lang_lists in lists.values():
            for kind in KINDS:
                for phrase in lang_lists.get(kind, []):
                    self.rules.append((kind, phrase, _phrase_regex(phrase)))
            before |= {fold(n) for n in lang_lists.get("negations", [])}
            after |= {fold(n) for n in lang_lists.get("negations_after", [])}
        self.before = [n.split() for n in before if n.split()]
        self.after = [n.split() for n in after if n.split()]

    @staticmethod
    def _has(words: list[str], phrases: list[list[str]]) -> bool:
        return any(words[i:i + len(p)] == p for p in phrases for i in range(len(words) - len(p) + 1))

    def _negated(self, text: str, start: int, end: int) -> bool:
        """A negation shortly before the phrase ("do not pay"), or just after it where the language puts it
        there ("zahl nicht", "Zahlen beendet es selten": up to three words after), in the same sentence."""
        head = re.split(r"[.!?;:\n,]", text[:start])[-1]  # "don't worry, just pay him" is not a negation
        tail = re.split(r"[.!?;:\n,]", text[end:])[0]
        words_before = re.findall(r"[\w']+", head)[-NEGATION_WINDOW:]
        words_after = re.findall(r"[\w']+", tail)[:3]
        return self._has(words_before, self.before) or self._has(words_after, self.after)

    def _negated_inside(self, phrase: str, matched: str) -> bool:
        """A negation among the words a lone `*` stood for ("schick uns keine Bilder": do not send pictures)."""
        if "*" not in phrase.split():
            return False
        own = {alt for word in fold(phrase).split() for alt in word.split("|")}
        return self._has([w for w in re.findall(r"[\w']+", matched) if w not in own], self.before)

    def check(self, text: str) -> Verdict | None:
        """The first thing in the text that must not be sent to a member, or None."""
        folded = fold(text)
        for kind, phrase, rx in self.rules:
            for m in rx.finditer(folded):
                if not self._negated(folded, m.start(), m.end()) and not self._negated_inside(phrase, m.group(0)):
                    return Verdict(kind, phrase)
        return None


_BY_LIBRARY: dict[int, tuple[object, ReplyGuard]] = {}


def for_library(library) -> ReplyGuard:
    """One guard per loaded library (the lists are compiled once)."""
    key = id(library)
    cached = _BY_LIBRARY.get(key)
    if cached is None or cached[0] is not library:
        cached = (library, ReplyGuard(getattr(library, "reply_guard_lists", {}) or {}))
        _BY_LIBRARY[key] = cached
    return cached[1]


async def refusal(c, text: str):
    """The refusal (audited, with the kind but never the text) when `text` must not go to a member."""
    from .actions import Outcome

    verdict = for_library(c.svc.lib).check(text)
    if verdict is None:
        return None
    async with c.svc.store.transaction():
        await c.svc.audit(c.actor.key, "member_text.refused", c.ctx.community, command=c.cmd.name, kind=verdict.kind)
    return Outcome(ok=False, reply=c.t(f"reply_refused_{verdict.kind}") + " " + c.t("nothing_sent"))
