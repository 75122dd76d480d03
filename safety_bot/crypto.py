"""Encryption at rest for the most sensitive fields (statements, notes, evidence text, answers).

AES-256-GCM from `cryptography`. The key comes from the environment (config `storage.key`, base64 of
32 bytes) or, for the embedded default, from a key file created beside the database with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import logging
import os
import struct
from binascii import a2b_base64, b2a_base64
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)
PREFIX = "enc1:"
_AFTER_PREFIX = len(PREFIX)


class KeyProblem(Exception):
    """Key material is unusable (not base64, wrong length, missing over existing data). The message says
    what is wrong and how to fix it; nothing was changed."""


class WrongKey(KeyProblem):
    pass


_forks = 0  # how many forks this process is from its start: a forked child draws fresh nonce fields


def _after_fork_in_child() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_after_fork_in_child)
_NONCE = struct.Struct(">8sI").pack  # the random 64-bit field, then the 32-bit counter


class Cipher:
    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the storage key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(key)
        self._new_nonce_field()

    # 96-bit GCM nonces that never repeat under one key: a random 64-bit field drawn from os.urandom, then a
    # 32-bit counter (NIST SP 800-38D 8.2.1: a fixed field and an invocation field). A fresh random field is
    # drawn after 2**32 nonces and in a forked child (which must not continue its parent's count). A repeat
    # needs two draws of the same 64-bit field (other processes or runs under the same key): about
    # draws**2 / 2**65, far below the 2**-32 that SP 800-38D 8.3 allows, and below the birthday bound of a
    # fresh random 96-bit nonce for each of as many encryptions. One os.urandom call per 2**32 nonces instead
    # of one per encrypted field (a new report encrypts six or seven).
    def _new_nonce_field(self) -> None:
        # field and counter in one tuple: whoever reads the state uses that field with that field's counter
        self._nonce_state = (os.urandom(8), itertools.count(), _forks)

    def encrypt(self, text: str | None) -> str | None:
        if text is None:
            return None
        field, counter, forks = self._nonce_state
        n = next(counter)  # atomic in CPython: no two callers get the same n from one counter
        while n >= 1 << 32 or forks != _forks:
            self._new_nonce_field()
            field, counter, forks = self._nonce_state
            n = next(counter)
        nonce = _NONCE(field, n)
        # binascii.b2a_base64(newline=False) is what base64.b64encode calls
        return PREFIX + b2a_base64(nonce + self._aead.encrypt(nonce, text.encode(), None), newline=False).decode()

    def decrypt(self, value: str | None) -> str | None:
        if value is None or not value.startswith(PREFIX):
            return value
        try:
            raw = a2b_base64(value[_AFTER_PREFIX:])  # what base64.b64decode calls (not strict either)
            return self._aead.decrypt(raw[:12], raw[12:], None).decode()
        except Exception as exc:  # InvalidTag, or a damaged value
            raise WrongKey("this database was encrypted with a different key") from exc


def parse_key_text(text: str, source: str = "the storage key") -> bytes:
    """Base64 of 32 bytes, or a KeyProblem naming `source` and what is wrong with it."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyProblem(f"{source}: the key is not valid base64 (make one with: safety-bot new-key)") from None
    if len(key) != 32:
        raise KeyProblem(f"{source}: the key must decode to 32 bytes, this one has {len(key)} "
                         "(make one with: safety-bot new-key)")
    return key


def parse_key(text: str) -> bytes:
    return parse_key_text(text, "storage.key")


def new_key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def key_file_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".key")


def write_private_file(path: Path, text: str, *, exclusive: bool = False) -> str:
    """Write `text` to a new file readable by this user only (0600; its folder 0700 when we create it)."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)
    return text


def load_or_create_key(db_path: Path, configured: str | None) -> bytes:
    """The configured key, or the key file beside the database (created 0600 on first run only: when the
    database already exists and its key file is missing, refuse instead of making a replacement)."""
    if configured:
        return parse_key(configured)
    if str(db_path) == ":memory:":
        return os.urandom(32)
    kf = key_file_for(db_path)
    if kf.exists():
        try:
            text = kf.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyProblem(f"{kf}: cannot be read ({exc.__class__.__name__})") from None
        return parse_key_text(text, str(kf))
    if db_path.exists() and db_path.stat().st_size > 0:
        raise KeyProblem(
            f"the key file {kf} is missing but the database {db_path} already has data. Restore the key file "
            "from your backup (or set storage.key to the key). Nothing was changed and no new key was created: "
            "a new key could not read the existing data.")
    write_private_file(kf, new_key_text() + "\n", exclusive=True)
    log.warning("Created a new encryption key at %s. Back it up: without it the case data cannot be read.", kf)
    return parse_key_text(kf.read_text(), str(kf))
