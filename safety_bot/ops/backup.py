"""`safety-bot backup --out DIR` and `safety-bot restore FILE`.

Backups use SQLite's online backup API, so they are consistent while the bot runs. The encryption key is
never written into a backup: the operator is told where it is, because a backup without its key cannot
be read. Restore refuses to overwrite a database unless asked to, and then keeps the old one beside it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from ..audit_chain import AuditChain, audit_key_file_for, head_file_for, load_or_create_audit_keys
from ..crypto import Cipher, KeyProblem, WrongKey, key_file_for, parse_key, write_private_file


class BackupError(Exception):
    """Said to the operator as is; nothing was changed."""


def _copy(src: Path, dst: Path) -> None:
    """SQLite online backup of src into a new file dst (mode 0600)."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    finally:
        source.close()


def check_database(file: Path) -> int:
    """The file is an intact safety-bot database; returns its schema version."""
    try:
        db = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        try:
            ok = db.execute("PRAGMA integrity_check").fetchone()[0]
            version = db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        raise BackupError(f"{file} is not a safety-bot database") from None
    if ok != "ok" or version is None:
        raise BackupError(f"{file} is damaged (SQLite integrity check: {ok})")
    return int(version)


def key_check(file: Path, key: bytes) -> bool:
    db = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM kv WHERE key='key_check'").fetchone()
    finally:
        db.close()
    if row is None:
        return True
    try:
        return Cipher(key).decrypt(row[0]) == "safety-bot"
    except WrongKey:
        return False


def where_is_the_key(config, db: Path) -> str:
    if config.storage.key:
        return "it is the value of the environment variable storage.key names in your config file"
    return f"it is in {key_file_for(db)}"


def where_is_the_audit_key(config, db: Path) -> str:
    if getattr(config.storage, "audit_key", None):
        return "it is the value of the environment variable storage.audit_key names in your config file"
    return f"it is in {audit_key_file_for(db)}"


def _audit_keys(config, db: Path):
    """The audit key for database `db` (configured, or the file beside it); never creates one."""
    try:
        return load_or_create_audit_keys(db, getattr(config.storage, "audit_key", None), existing_data=True)
    except KeyProblem:
        raise BackupError(f"no audit key to check this backup's audit log with: put the audit key file at "
                          f"{audit_key_file_for(db)} (mode 0600) or set storage.audit_key, then run the command "
                          "again") from None


def _last_audit_link(file: Path) -> tuple[int, str]:
    db = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        db.close()
    return (row[0], row[1]) if row else (0, "")


def backup_head_file(backup_file: Path) -> Path:
    """The signed audit head written beside a backup: the audit log as it was in that backup."""
    return head_file_for(backup_file)


def backup(config, out: Path, now: float | None = None) -> tuple[Path, str]:
    """Write a backup into folder `out`; returns its path and the reminder about the key."""
    _sqlite_only(config)
    db = config.path(config.storage.database)
    if not db.exists():
        raise BackupError(f"there is no database at {db} yet; nothing to back up")
    check_database(db)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now or time.time()))
    target = out / f"{db.stem}-{stamp}.sqlite3"
    n = 1
    while target.exists():
        n += 1
        target = out / f"{db.stem}-{stamp}-{n}.sqlite3"
    keys = _audit_keys(config, db)
    _copy(db, target)
    check_database(target)
    # the live head may already count entries written after the copy: sign the backup's own head
    head = AuditChain(keys).signed_head(*_last_audit_link(target))
    write_private_file(backup_head_file(target), json.dumps(head.to_dict()) + "\n")
    reminder = ("The encryption key is NOT in this backup, and the backup cannot be read without it: "
                f"{where_is_the_key(config, db)}. The audit key is not in it either: "
                f"{where_is_the_audit_key(config, db)}. Keep a copy of both keys somewhere else than the backup.")
    return target, reminder


def restore(config, file: Path, *, replace: bool = False, now: float | None = None) -> tuple[Path, Path | None]:
    """Put backup `file` in place as the configured database. Returns (database, where the old one went)."""
    _sqlite_only(config)
    if not file.is_file():
        raise BackupError(f"there is no backup file at {file}")
    check_database(file)
    db = config.path(config.storage.database)
    key = parse_key(config.storage.key) if config.storage.key else None
    if key is None and key_file_for(db).exists():
        key = parse_key(key_file_for(db).read_text())
    if key is None:
        raise BackupError(f"no key to read this backup with: put the key file at {key_file_for(db)} "
                          "(mode 0600) or set storage.key, then run restore again")
    if not key_check(file, key):
        raise BackupError("this backup was made with a different encryption key than the one configured here; "
                          "nothing was restored")
    _audit_keys(config, db)  # the audit log cannot be checked or continued without its key
    moved = None
    if db.exists():
        if not replace:
            raise BackupError(f"a database already exists at {db}; stop the bot and run restore with --replace "
                              "(the current database is kept beside it)")
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now or time.time()))
        moved = db.with_name(f"{db.name}.before-restore-{stamp}")
        os.replace(db, moved)
        for suffix in ("-wal", "-shm", ".audit-head"):  # the old head belongs to the old log
            side = db.with_name(db.name + suffix)
            if side.exists():
                os.replace(side, moved.with_name(moved.name + suffix))
    db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _copy(file, db)
    head = backup_head_file(file)
    if head.exists():  # the backup's signed head, so truncation of the restored log is still detected
        tmp = head_file_for(db).with_name(head_file_for(db).name + ".tmp")
        write_private_file(tmp, head.read_text(encoding="utf-8"))
        os.replace(tmp, head_file_for(db))
    return db, moved


def _sqlite_only(config) -> None:
    if getattr(config.storage, "backend", "sqlite") != "sqlite":
        raise BackupError("the database is PostgreSQL: back it up with pg_dump and restore it with pg_restore. "
                          "The encryption key is not in the database: keep a copy of storage.key's value apart "
                          "from the dumps")
