"""Storage checks: the database opens, migrations are current, the key decrypts, files are private
(0600), and there is free disk. Read-only: the doctor never creates or migrates anything."""

from __future__ import annotations

import shutil
import sqlite3
import stat
from pathlib import Path

from ..crypto import key_file_for, parse_key
from ..store.migrations import MIGRATIONS
from .backup import key_check
from .checks import Checklist

MIN_FREE_BYTES = 500 * 1024 * 1024


def storage_checks(config, min_free: int = MIN_FREE_BYTES) -> Checklist:
    c = Checklist("storage")
    if getattr(config.storage, "backend", "sqlite") != "sqlite":
        c.warn("storage checks", "the database is PostgreSQL: these checks cover SQLite only; check the server with "
                                 "its own tools (psql, pg_isready); 'safety-bot run' refuses a wrong key at start")
        return c
    db = config.path(config.storage.database)
    latest = max(v for v, _, _ in MIGRATIONS)
    folder = db.parent if db.parent.exists() else _existing_parent(db)
    free = shutil.disk_usage(folder).free
    c.check(free >= min_free, f"free disk space where the database lives ({free // (1024 * 1024)} MB)",
            f"free some space on the disk that holds {folder} (at least {min_free // (1024 * 1024)} MB): a full disk "
            "stops new reports from being saved")
    if not db.exists():
        c.ok(f"no database yet at {db}: it is created on the first run")
        if not config.storage.key and not key_file_for(db).exists():
            c.ok(f"no key yet: one is created beside the database on the first run ({key_file_for(db)}); back it up")
        return c
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            version = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        c.fail(f"the database {db} opens", f"it could not be read ({exc}); restore it from a backup: "
                                            "safety-bot restore --replace FILE")
        return c
    c.ok(f"the database {db} opens")
    if version > latest:
        c.fail(f"the database schema (version {version}) is one this safety-bot knows",
               "it was written by a newer safety-bot: upgrade safety-bot instead of downgrading the data")
    else:
        c.check(version == latest, f"migrations are current (version {version} of {latest})",
                "start the bot once (safety-bot run): it applies the missing migrations itself")
    key = None
    try:
        if config.storage.key:
            key = parse_key(config.storage.key)
        elif key_file_for(db).exists():
            key = parse_key(key_file_for(db).read_text())
    except ValueError as exc:
        c.fail("the encryption key can be read", f"{exc}; put the right key back (from where you keep its copy)")
    else:
        if key is None:
            c.fail("the encryption key is present", f"the key file {key_file_for(db)} is missing; put the copy you "
                                                    "kept back there (mode 0600), or set storage.key")
        else:
            c.check(key_check(db, key), "the encryption key decrypts the database",
                    "this is not the key the database was made with: set storage.key (or the key file beside "
                    "the database) to the right key; nothing was changed")
    files = [db, *(p for p in (db.with_name(db.name + s) for s in ("-wal", "-shm")) if p.exists())]
    if not config.storage.key and key_file_for(db).exists():
        files.append(key_file_for(db))
    loose = [p for p in files if stat.S_IMODE(p.stat().st_mode) & 0o077]
    c.check(not loose, "the database and key files are private (0600)",
            "only the bot's user may read them: chmod 600 " + " ".join(str(p) for p in loose))
    return c


def _existing_parent(path: Path) -> Path:
    for p in path.parents:
        if p.exists():
            return p
    return Path(".")
