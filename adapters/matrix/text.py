"""Pure helpers for the Matrix adapter: ids, permalinks, rendering. No network, no nio."""

from __future__ import annotations

from typing import Any

import hashlib
import html
import re
import urllib.parse

from safety_bot.actions import Prompt
from safety_bot.locales import Texts

USER_ID = re.compile(r"^@[^:\s/]+:[A-Za-z0-9.\-\[\]]+(:\d{1,5})?$")
MXC = re.compile(r"^mxc://([A-Za-z0-9.\-\[\]:]+)/([A-Za-z0-9_\-]+)$")

def parse_user_id(token: str) -> str | None:
    """A Matrix user id from '@user:server', a matrix.to link or a matrix:u/ URI; None otherwise."""
    token = (token or "").strip().strip("<>").rstrip(",;")
    if "matrix.to/#/" in token:
        token = urllib.parse.unquote(token.split("matrix.to/#/", 1)[1].split("?", 1)[0])
    elif token.startswith("matrix:u/"):
        token = "@" + urllib.parse.unquote(token[len("matrix:u/"):].split("?", 1)[0])
    return token if USER_ID.match(token) else None


def parse_permalink(link: str) -> tuple[str, str] | None:
    """(room id or alias, event id) from a matrix.to permalink or a matrix: URI; None otherwise."""
    link = (link or "").strip().strip("<>")
    if "matrix.to/#/" in link:
        rest = link.split("matrix.to/#/", 1)[1].split("?", 1)[0]
        parts = [urllib.parse.unquote(p) for p in rest.split("/") if p]
        if len(parts) >= 2 and parts[0][:1] in ("!", "#") and parts[1].startswith("$"):
            return parts[0], parts[1]
        return None
    if link.startswith("matrix:"):
        parts = link[len("matrix:"):].split("?", 1)[0].split("/")
        if len(parts) >= 4 and parts[2] == "e" and parts[1] and parts[3]:
            room, event = urllib.parse.unquote(parts[1]), "$" + urllib.parse.unquote(parts[3])
            if parts[0] == "roomid":
                return "!" + room, event
            if parts[0] == "r":
                return "#" + room, event
        return None
    m = re.match(r"^(![^/\s]+|#[^/\s]+:[^/\s]+)/(\$[^/\s?]+)$", link)
    if m:
        return m.group(1), m.group(2)
    return None


def permalink(room_id: str, event_id: str) -> str:
    return f"https://matrix.to/#/{urllib.parse.quote(room_id, safe='!:')}/{urllib.parse.quote(event_id, safe='$')}"


def render_prompt(p: Prompt, texts: Texts, locale: str) -> str:
    lines = [p.text]
    if p.choices:
        lines += [f"{i}) {c.label}" for i, c in enumerate(p.choices, 1)]
        lines.append(texts.t("matrix.answer_hint_free" if p.free_text else "matrix.answer_hint", locale))
    return "\n".join(lines)


def notice_html(text: str, *, title: bool = True) -> str:
    """HTML for a notice whose plain text is already inert: escaped, first line bold, no pills."""
    lines = [html.escape(line, quote=True) for line in text.split("\n")]
    if title and lines:
        lines[0] = f"<b>{lines[0]}</b>"
    return "<br>".join(lines)


def policy_state_key(user_id: str) -> str:
    """One policy rule per user, stable so an unban retracts the same rule."""
    return "safety-bot-" + hashlib.sha256(user_id.encode()).hexdigest()[:32]


def media_ids(content: dict) -> list[tuple[str, str]]:
    """(server, media id) of every mxc URI in a message content (file, encrypted file, thumbnails, and an
    edit's new content)."""
    found: list[str] = []
    if not isinstance(content, dict):
        return []
    found.append(content.get("url"))
    found.append((content.get("file") or {}).get("url") if isinstance(content.get("file"), dict) else None)
    info = content.get("info") if isinstance(content.get("info"), dict) else {}
    found.append(info.get("thumbnail_url"))
    tf = info.get("thumbnail_file")
    found.append(tf.get("url") if isinstance(tf, dict) else None)
    new = content.get("m.new_content")
    if isinstance(new, dict) and new is not content:  # an edit that swapped in other media
        found += [f"mxc://{s}/{m}" for s, m in media_ids({k: v for k, v in new.items() if k != "m.new_content"})]
    out = []
    for uri in found:
        if isinstance(uri, str):
            m = MXC.match(uri)
            if m and (m.group(1), m.group(2)) not in out:
                out.append((m.group(1), m.group(2)))
    return out


def server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else ""


class ImageMedia:
    """Where an image message's file is, for reading it into memory: never stored, logged or shown.
    `file` holds the decryption info of encrypted media (key, iv, hash) and lives only as long as the check."""

    __slots__ = ("server", "media_id", "mimetype", "size", "file", "video")

    def __init__(self, server: str, media_id: str, mimetype: str, size: int | None, file: dict | None,
                 video: bool = False):
        self.server, self.media_id, self.mimetype, self.size, self.file = server, media_id, mimetype, size, file
        self.video = video  # a video (m.video, or a file with a video mimetype): media.max_video_bytes applies

    def __repr__(self) -> str:  # no media id, no key material, even in a traceback
        return (f"ImageMedia(mimetype={self.mimetype!r}, size={self.size!r}, encrypted={self.file is not None}, "
                f"video={self.video})")


def image_media(event_type: str, content: dict) -> ImageMedia | None:
    """The image or video of a message to check against the hash bank: `m.image`, `m.video` and `m.sticker`
    events, and `m.file` with an image or video mimetype; plain or encrypted (`file`) media. None for
    anything else. For an edit, pass its `m.new_content`. Thumbnails are not checked."""
    if not isinstance(content, dict):
        return None
    info = content.get("info") if isinstance(content.get("info"), dict) else {}
    file = content.get("file") if isinstance(content.get("file"), dict) else None
    mimetype = info.get("mimetype") or (file or {}).get("mimetype") or ""
    mimetype = mimetype.split(";")[0].strip().lower() if isinstance(mimetype, str) else ""
    msgtype = content.get("msgtype")
    video = msgtype == "m.video" or (msgtype == "m.file" and mimetype.startswith("video/"))
    if not (video or event_type == "m.sticker" or msgtype == "m.image"
            or (msgtype == "m.file" and mimetype.startswith("image/"))):
        return None
    uri = file.get("url") if file is not None else content.get("url")
    m = MXC.match(uri) if isinstance(uri, str) else None
    if m is None:
        return None
    if file is not None:
        key, hashes = file.get("key"), file.get("hashes")
        if not (isinstance(key, dict) and isinstance(key.get("k"), str) and isinstance(file.get("iv"), str)
                and isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str)):
            return None
    size = info.get("size")
    return ImageMedia(m.group(1), m.group(2), mimetype, size if isinstance(size, int) and size >= 0 else None, file,
                      video)


def _shown_content(content: Any) -> Any:
    """What clients show for a message: an edit's `m.new_content` (an edit can swap in an image)."""
    if isinstance(content, dict):
        rel = content.get("m.relates_to")
        if isinstance(rel, dict) and rel.get("rel_type") == "m.replace":
            return content.get("m.new_content")
    return content


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")
