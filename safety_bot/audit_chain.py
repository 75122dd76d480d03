"""The keyed, anchored audit chain.

Each audit entry's link is an HMAC-SHA256 over the previous link and the entry's canonical JSON, keyed
with the *audit key* (kept apart from the data key: its own file `<database>.audit-key`, mode 0600, or
`storage.audit_key` from the environment). Without that key nobody can recompute the chain after editing
an entry. After every transaction that wrote audit entries, a *signed head* (entry count and last link,
signed with the Ed25519 key derived from the audit key) is written to `<database>.audit-head`; deleting
the last entries or rewriting the whole log no longer matches it. Exports carry the head and an Ed25519
signature over the whole bundle, so a platform or the police can check a bundle with only the public key
that `safety-bot audit-key` prints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .crypto import KeyProblem, write_private_file
from .domain import AuditEntry

log = logging.getLogger(__name__)
HEAD_FORMAT = "safety-bot-audit-head/1"


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode  # built once


def canonical(value) -> bytes:
    return _CANONICAL(value).encode()


_string = json.encoder.encode_basestring  # how that encoder writes a string (ensure_ascii=False)


_PLAIN = (str, bool, int, type(None))  # detail values whose MAC may be remembered (not float: 0.0 == -0.0)
PURGED = "purged_detail_mac"  # the only key of a detail that `purge` emptied: it keeps the detail's MAC


def entry_body(entry: AuditEntry, detail_mac: str | None = None) -> bytes:
    """What a link covers. The position (seq) is not in it: the chain itself fixes the order, so a moved
    entry is told apart from an edited one. `detail_mac` replaces the detail (keyed links), so that purging
    a case can empty its entries' details and still leave the chain checkable."""
    at, case_id = round(entry.at, 6), entry.case_id
    if (detail_mac is not None and type(at) is float and math.isfinite(at) and (case_id is None or type(case_id) is int)
            and type(entry.actor) is type(entry.action) is type(entry.community) is type(detail_mac) is str):
        # the usual entry, written out: exactly what canonical() gives for it (keys sorted, no spaces; JSON writes
        # a finite float and an int as their repr), without building the dict and the encoder's passes
        return ('{"action":' + _string(entry.action) + ',"actor":' + _string(entry.actor) + ',"at":' + float.__repr__(at)
                + ',"case_id":' + ("null" if case_id is None else int.__repr__(case_id)) + ',"community":'
                + _string(entry.community) + ',"detail_mac":' + _string(detail_mac) + "}").encode()
    body = {"at": at, "actor": entry.actor, "action": entry.action, "community": entry.community, "case_id": case_id}
    if detail_mac is None:
        body["detail"] = entry.detail
    else:
        body["detail_mac"] = detail_mac
    return canonical(body)


def unkeyed_link(prev: str, entry: AuditEntry) -> str:
    """The old (round 1) link: plain SHA-256, which anyone can recompute. Only used to name that attack."""
    return hashlib.sha256(prev.encode() + b"\n" + entry_body(entry)).hexdigest()


def parse_public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyProblem("the public key is not valid base64 (copy it exactly as 'safety-bot audit-key' prints it)") from None
    if len(raw) != 32:
        raise KeyProblem(f"the public key must decode to 32 bytes, this one has {len(raw)} "
                         "(copy it exactly as 'safety-bot audit-key' prints it)")
    return Ed25519PublicKey.from_public_bytes(raw)


def signature_ok(public: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), data)
        return True
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False


class AuditKeys:
    """The audit secret: a 32-byte seed. The HMAC key and the Ed25519 signing key are derived from it."""

    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise KeyProblem("the audit key must be 32 bytes (base64 of 32 random bytes)")
        self.seed = seed
        self._mac = hmac.new(seed, b"safety-bot audit chain v1", hashlib.sha256).digest()
        self._signing = Ed25519PrivateKey.from_private_bytes(
            hmac.new(seed, b"safety-bot audit signing v1", hashlib.sha256).digest())
        self.public = self._signing.public_key()
        self._detail_macs: dict[tuple, str] = {}  # see detail_mac

    def detail_mac(self, entry: AuditEntry) -> str:
        detail = entry.detail
        if len(detail) == 1 and PURGED in detail:
            return str(detail[PURGED])
        # Most details are a few plain values, the same for every entry of a kind (a report's: its source and
        # whether it came with a message): their MAC is remembered. The key holds each value's exact type, so
        # True, 1 and 1.0 (equal in Python, not in JSON) never share a MAC; anything else is computed each time.
        key = None
        if len(detail) <= 8:
            key = tuple((k, v.__class__, v) for k, v in detail.items())
            if not all(type(k) is str and t in _PLAIN for k, t, _v in key):
                key = None
            else:
                mac = self._detail_macs.get(key)
                if mac is not None:
                    return mac
        mac = hmac.digest(self._mac, b"detail\n" + canonical(detail), "sha256").hex()
        if key is not None:
            if len(self._detail_macs) >= 512:
                self._detail_macs.clear()
            self._detail_macs[key] = mac
        return mac

    def link(self, prev: str, entry: AuditEntry) -> str:
        body = entry_body(entry, self.detail_mac(entry))
        return hmac.digest(self._mac, prev.encode() + b"\n" + body, "sha256").hex()

    def purged_detail(self, entry: AuditEntry) -> dict:
        """The detail that replaces `entry.detail` when its case is purged: the link still holds."""
        return {PURGED: self.detail_mac(entry)}

    def check_value(self) -> str:
        """Stored in the database to tell a wrong audit key from a tampered log."""
        return hmac.new(self._mac, b"safety-bot audit key check", hashlib.sha256).hexdigest()

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self._signing.sign(data)).decode()

    def public_text(self) -> str:
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Head:
    count: int
    last: str
    signature: str

    @staticmethod
    def message(count: int, last: str) -> bytes:
        return f"{HEAD_FORMAT}\n{count}\n{last}".encode()

    def to_dict(self) -> dict:
        return {"format": HEAD_FORMAT, "count": self.count, "last": self.last, "signature": self.signature}

    @classmethod
    def from_dict(cls, d: dict) -> "Head":
        if not isinstance(d, dict) or d.get("format") != HEAD_FORMAT:
            raise ValueError("not a signed audit head")
        count, last, sig = d.get("count"), d.get("last"), d.get("signature")
        if not isinstance(count, int) or count < 0 or not isinstance(last, str) or not isinstance(sig, str):
            raise ValueError("the signed audit head is malformed")
        return cls(count, last, sig)

    def valid(self, public: Ed25519PublicKey) -> bool:
        return signature_ok(public, self.message(self.count, self.last), self.signature)


def _write_head(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write_private_file(tmp, text)
    os.replace(tmp, path)


class _HeadWriter:
    """Writes signed head files on one daemon thread, the newest text per file (older ones not yet written
    are skipped: only the newest matters)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._pending: dict[Path, str] = {}
        self._busy: set[Path] = set()
        self._thread: threading.Thread | None = None

    def submit(self, path: Path, text: str) -> None:
        with self._cond:
            self._pending[path] = text
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit-head", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, path: Path) -> None:
        with self._cond:
            while path in self._pending or path in self._busy:
                self._cond.wait()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                path = next(iter(self._pending))
                text = self._pending.pop(path)
                self._busy.add(path)
            try:
                _write_head(path, text)
            except OSError as exc:  # the next commit writes it again; verify names a missing or old head
                log.warning("the signed audit head %s could not be written (%s)", path, exc.__class__.__name__)
            finally:
                with self._cond:
                    self._busy.discard(path)
                    self._cond.notify_all()


_HEADS = _HeadWriter()


class AuditChain:
    """Links entries and keeps the signed head. `head_file` None keeps the head in memory (tests)."""

    def __init__(self, keys: AuditKeys, head_file: Path | None = None):
        self.keys = keys
        self.head_file = head_file
        self._head: Head | None = None

    def __deepcopy__(self, memo):  # the in-memory store snapshots itself for rollbacks; keys are shared
        copied = AuditChain(self.keys, self.head_file)
        copied._head = self._head
        return copied

    def link(self, prev: str, entry: AuditEntry) -> str:
        return self.keys.link(prev, entry)

    def signed_head(self, count: int, last: str) -> Head:
        return Head(count, last, self.keys.sign(Head.message(count, last)))

    def anchor(self, count: int, last: str) -> None:
        """Record the chain's head after a commit. The file is written atomically (temporary file, then
        rename) on a thread of its own (`_HEADS`), so a commit does not wait for the file system: the head
        guards against truncation; a report is durable through the database's commit, not through it. A head
        one commit behind (a crash just then) verifies with a note. `flush()` waits for the file."""
        head = self.signed_head(count, last)
        self._head = head
        if self.head_file is not None:
            _HEADS.submit(self.head_file, json.dumps(head.to_dict()) + "\n")

    def flush(self) -> None:
        """Wait until the newest head is in its file (the store's close does this)."""
        if self.head_file is not None:
            _HEADS.flush(self.head_file)

    def read_head(self) -> Head | None:
        """The recorded head; None when there is none. A damaged head file raises ValueError."""
        if self.head_file is None:
            return self._head
        self.flush()
        try:
            text = self.head_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return Head.from_dict(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"the signed head {self.head_file} is damaged ({exc})") from None

    def verify(self, entries: list[AuditEntry]) -> tuple[list[str], list[str]]:
        """Check the whole log. Returns (problems, notes); each problem names what was done and where."""
        problems: list[str] = []
        notes: list[str] = []
        try:
            head = self.read_head()
        except ValueError as exc:
            head, problems = None, [str(exc)]
        if head is not None and not head.valid(self.keys.public):
            problems.append("the signed head's signature is not valid: the head file was forged or edited")
            head = None
        elif head is None and entries and not problems:
            if self.head_file is None:  # PostgreSQL: no file beside the data; links are still checked
                notes.append("this storage keeps no signed head file: truncation of the newest entries is not checked")
            else:
                problems.append("the signed head is missing: the head file was deleted, so truncation cannot be "
                                "ruled out")
        problems += walk(entries, self.keys)
        if head is not None:
            if len(entries) < head.count:
                problems.append(f"truncated: the signed head records {head.count} entries, the log has "
                                f"{len(entries)} (entries {len(entries) + 1} to {head.count} were deleted)")
            elif head.count and entries[head.count - 1].hash != head.last:
                problems.append(f"rewritten: entry {head.count} does not match the signed head")
            elif len(entries) > head.count:
                notes.append(f"{len(entries) - head.count} entries after the signed head (written just before a "
                             "stop or crash); their links hold")
        return problems, notes


def walk(entries: list[AuditEntry], keys: AuditKeys) -> list[str]:
    """The first broken link in `entries` (in stored order), named: edited, recomputed without the key,
    deleted, reordered or renumbered."""
    known = {e.hash: e for e in entries}
    prev, prev_seq = "", 0
    for position, e in enumerate(entries, start=1):
        if keys.link(e.prev_hash, e) != e.hash:
            if e.hash == unkeyed_link(e.prev_hash, e):
                return [f"entry {e.seq} was edited and its link recomputed without the audit key"]
            return [f"entry {e.seq} was edited: its link does not match its content"]
        if e.prev_hash != prev:
            if e.prev_hash in known:
                return [f"reordered: entry {e.seq} is out of place (it followed entry {known[e.prev_hash].seq})"]
            return [f"deleted: the entry after entry {prev_seq} is missing (entry {e.seq} does not link to it)"]
        if e.seq != position:
            return [f"renumbered: entry {e.seq} sits at position {position}"]
        prev, prev_seq = e.hash, e.seq
    return []


# ---------------------------------------------------------------------------------------------- key files
def audit_key_file_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".audit-key")


def head_file_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".audit-head")


def load_or_create_audit_keys(db_path: Path, configured: str | None, *, existing_data: bool) -> AuditKeys:
    """The configured audit key, or the `.audit-key` file beside the database (created on first run).
    When the database already holds data and the file is missing, refuse: a new key would make the whole
    existing log look forged."""
    from .crypto import parse_key_text

    if configured:
        return AuditKeys(parse_key_text(configured, "storage.audit_key"))
    if str(db_path) == ":memory:":
        return AuditKeys(os.urandom(32))
    kf = audit_key_file_for(db_path)
    if kf.exists():
        return AuditKeys(parse_key_text(_read(kf), str(kf)))
    if existing_data:
        raise KeyProblem(
            f"the audit key file {kf} is missing but the database {db_path} already has data. Restore the file "
            "from your backup (or set storage.audit_key). Nothing was changed and no new key was created.")
    return AuditKeys(parse_key_text(write_private_file(kf, base64.b64encode(os.urandom(32)).decode() + "\n",
                                                       exclusive=True), str(kf)))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyProblem(f"{path}: cannot be read ({exc.__class__.__name__})") from None
