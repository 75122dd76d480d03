"""The keyed, anchored audit chain: every way to tamper with the log or an export is detected and named.

Tampering is done the way an attacker with the database file (but not the audit key) would: plain SQL on
the SQLite file, then the log is read back through a freshly opened store, as `verify-audit` does."""

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from safety_bot.audit_chain import AuditKeys, unkeyed_link
from safety_bot.domain import AuditEntry
from safety_bot.export import verify_bundle
from safety_bot.store.sqlite import SqliteStore
from tests.harness import ROOT, write_config

CLI = [sys.executable, "-m", "safety_bot.cli"]


def cli(*args, cwd=ROOT):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
async def db(tmp_path):
    path = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(path)
    for i in range(6):
        await store.append_audit(AuditEntry(at=1000.0 + i, actor=f"mod{i}", action=f"case.step{i}",
                                            community="cafe", case_id=1, detail={"n": i}))
    await store.close()
    return path


async def problems(path):
    store = await SqliteStore.open(path)
    try:
        return store.audit_chain.verify(await store.audit_entries())
    finally:
        await store.close()


def sql(path, *statements):
    con = sqlite3.connect(path)
    for statement in statements:
        con.execute(*statement) if isinstance(statement, tuple) else con.execute(statement)
    con.commit()
    con.close()


async def test_an_intact_log_verifies(db):
    assert await problems(db) == ([], [])


async def test_edit_is_named(db):
    sql(db, "UPDATE audit SET actor='someone-else' WHERE seq=3")
    assert (await problems(db))[0] == ["entry 3 was edited: its link does not match its content"]


async def test_edit_with_links_recomputed_without_the_key_is_named(db):
    con = sqlite3.connect(db)
    rows = con.execute("SELECT seq, at, actor, action, community, case_id FROM audit ORDER BY seq").fetchall()
    prev = ""
    for seq, at, actor, action, community, case_id in rows:  # the round-1 function, run by the attacker
        entry = AuditEntry(at=at, actor="forger" if seq == 2 else actor, action=action, community=community,
                           case_id=case_id, detail={"n": seq - 1})
        link = unkeyed_link(prev, entry)
        con.execute("UPDATE audit SET actor=?, detail=?, prev_hash=?, hash=? WHERE seq=?",
                    (entry.actor, json.dumps(entry.detail), prev, link, seq))
        prev = link
    con.commit()
    con.close()
    found = (await problems(db))[0]
    assert found == ["entry 1 was edited and its link recomputed without the audit key",
                     "rewritten: entry 6 does not match the signed head"]


async def test_delete_in_the_middle_is_named(db):
    sql(db, "DELETE FROM audit WHERE seq=4")
    assert (await problems(db))[0] == [
        "deleted: the entry after entry 3 is missing (entry 5 does not link to it)",
        "truncated: the signed head records 6 entries, the log has 5 (entries 6 to 6 were deleted)"]


async def test_truncation_is_named(db):
    sql(db, "DELETE FROM audit WHERE seq>=5")
    assert (await problems(db))[0] == [
        "truncated: the signed head records 6 entries, the log has 4 (entries 5 to 6 were deleted)"]


async def test_reorder_is_named(db):
    sql(db, "UPDATE audit SET seq=100 WHERE seq=3", "UPDATE audit SET seq=3 WHERE seq=4",
        "UPDATE audit SET seq=4 WHERE seq=100")
    assert (await problems(db))[0] == ["reordered: entry 3 is out of place (it followed entry 4)"]


async def test_deleting_or_forging_the_head_is_named(db):
    head = db.with_name(db.name + ".audit-head")
    saved = json.loads(head.read_text())
    forged = {**saved, "count": 4}
    head.write_text(json.dumps(forged))
    assert (await problems(db))[0][0].startswith("the signed head's signature is not valid")
    head.unlink()
    assert (await problems(db))[0][0].startswith("the signed head is missing")


async def test_a_whole_new_log_with_another_key_is_named(db, tmp_path):
    """Rewriting every row (and the head) with a key of one's own does not verify with the real key."""
    other = await SqliteStore.open(tmp_path / "other.sqlite3")
    for i in range(2):
        await other.append_audit(AuditEntry(at=1.0, actor="forger", action="case.view"))
    forged = [(e.seq, e.at, e.actor, e.action, e.community, e.case_id, json.dumps(e.detail), e.prev_hash, e.hash)
              for e in await other.audit_entries()]
    await other.close()
    sql(db, "DELETE FROM audit", *[("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row) for row in forged])
    found = (await problems(db))[0]
    assert found[0] == "entry 1 was edited: its link does not match its content"
    assert "truncated: the signed head records 6 entries, the log has 2 (entries 3 to 6 were deleted)" in found


async def test_a_missing_audit_key_over_existing_data_is_refused(db):
    key = db.with_name(db.name + ".audit-key")
    saved = key.read_text()
    key.unlink()
    with pytest.raises(Exception, match="audit key file .* is missing .* Restore the file"):
        await SqliteStore.open(db)
    assert not key.exists()  # no replacement was made
    key.write_text(saved)
    assert await problems(db) == ([], [])


async def test_details_are_encrypted_at_rest_and_rotation_keeps_the_chain(db):
    raw = sqlite3.connect(db).execute("SELECT detail FROM audit").fetchall()
    assert all(r[0].startswith("enc1:") for r in raw)
    store = await SqliteStore.open(db)
    await store.rotate_key(os.urandom(32))
    entries = await store.audit_entries()
    assert [e.detail for e in entries] == [{"n": i} for i in range(6)]
    assert store.audit_chain.verify(entries) == ([], [])
    await store.close()
    assert sqlite3.connect(db).execute("SELECT detail FROM audit").fetchall() != raw  # re-encrypted


async def test_an_old_unkeyed_log_is_relinked_once(tmp_path):
    """A database from before the keyed chain: its SHA-256 links are checked, then replaced by keyed ones."""
    path = tmp_path / "old.sqlite3"
    store = await SqliteStore.open(path)
    await store.close()
    prev, rows = "", []
    for i in range(3):
        e = AuditEntry(at=float(i), actor="a", action=f"x{i}", detail={"i": i})
        link = unkeyed_link(prev, e)
        rows.append(("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (i + 1, e.at, e.actor, e.action, "", None, json.dumps(e.detail), prev, link)))
        prev = link
    sql(path, *rows, "DELETE FROM kv WHERE key='audit_chain'")
    assert await problems(path) == ([], [])
    store = await SqliteStore.open(path)
    assert [e.action for e in await store.audit_entries()] == ["x0", "x1", "x2"]
    await store.close()


def test_export_verifies_with_only_the_public_key_and_forgeries_are_named(tmp_path):
    cfg = write_config(tmp_path)
    script = tmp_path / "s.txt"
    script.write_text("report he threatens to post my photos\nstop\nas mia\nban @bob --case 1\n"
                      "ban @bob --case 1 --confirm threatened her\nclose 1 actioned\n")
    assert cli("run", "--config", str(cfg), "--script", str(script)).returncode == 0
    res = cli("export", "1", "--community", "cafe", "--config", str(cfg), "--out", "-")
    assert res.returncode == 0, res.stderr
    bundle = json.loads(res.stdout)
    public = cli("audit-key", "--config", str(cfg)).stdout.strip()
    assert len(base64.b64decode(public)) == 32
    elsewhere = tmp_path / "police"  # no config, no database, no secret: only the bundle and the public key
    elsewhere.mkdir()
    (elsewhere / "bundle.json").write_text(json.dumps(bundle))
    ok = cli("verify-audit", "--export", "bundle.json", "--public-key", public, cwd=elsewhere)
    assert ok.returncode == 0 and "signature valid" in ok.stdout, ok.stderr
    assert bundle["audit_head"]["count"] >= len(bundle["audit"])

    # the round-1 attack: drop the ban request and flip the consent
    forged = json.loads(json.dumps(bundle))
    forged["audit"] = [a for a in forged["audit"] if a["action"] != "ban.requested"]
    assert len(forged["audit"]) < len(bundle["audit"])
    forged["case"]["consent"] = not bundle["case"]["consent"]
    (elsewhere / "forged.json").write_text(json.dumps(forged))
    bad = cli("verify-audit", "--export", "forged.json", "--public-key", public, cwd=elsewhere)
    assert bad.returncode == 1 and "forged or altered" in bad.stderr

    # re-signed by the forger with their own key: the operator's public key does not accept it
    from safety_bot.audit_chain import canonical

    mine = AuditKeys(hashlib.sha256(b"forger").digest())
    unsigned = {k: v for k, v in forged.items() if k != "signature"}
    forged["signature"] = {"algorithm": "ed25519", "public_key": mine.public_text(), "value": mine.sign(canonical(unsigned))}
    (elsewhere / "resigned.json").write_text(json.dumps(forged))
    bad = cli("verify-audit", "--export", "resigned.json", "--public-key", public, cwd=elsewhere)
    assert bad.returncode == 1 and "forged or altered" in bad.stderr
    # (the body is self-consistent under the forger's key; only the head, signed by the real key, is not)
    assert verify_bundle(forged, mine.public) == ["the audit head in the bundle is not signed by this key"]

    # signature removed, garbage key, no key: each a clear message
    del forged["signature"]
    (elsewhere / "unsigned.json").write_text(json.dumps(forged))
    bad = cli("verify-audit", "--export", "unsigned.json", "--public-key", public, cwd=elsewhere)
    assert bad.returncode == 1 and "unsigned" in bad.stderr
    for key, expected in (("not base64!", "not valid base64"), (base64.b64encode(b"short").decode(), "32 bytes")):
        bad = cli("verify-audit", "--export", "bundle.json", "--public-key", key, cwd=elsewhere)
        assert bad.returncode == 2 and expected in bad.stderr and "Traceback" not in bad.stderr
    bad = cli("verify-audit", "--export", "bundle.json", cwd=elsewhere)
    assert bad.returncode == 2 and "--public-key" in bad.stderr
