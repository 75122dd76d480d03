"""Comparing names and ids the way a person reads them, not the way a computer stores them.

"rita", "Ri\u200bta" (a zero-width space), "Rіta" (a Cyrillic і) and "ｒｉｔａ" (full-width) all read as
Rita. Every check that asks "does this text name that person?" (a warning that would name the reporter,
a moderator named in a report, a reply that names someone) compares folded forms: Unicode NFKC,
format characters (zero-width and bidi controls) removed, case folded, common confusables mapped to
their Latin look-alikes, and accents dropped.
"""

from __future__ import annotations

import re
import unicodedata

from .domain import UserRef

# Letters from other scripts that look like Latin ones (Cyrillic, Greek, a few IPA and Armenian forms),
# after case folding. Enough to stop the common tricks; not the whole Unicode confusables table.
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "ӏ": "l", "ɡ": "g", "ɑ": "a", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ս": "u", "օ": "o", "ı": "i", "ℓ": "l",
    "’": "'", "‘": "'", "ʼ": "'",
})


def fold(text: str | None) -> str:
    """The form two strings are compared in (see the module docstring)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cc") or ch in "\n\t")
    text = text.casefold().translate(_CONFUSABLES)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^\w]+", text) if w]


def handles(person: UserRef) -> list[str]:
    """The ways a text could name this person: id, display name, a Matrix id's local part."""
    out = [person.id]
    if person.name:
        out.append(person.name)
    if person.id.startswith("@"):
        out.append(person.id[1:].split(":", 1)[0])
    return [h for h in out if h]


def names(text: str, person: UserRef, *, parts: bool = True) -> bool:
    """Whether the text names this person: their id, their whole name, or (with `parts`) any word of three
    letters or more of their name or of a Matrix id's local part ("Rita" for "Rita Meyer")."""
    low = fold(text)
    if not low:
        return False
    words = set(_words(low))
    padded = " " + " ".join(_words(low)) + " "
    for h in handles(person):
        f = fold(h)
        if not f:
            continue
        if f in low and (len(f) >= 5 or not f.isalnum()):
            return True
        phrase = " ".join(_words(f))
        if phrase and f" {phrase} " in padded:
            return True
        if parts and {w for w in _words(f) if len(w) >= 3} & words:
            return True
    return False


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and fold(a) == fold(b)
