"""`safety-bot doctor`'s storage checks: a correct set-up passes; each item broken in turn fails with its fix."""

import base64
import os
import sqlite3
import subprocess
import sys

from safety_bot.config import load_config
from safety_bot.ops.doctor_storage import storage_checks
from tests.harness import ROOT, write_config


def doctor(cfg, env=None):
    return subprocess.run([sys.executable, "-m", "safety_bot.cli", "doctor", "--config", str(cfg)], cwd=ROOT,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
                          env={**os.environ, **(env or {})})


def make_database(tmp_path):
    cfg = write_config(tmp_path)
    res = subprocess.run([sys.executable, "-m", "safety_bot.cli", "run", "--config", str(cfg), "--script", os.devnull],
                         cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert res.returncode == 0, res.stderr
    for file in tmp_path.glob("db.sqlite3*"):
        file.chmod(0o600)
    return cfg


def failed(cfg, env=None, **kw):
    return {c.name: c.fix for c in storage_checks(load_config(cfg, env=env or {}), **kw).items if c.failed}


def test_fresh_install_and_correct_database_pass(tmp_path):
    cfg = write_config(tmp_path)
    res = doctor(cfg)
    assert res.returncode == 0 and "created on the first run" in res.stdout and "all good" in res.stdout
    assert not (tmp_path / "db.sqlite3").exists()  # the doctor creates nothing
    make_database(tmp_path)
    res = doctor(cfg)
    assert res.returncode == 0, res.stdout
    for item in ("opens", "migrations are current", "key decrypts", "private (0600)", "free disk"):
        assert item in res.stdout, item


def test_each_storage_item_broken_in_turn(tmp_path):
    cfg = make_database(tmp_path)
    db, key = tmp_path / "db.sqlite3", tmp_path / "db.sqlite3.key"
    assert failed(cfg) == {}
    # free disk below the minimum
    [(name, fix)] = failed(cfg, min_free=1 << 62).items()
    assert name.startswith("free disk space") and "free some space" in fix
    # world-readable files
    db.chmod(0o644)
    [(name, fix)] = failed(cfg).items()
    assert name == "the database and key files are private (0600)" and f"chmod 600 {db}" in fix
    db.chmod(0o600)
    # a migration missing (an older database)
    conn = sqlite3.connect(db)
    latest = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    conn.execute("DELETE FROM schema_version WHERE version = ?", (latest,))
    conn.commit()
    conn.close()
    [(name, fix)] = failed(cfg).items()
    assert name == f"migrations are current (version {latest - 1} of {latest})" and "safety-bot run" in fix
    res = doctor(cfg)
    assert res.returncode == 1 and "[FAIL] migrations are current" in res.stdout and "1 failed" in res.stdout
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_version VALUES (?, 'x', 0)", (latest,))
    conn.execute("INSERT INTO schema_version VALUES (?, 'from the future', 0)", (latest + 1,))
    conn.commit()
    conn.close()
    assert "upgrade safety-bot" in " ".join(failed(cfg).values())
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM schema_version WHERE version > ?", (latest,))
    conn.commit()
    conn.close()
    assert failed(cfg) == {}
    # the wrong key, then no key at all
    good = key.read_text()
    key.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    [(name, fix)] = failed(cfg).items()
    assert name == "the encryption key decrypts the database" and "not the key" in fix
    key.unlink()
    [(name, fix)] = failed(cfg).items()
    assert name == "the encryption key is present" and str(key) in fix
    key.write_text(good)
    key.chmod(0o600)
    # a damaged database
    db.write_bytes(b"this is not a database" * 100)
    failures = failed(cfg)
    assert list(failures) == [f"the database {db} opens"] and "safety-bot restore" in failures[f"the database {db} opens"]
