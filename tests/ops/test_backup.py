"""`safety-bot backup` and `restore`: real subprocesses, real SQLite files, a bot holding the database open."""

import base64
import os
import sqlite3
import subprocess
import sys

from safety_bot.config import load_config
from tests.harness import ROOT, make_harness, write_config

CLI = [sys.executable, "-m", "safety_bot.cli"]


def run(*args, env=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})}, timeout=120)


def listing(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_backup_while_running_then_restore_into_a_fresh_folder(tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    h = await make_harness(live, sqlite=True)  # the bot is running: the database is open, in WAL mode
    try:
        await h.run("as alice", "report he wants money or he posts my photos", "stop", "as mia", "assign 1",
                    "note 1 spoke with them")
        cfg = live / "config.yaml"
        res = run("backup", "--config", str(cfg), "--out", str(tmp_path / "backups"))
        assert res.returncode == 0, res.stderr
        # after the backup, more happens: the restored copy must not have it
        await h.run("as alice", "report a second one", "stop")
    finally:
        await h.app.__aexit__(None, None, None)
    [backup] = list((tmp_path / "backups").glob("*.sqlite3"))
    assert f"backup written to {backup}" in res.stdout
    assert "key is NOT in this backup" in res.stdout and str(live / "db.sqlite3.key") in res.stdout
    assert "audit key is not in it either" in res.stdout and str(live / "db.sqlite3.audit-key") in res.stdout
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    head = backup.with_name(backup.name + ".audit-head")  # the signed head of the backup's own audit log
    assert oct(head.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == sorted([backup.name, head.name])
    assert b"he wants money" not in backup.read_bytes()  # the case data stays encrypted in the backup

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    cfg2 = write_config(fresh)
    res = run("restore", "--config", str(cfg2), str(backup))
    assert res.returncode == 1 and "no key to read this backup" in res.stderr and listing(fresh) == ["config.yaml"]
    key = (live / "db.sqlite3.key").read_text().strip()
    # the key given the way operators give it: from the environment
    cfg2 = write_config(fresh, {"storage": {"database": str(fresh / "db.sqlite3"), "key": "${SAFETY_BOT_KEY}"}})
    res = run("restore", "--config", str(cfg2), str(backup), env={"SAFETY_BOT_KEY": key})
    assert res.returncode == 1 and "no audit key" in res.stderr and listing(fresh) == ["config.yaml"]
    audit_key = (live / "db.sqlite3.audit-key").read_text().strip()
    cfg2 = write_config(fresh, {"storage": {"database": str(fresh / "db.sqlite3"), "key": "${SAFETY_BOT_KEY}",
                                            "audit_key": "${SAFETY_BOT_AUDIT_KEY}"}})
    env = {"SAFETY_BOT_KEY": key, "SAFETY_BOT_AUDIT_KEY": audit_key}
    res = run("restore", "--config", str(cfg2), str(backup), env=env)
    assert res.returncode == 0, res.stderr
    assert (fresh / "db.sqlite3").exists() and oct((fresh / "db.sqlite3").stat().st_mode & 0o777) == "0o600"
    assert (fresh / "db.sqlite3.audit-head").read_text() == head.read_text()
    res = run("verify-audit", "--config", str(cfg2), env=env)
    assert res.returncode == 0 and "audit log OK" in res.stdout and "matches the signed head" in res.stdout, res.stdout + res.stderr
    config = load_config(cfg2, env=env)
    from safety_bot.store import open_store

    store = await open_store(config)
    try:
        cases = await store.list_cases("cafe")
        assert [c.number for c in cases] == [1]  # the state at backup time
        assert [n.text for n in await store.notes_for(cases[0].id) if n.kind == "note"] == ["spoke with them"]
    finally:
        await store.close()


def test_backup_and_restore_refuse_bad_input_and_change_nothing(tmp_path):
    cfg = write_config(tmp_path)
    res = run("backup", "--config", str(cfg), "--out", str(tmp_path / "b"))
    assert res.returncode == 1 and "no database" in res.stderr and not (tmp_path / "b").exists()
    res = run("run", "--config", str(cfg), "--script", os.devnull)  # creates the database and its key file
    assert res.returncode == 0, res.stderr
    db = tmp_path / "db.sqlite3"
    before = db.read_bytes()

    not_db = tmp_path / "notes.txt"
    not_db.write_text("hello")
    res = run("restore", "--config", str(cfg), str(not_db))
    assert res.returncode == 1 and "is not a safety-bot database" in res.stderr
    res = run("restore", "--config", str(cfg), str(tmp_path / "missing.sqlite3"))
    assert res.returncode == 1 and "there is no backup file" in res.stderr

    res = run("backup", "--config", str(cfg), "--out", str(tmp_path / "b"))
    assert res.returncode == 0, res.stderr
    [backup] = list((tmp_path / "b").glob("*.sqlite3"))
    res = run("restore", "--config", str(cfg), str(backup))  # the database is there: not without --replace
    assert res.returncode == 1 and "--replace" in res.stderr and db.read_bytes() == before

    other = tmp_path / "other"
    other.mkdir()
    other_key = base64.b64encode(os.urandom(32)).decode()
    cfg_other = write_config(other, {"storage": {"database": str(other / "db.sqlite3"), "key": "${K}"}})
    res = run("restore", "--config", str(cfg_other), str(backup), env={"K": other_key})
    assert res.returncode == 1 and "different encryption key" in res.stderr and listing(other) == ["config.yaml"]

    res = run("restore", "--config", str(cfg), "--replace", str(backup))
    assert res.returncode == 0, res.stderr
    kept = [p for p in tmp_path.iterdir() if ".before-restore-" in p.name and not p.name.endswith(("-wal", "-shm", ".audit-head"))]
    assert len(kept) == 1 and kept[0].read_bytes() == before and "kept at" in res.stdout
    assert sqlite3.connect(db).execute("SELECT MAX(version) FROM schema_version").fetchone()[0] >= 1
    assert run("verify-audit", "--config", str(cfg)).returncode == 0


def test_postgres_storage_is_not_backed_up_by_this_command(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    cfg = write_config(tmp_path, {"storage": {"backend": "postgres", "dsn": "${DSN}", "key": "${K}"}})
    env = {"DSN": "postgresql://nobody@127.0.0.1:1/none", "K": key}
    res = run("backup", "--config", str(cfg), "--out", str(tmp_path / "b"), env=env)
    assert res.returncode == 1 and "pg_dump" in res.stderr and not (tmp_path / "b").exists()
    res = run("restore", "--config", str(cfg), str(cfg), env=env)
    assert res.returncode == 1 and "pg_restore" in res.stderr
    res = run("doctor", "--config", str(cfg), env=env)
    assert res.returncode == 0 and "[warn] storage checks" in res.stdout and "PostgreSQL" in res.stdout
