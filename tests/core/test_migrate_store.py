"""`safety-bot migrate-store`: a community's SQLite data moves to PostgreSQL, verified, or nothing moves."""

import sqlite3
import subprocess
import sys

import asyncpg

from safety_bot.store.base import verify_chain
from safety_bot.store.postgres import PostgresStore
from safety_bot.store.sqlite import SqliteStore
from tests.harness import make_harness

CLI = [sys.executable, "-m", "safety_bot.cli", "migrate-store"]
THREAT = "bob says he will post my pictures unless I pay 200"


async def community_on_sqlite(tmp_path):
    """A console community with real history: two reports, evidence, notes, a ban, an audit trail."""
    h = await make_harness(tmp_path, sqlite=True)
    try:
        await h.run("say general hi all", "as bob", "say general pay me 200 or I post your pictures", "as alice")
        await h.run("report-message m2 " + THREAT, "no")
        await h.run("as carol", "report bob threatened me too")
        await h.run("as mia", "note 1 called alice back", "ban @bob --case 1 --confirm threatening a member")
    finally:
        await h.app.__aexit__(None, None, None)
    return tmp_path / "db.sqlite3"


def migrate(*args, config=None):
    cmd = CLI + list(args) + (["--config", str(config)] if config else [])
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)


async def test_migration_copies_everything_verified_and_the_bot_reads_it(tmp_path, postgres_dsn):
    db = await community_on_sqlite(tmp_path)
    key = (tmp_path / "db.sqlite3.key").read_text().strip()
    source = await SqliteStore.open(db)
    cases, audit = await source.list_cases(), await source.audit_entries()
    reports = {c.id: [(r.text, r.reporter) for r in await source.reports_for(c.id)] for c in cases}
    notes = {c.id: [n.text for n in await source.notes_for(c.id)] for c in cases}
    times = await source.report_times_since("console:alice", 0)
    await source.close()
    assert len(cases) == 2 and len(audit) > 3

    done = migrate(f"--from=sqlite:{db}", f"--to=postgres:{postgres_dsn}")
    assert done.returncode == 0, done.stderr
    assert "verified: every table's row count matches; the audit chain holds" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("done.")
    assert "  cases: 2" in done.stdout and f"  audit: {len(audit)}" in done.stdout

    target = await PostgresStore.open(postgres_dsn, key=key)
    try:
        assert [(c.id, c.number, c.reporter, c.accused, c.answers) for c in await target.list_cases()] == \
               [(c.id, c.number, c.reporter, c.accused, c.answers) for c in cases]
        assert {c.id: [(r.text, r.reporter) for r in await target.reports_for(c.id)] for c in cases} == reports
        assert {c.id: [n.text for n in await target.notes_for(c.id)] for c in cases} == notes
        assert await target.report_times_since("console:alice", 0) == times  # keyed reporter tags still match
        copied = await target.audit_entries()
        assert [e.hash for e in copied] == [e.hash for e in audit] and verify_chain(copied, target.audit_chain.keys) is None
        assert await target.active_ban("friends", "console:bob") is not None
        # new rows continue after the copied ids, and the chain goes on from the copied head
        new = await target.create_case(cases[0].__class__(**{**cases[0].__dict__, "id": None}))
        assert new.id > max(c.id for c in cases) and new.number == 3
        from safety_bot.domain import AuditEntry
        await target.append_audit(AuditEntry(at=1.0, actor="t", action="after"))
        assert verify_chain(await target.audit_entries(), target.audit_chain.keys) is None
    finally:
        await target.close()

    again = migrate(f"--from=sqlite:{db}", f"--to=postgres:{postgres_dsn}")
    assert again.returncode == 1 and "already holds data" in again.stderr and "nothing was migrated" in again.stderr


async def test_a_broken_chain_or_wrong_key_or_bad_arguments_migrate_nothing(tmp_path, postgres_dsn):
    db = await community_on_sqlite(tmp_path)
    bad = migrate(f"--from={db}", f"--to=postgres:{postgres_dsn}")
    assert bad.returncode == 2 and "--from sqlite:PATH --to postgres:DSN" in bad.stderr
    missing = migrate(f"--from=sqlite:{tmp_path}/nope.sqlite3", f"--to=postgres:{postgres_dsn}")
    assert missing.returncode == 1 and "does not exist" in missing.stderr

    wrong = tmp_path / "wrong.yaml"
    from safety_bot.crypto import new_key_text
    wrong.write_text("storage:\n  key: ${K}\n")
    env_run = subprocess.run(CLI + [f"--from=sqlite:{db}", f"--to=postgres:{postgres_dsn}", "--config", str(wrong)],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
                             env={**__import__("os").environ, "K": new_key_text()})
    assert env_run.returncode == 1 and "different key" in env_run.stderr

    con = sqlite3.connect(db)
    con.execute("UPDATE audit SET actor='someone else' WHERE seq=2")
    con.commit()
    con.close()
    tampered = migrate(f"--from=sqlite:{db}", f"--to=postgres:{postgres_dsn}")
    assert tampered.returncode == 1 and "audit chain is already broken at entry 2" in tampered.stderr
    conn = await asyncpg.connect(postgres_dsn)
    try:
        for table in ("cases", "reports", "audit", "bans"):
            assert await conn.fetchval(f"SELECT COUNT(*) FROM {table}") == 0
    finally:
        await conn.close()
