"""The file formats of shared lists, read strictly and written plainly.

Hash lists use ThreatExchange's local-file format: one `<signal type> <hash>` per line (`pdq` 64 hex
characters, `md5` and `video_md5` 32), blank lines and `#` comments allowed. Ban lists: one
`<user id> <reason code> <YYYY-MM-DD>` per line, same comments.

Either may be signed: a first line `# ed25519-signature: <base64>` holds an Ed25519 signature over
every byte after that line. A list whose operator gave a public key is refused unless it verifies.

A file is refused as a whole, with the line number, when anything in it is wrong: nothing is half read."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass

SIGNATURE_PREFIX = b"# ed25519-signature:"
HASH_TYPES = {"pdq": 64, "md5": 32, "video_md5": 32}
REASON_CODES = ("sextortion", "child_safety", "harassment", "spam", "other")
_HEX = re.compile(r"[0-9a-fA-F]+")
_USER_ID = re.compile(r"[0-9]{15,22}")
MAX_ERRORS_SHOWN = 3


class ListFormatError(ValueError):
    """The file was refused; the message names the line(s) and says what is wrong."""


@dataclass(frozen=True)
class HashItem:
    signal_type: str
    value: str  # lower-case hex

    @property
    def text(self) -> str:
        return f"{self.signal_type} {self.value}"


@dataclass(frozen=True)
class BanItem:
    user_id: str
    reason: str
    date: str

    @property
    def text(self) -> str:
        return self.user_id


def split_signature(data: bytes) -> tuple[str | None, bytes, int]:
    """(signature, the signed body, line offset of the body) of a list file's bytes."""
    if data.startswith(SIGNATURE_PREFIX):
        first, _, body = data.partition(b"\n")
        return first[len(SIGNATURE_PREFIX):].strip().decode("ascii", "replace"), body, 1
    return None, data, 0


def verify(data: bytes, public_key: str | None) -> tuple[bytes, int, bool]:
    """(body, line offset, signed) after checking the signature. Raises ListFormatError when a public key was
    given and the file is unsigned or its signature does not verify."""
    from ..audit_chain import parse_public_key, signature_ok
    from ..crypto import KeyProblem

    signature, body, offset = split_signature(data)
    if public_key:
        try:
            key = parse_public_key(public_key)
        except KeyProblem as exc:
            raise ListFormatError(f"the list's public key is not usable: {exc}") from None
        if signature is None:
            raise ListFormatError("line 1: the list is not signed, but a public key was given for it, so it is refused")
        if not signature_ok(key, body, signature):
            raise ListFormatError("line 1: the list's signature does not verify with its public key, so it is refused")
    return body, offset, signature is not None


def sign(body: bytes, keys) -> bytes:
    """The signed file: a signature line (made with `keys.sign`, the audit key) and the body."""
    return SIGNATURE_PREFIX + b" " + keys.sign(body).encode() + b"\n" + body


def _text_lines(body: bytes, offset: int):
    """(line number, text) of each line with content; comments and blank lines dropped."""
    head = body.lstrip()[:64].lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<")):
        raise ListFormatError(f"line {offset + 1}: this is a web page (HTML), not a list")
    if b"\x00" in body:
        line = offset + 1 + body[:body.index(b"\x00")].count(b"\n")
        raise ListFormatError(f"line {line}: the file is binary, not a text list")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = offset + 1 + body[:exc.start].count(b"\n")
        raise ListFormatError(f"line {line}: the file is not UTF-8 text") from None
    for n, line in enumerate(text.splitlines(), start=offset + 1):
        line = line.split("#", 1)[0].strip()
        if line:
            yield n, line


def _refuse(errors: list[str]) -> None:
    if errors:
        more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise ListFormatError("; ".join(errors[:MAX_ERRORS_SHOWN]) + more)


def parse_hash_list(body: bytes, offset: int = 0) -> list[HashItem]:
    """The hashes of a ThreatExchange local file, in file order, duplicates dropped."""
    items: dict[HashItem, None] = {}
    errors: list[str] = []
    for n, line in _text_lines(body, offset):
        parts = line.split()
        if len(parts) != 2:
            errors.append(f"line {n}: expected '<signal type> <hash>' (for example 'pdq' and 64 hex characters)")
            continue
        kind, value = parts[0].lower(), parts[1]
        if kind not in HASH_TYPES:
            if _HEX.fullmatch(kind) and len(kind) >= 16:  # a hash first: never echoed (nor stored, nor audited)
                errors.append(f"line {n}: the signal type comes first: '<signal type> <hash>' (pdq, md5 or video_md5)")
            else:
                errors.append(f"line {n}: unknown signal type {kind[:20]!r} (pdq, md5 or video_md5)")
            continue
        if len(value) != HASH_TYPES[kind] or not _HEX.fullmatch(value):
            errors.append(f"line {n}: a {kind} hash is {HASH_TYPES[kind]} hexadecimal characters")
            continue
        items[HashItem(kind, value.lower())] = None
    _refuse(errors)
    return list(items)


def parse_ban_list(body: bytes, offset: int = 0) -> list[BanItem]:
    """The accounts of a ban list (`<user id> <reason code> <YYYY-MM-DD>`), duplicates dropped (first kept)."""
    items: dict[str, BanItem] = {}
    errors: list[str] = []
    for n, line in _text_lines(body, offset):
        parts = line.split()
        if len(parts) != 3:
            errors.append(f"line {n}: expected '<user id> <reason code> <YYYY-MM-DD>'")
            continue
        user_id, reason, date = parts
        if not _USER_ID.fullmatch(user_id):
            errors.append(f"line {n}: a Discord user id is 15 to 22 digits")
            continue
        if reason not in REASON_CODES:
            errors.append(f"line {n}: unknown reason code {reason[:20]!r} ({', '.join(REASON_CODES)})")
            continue
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            errors.append(f"line {n}: the date must be YYYY-MM-DD")
            continue
        items.setdefault(user_id, BanItem(user_id, reason, date))
    _refuse(errors)
    return list(items.values())


def hash_list_text(name: str, items: list[HashItem], exported_at: str) -> bytes:
    lines = [f"# safety-bot hash list: {name}", f"# exported {exported_at}; ThreatExchange local-file format"]
    lines += [i.text for i in items]
    return ("\n".join(lines) + "\n").encode()


def ban_list_text(network: str, items: list[BanItem], exported_at: str) -> bytes:
    lines = [f"# safety-bot ban list of network {network}", f"# exported {exported_at}; <user id> <reason> <date>"]
    lines += [f"{i.user_id} {i.reason} {i.date}" for i in items]
    return ("\n".join(lines) + "\n").encode()


def is_base64_key(text: str) -> bool:
    try:
        return len(base64.b64decode(text.strip(), validate=True)) == 32
    except (binascii.Error, ValueError):
        return False
