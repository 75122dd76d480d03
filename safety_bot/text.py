"""Rendering untrusted text (reports, names, notes) so that it stays inert wherever it is shown.

Reported text is written by frightened members and sometimes by the accused. It must never ping
@everyone, mention a role or user, open a link preview, inject markdown or HTML, or carry control
characters into a terminal. Every adapter shows user text through `inert()`.
"""

from __future__ import annotations

import html
import re
import unicodedata

ZWSP = "\u200b"
_MENTION = re.compile(r"@(?=(everyone|here|room)\b)|<(?=[@#][!&]?\d+>)|<(?=a?:\w+:\d+>)", re.IGNORECASE)
_MARKDOWN = re.compile(r"([\\`*_~|>#\[\]()-])")
_URL = re.compile(r"(https?)://", re.IGNORECASE)
_PLAIN_TAG = re.compile(r"<(?=[@#:]|a:|t:)")
_AT = re.compile(r"@(?=[\w.\-=/]+)")
_LINE_BREAKS = re.compile(r"\s*[\n\u2028\u2029]\s*")  # a run of line breaks (and the spaces around them)


def strip_controls(text: str) -> str:
    """Drop control and formatting characters (ANSI escapes, bidi overrides) but keep newlines and tabs."""
    if text.isascii() and text.isprintable():  # the common case: nothing to drop (printable ASCII has no Cc/Cf)
        return text
    out = []
    for ch in text:
        if ch in "\n\t":
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        out.append(ch)
    return "".join(out)


def inert(text: str | None, *, limit: int | None = None) -> str:
    """Make user text safe to show in chat or a terminal: no mentions, no markdown, no controls."""
    if not text:
        return ""
    text = strip_controls(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    text = _MARKDOWN.sub(r"\\\1", text)
    text = _MENTION.sub(lambda m: m.group(0) + ZWSP if m.group(0) == "@" else "<" + ZWSP, text)
    # Matrix user ids (@user:server) and Discord-style @name both break on the zero-width space.
    text = _AT.sub("@" + ZWSP, text)
    text = _URL.sub(lambda m: m.group(1) + ":" + ZWSP + "//", text)
    return text


def inert_plain(text: str | None, *, limit: int | None = None) -> str:
    """Inert text for places with no markdown (console, plain-text bodies): mentions and controls only."""
    if not text:
        return ""
    text = strip_controls(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    if "<" not in text and "@" not in text:  # most statements: nothing for the two patterns below to change
        return text
    text = _PLAIN_TAG.sub("<" + ZWSP, text)
    return _AT.sub("@" + ZWSP, text)


LINE_BREAK = " \u21b5 "  # "↵": where a member's text had a line break, in a team post


def inert_line(text: str | None, *, limit: int | None = None) -> str:
    """`inert_plain` on one line: what a member (or the accused) wrote, inside a post of the bot's, can never start
    a line of its own that looks like the bot's (a fake "Accused:" field, a fake instruction to ban)."""
    return _LINE_BREAKS.sub(LINE_BREAK, inert_plain(text, limit=limit)).strip()


def inert_html(text: str | None, *, limit: int | None = None) -> str:
    """Inert text for HTML bodies (Matrix formatted_body): escaped, no pills, no mentions."""
    return html.escape(inert_plain(text, limit=limit), quote=True).replace("\n", "<br>")


def one_line(text: str | None, limit: int = 80) -> str:
    """A short single-line preview, for lists."""
    text = " ".join(strip_controls(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
