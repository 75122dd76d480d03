"""Encryption at rest for the most sensitive fields (statements, notes, evidence text, answers).

AES-256-GCM from `cryptography`. The key comes from the environment (config `storage.key`, base64 of
32 bytes) or, for the embedded default, from a key file created beside the database with mode 0600.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)
PREFIX = "enc1:"


class WrongKey(Exception):
    pass


class Cipher:
    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the storage key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(key)

    def encrypt(self, text: str | None) -> str | None:
        if text is None:
            return None
        nonce = os.urandom(12)
        return PREFIX + base64.b64encode(nonce + self._aead.encrypt(nonce, text.encode(), None)).decode()

    def decrypt(self, value: str | None) -> str | None:
        if value is None or not value.startswith(PREFIX):
            return value
        raw = base64.b64decode(value[len(PREFIX):])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], None).decode()
        except Exception as exc:  # InvalidTag
            raise WrongKey("this database was encrypted with a different key") from exc


def parse_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except Exception:
        raise ValueError("the storage key is not valid base64") from None
    if len(key) != 32:
        raise ValueError("the storage key must decode to 32 bytes (make one with: safety-bot new-key)")
    return key


def new_key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def key_file_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".key")


def load_or_create_key(db_path: Path, configured: str | None) -> bytes:
    """The configured key, or the key file beside the database (created 0600 on first run)."""
    if configured:
        return parse_key(configured)
    if str(db_path) == ":memory:":
        return os.urandom(32)
    kf = key_file_for(db_path)
    if kf.exists():
        return parse_key(kf.read_text())
    kf.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(kf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(new_key_text() + "\n")
    log.warning("Created a new encryption key at %s. Back it up: without it the case data cannot be read.", kf)
    return parse_key(kf.read_text())
