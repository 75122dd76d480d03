"""Nothing linkable at rest: a canary reporter name and canary texts go through every console flow of the
README walk-through (report, answers, DM, consent, notes, reply, ban, reveal, export, close), then every
file in the data folder is searched the way `strings` would: neither canary may appear. File modes are
private. After `purge`, no row but the purge record refers to the case, and the audit log still verifies."""

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys

import yaml

from safety_bot.store.sqlite import SqliteStore
from tests.harness import BASE_CONFIG, ROOT

CLI = [sys.executable, "-m", "safety_bot.cli"]
NAME = "zqcanaryname"
STATEMENT = "zqcanarystatement"
MOD_TEXT = "zqcanarymodtext"


def cli(*args):
    res = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def printable_runs(data: bytes) -> list[bytes]:
    """What `strings -a` prints: runs of 4+ printable ASCII bytes (and the same for UTF-16LE text)."""
    runs = re.findall(rb"[\x20-\x7e]{4,}", data)
    runs += [r.replace(b"\x00", b"") for r in re.findall(rb"(?:[\x20-\x7e]\x00){4,}", data)]
    return runs


def found_in_data(folder, *canaries) -> list[str]:
    hits = []
    for path in folder.rglob("*"):
        # The console's simulated world (its channels and members) plays the chat platform, which holds
        # names and messages anyway; it is not the bot's data. Discord and Matrix have no such file.
        if path.is_file() and not path.name.endswith(".console.json"):
            text = b"\n".join(printable_runs(path.read_bytes())).lower()
            hits += [f"{path.name}: {c}" for c in canaries if c.encode() in text]
    return hits


def setup(tmp_path):
    data = tmp_path / "data"  # created by the bot
    config = yaml.safe_load(yaml.safe_dump(BASE_CONFIG))
    config["console"]["start_as"] = NAME
    for community in config["console"]["communities"]:
        community["members"] = [NAME if m == "alice" else m for m in community["members"]]
    config["storage"] = {"database": str(data / "db.sqlite3")}
    config["exports_dir"] = str(tmp_path / "exports")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    script = (ROOT / "examples" / "walkthrough.txt").read_text()
    script = re.sub("alice", NAME, script, flags=re.IGNORECASE)
    script = script.replace("He says he will post my pictures unless I pay", f"{STATEMENT} he wants money")
    script = script.replace("He wants 200 euros or he posts my photos", f"{STATEMENT} again")
    script = script.replace("dm Thank you. I feel safer now.", f"dm {STATEMENT} thank you")
    script = script.replace("note 1 ", f"note 1 {MOD_TEXT} ")
    script = script.replace("--confirm threatened", f"--confirm {MOD_TEXT} threatened")
    script += f"\nas mia cafe\nreveal 1 {MOD_TEXT} police asked\nreply 1 {MOD_TEXT} we are here\n"
    (tmp_path / "script.txt").write_text(script)
    return cfg, data


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_canary_is_nowhere_in_the_data_folder_and_purge_leaves_no_row(tmp_path):
    cfg, data = setup(tmp_path)
    res = cli("run", "--config", str(cfg), "--script", str(tmp_path / "script.txt"))
    assert res.returncode == 0, res.stderr
    assert f"Reporter of case 1: {NAME}" in res.stdout  # the canary really went through the flows
    assert cli("export", "1", "--community", "cafe", "--config", str(cfg)).returncode == 0

    # private files in a private folder
    assert mode(data) == 0o700
    files = sorted(p.name for p in data.iterdir())
    assert {"db.sqlite3", "db.sqlite3.key", "db.sqlite3.audit-key", "db.sqlite3.audit-head"} <= set(files), files
    assert {p.name: mode(p) for p in data.iterdir()} == {name: 0o600 for name in files}
    exports = list((tmp_path / "exports").iterdir())
    assert exports and all(mode(p) == 0o600 for p in exports) and mode(tmp_path / "exports") == 0o700
    store = await SqliteStore.open(data / "db.sqlite3")  # while open: WAL and SHM exist, also private
    await store.set_value("probe", "x")
    assert {p.name: mode(p) for p in data.iterdir() if p.name.endswith(("-wal", "-shm"))} == {
        "db.sqlite3-wal": 0o600, "db.sqlite3-shm": 0o600}
    await store.close()

    # the canaries: in the export (that is its purpose), nowhere in the data folder
    bundle = json.loads(exports[0].read_text())
    assert STATEMENT in json.dumps(bundle)
    assert found_in_data(data, NAME, STATEMENT, MOD_TEXT) == []
    assert found_in_data(data, "bob")  # the search works: the accused's account is stored in clear (bans)

    # purge the closed case: it says what it removed, and no row but the purge record refers to it
    con = sqlite3.connect(data / "db.sqlite3")
    (case_id,) = con.execute("SELECT id FROM cases WHERE community='cafe' AND number=1").fetchone()
    con.execute("UPDATE cases SET updated_at = updated_at - 400 * 86400 WHERE id=?", (case_id,))
    con.commit()
    con.close()
    res = cli("purge", "--config", str(cfg), "--days", "365")
    assert "purged 1 closed case(s): cafe #1" in res.stdout, res.stdout + res.stderr
    removed = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) ([a-z -]+?)(?:,|$)", res.stdout.split("removed: ")[1]))
    assert removed["reports"] >= 1 and removed["evidence items"] >= 1 and removed["notes"] >= 1
    assert removed["audit details"] >= 10 and removed["cases"] == 1
    con = sqlite3.connect(data / "db.sqlite3")
    for table in ("cases", "reports", "evidence", "notes", "intakes", "case_accused", "bank_entries"):
        col = "id" if table == "cases" else "case_id"
        assert con.execute(f"SELECT COUNT(*) FROM {table} WHERE {col}=?", (case_id,)).fetchone() == (0,), table
    assert con.execute("SELECT COUNT(*) FROM outbox WHERE case_id=? AND status!='pending'", (case_id,)).fetchone() == (0,)
    details = [json.loads(r[0]) if r[0].startswith("{") else r[0]
               for r in con.execute("SELECT detail FROM audit WHERE case_id=?", (case_id,))]
    assert details and all(set(d) == {"purged_detail_mac"} for d in details)
    con.close()
    assert cli("verify-audit", "--config", str(cfg)).returncode == 0  # purging kept every link
    assert found_in_data(data, NAME, STATEMENT, MOD_TEXT) == []


async def test_rate_limit_survives_rotate_key_and_tags_are_per_case(tmp_path):
    from safety_bot.domain import Case, Report, Status, Urgency, UserRef

    store = await SqliteStore.open(tmp_path / "db.sqlite3")
    who = UserRef("console", "zoe", "Zoe")
    tags = []
    for i in range(2):
        case = await store.create_case(Case(community="cafe", network="n", number=0, category="sextortion",
                                            urgency=Urgency.NORMAL, status=Status.OPEN, created_at=100.0 + i,
                                            updated_at=100.0 + i, reporter=who))
        await store.add_report(Report(case_id=case.id, reporter=who, text="t", source="member", created_at=100.0 + i))
    tags = [r[0] for r in await store._rows("SELECT reporter_tag FROM reports")]
    assert len(set(tags)) == 2  # the same person's two reports are not linkable through their tags
    assert await store.report_times_since(who.key, 0) == [100.0, 101.0]
    await store.rotate_key(os.urandom(32))
    assert await store.report_times_since(who.key, 0) == [100.0, 101.0]  # limits carried over
    await store.close()


async def test_an_anonymous_reporters_export_carries_no_account_even_after_resources_and_reveal(h):
    from safety_bot import export as exporter

    await h.run("report bob threatens to post my photos", "no", "2", "stop")
    case = await h.store.get_case("cafe", 1)
    assert case.anonymous
    await h.run("as mia", "resources @alice", "reveal 1 the police need to reach her")
    bundle = await exporter.build_bundle(h.store, await h.store.get_case("cafe", 1))
    actions = [a["action"] for a in bundle["audit"]]
    assert "resources.sent" in actions and "case.reveal_reporter" in actions  # both stored on the case
    text = json.dumps(bundle)
    assert "console:alice" not in text and '"alice"' not in text
