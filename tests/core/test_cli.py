"""The `safety-bot` command as an operator runs it: run (console, scripted), export, verify-audit,
purge, rotate-key. Real subprocesses, real SQLite files."""

import json
import os
import sqlite3
import subprocess
import sys

from tests.harness import ROOT, write_config

CLI = [sys.executable, "-m", "safety_bot.cli"]


def run(*args, cwd=ROOT, stdin="", env=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, input=stdin,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_readme_walkthrough_runs_end_to_end(tmp_path):
    cfg = write_config(tmp_path)
    res = run("run", "--config", str(cfg), "--script", str(ROOT / "examples" / "walkthrough.txt"))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "[#safety-team @ cafe] New case 1" in out
    assert "[audit log @ club] ban bob: Zero-tolerance ban (safety case 1)" in out
    assert "Warnings are not used here" in out
    assert "[escalation to olivia @ cafe] New case 3" in out
    assert "has been alerted again" in out
    # a danger cue, an age cue, and a bystander whose friend joins the case
    assert "glad you told me" in out and "is URGENT: the member wrote words suggesting a risk of SELF-HARM" in out
    assert "New case 2 is URGENT: the member wrote an age under 18 (15) - now a child-safety case" in out
    assert "Thank you for looking out for them" in out
    assert "erin says they are the person a friend's report is about" in out
    assert "erin is linked to case 2 as the person it is about" in out
    assert "Case 1 is closed, but the reporter (alice) wrote: is the picture gone everywhere?" in out
    assert "Exported case 1 to" in out
    assert "timeout carol for 60 minutes" in out
    assert "Unknown command" not in out and "Usage:" not in out


def test_run_reads_non_interactive_stdin_and_exits_at_end_of_input(tmp_path):
    cfg = write_config(tmp_path)
    res = run("run", "--config", str(cfg), stdin="report someone threatens me\nstop\n")
    assert res.returncode == 0, res.stderr
    assert "Your report is saved" in res.stdout
    res = run("run", "--config", str(cfg), stdin="")  # no input at all: exits cleanly
    assert res.returncode == 0


def test_export_verify_purge_and_rotate_key(tmp_path):
    cfg = write_config(tmp_path)
    script = tmp_path / "s.txt"
    script.write_text("report he threatens to post my photos\nstop\nas mia\nclose 1 actioned\n")
    assert run("run", "--config", str(cfg), "--script", str(script)).returncode == 0
    res = run("export", "1", "--community", "cafe", "--config", str(cfg), "--out", "-")
    assert res.returncode == 0, res.stderr
    bundle = json.loads(res.stdout)
    assert bundle["case"]["number"] == 1 and bundle["reports"][0]["text"] == "he threatens to post my photos"
    assert [a["seq"] for a in bundle["audit"]] == sorted(a["seq"] for a in bundle["audit"])
    exported = tmp_path / "bundle.json"
    exported.write_text(res.stdout)
    public = run("audit-key", "--config", str(cfg)).stdout.strip()
    assert "entries verified" in run("verify-audit", "--export", str(exported), "--public-key", public).stdout
    tampered = json.loads(res.stdout)
    tampered["audit"][0]["detail"]["source"] = "forged"
    exported.write_text(json.dumps(tampered))
    bad = run("verify-audit", "--export", str(exported), "--public-key", public)
    assert bad.returncode == 1 and "forged or altered" in bad.stderr
    missing = run("export", "9", "--community", "cafe", "--config", str(cfg))
    assert missing.returncode != 0 and "no case 9" in missing.stderr
    assert "every link keyed and intact" in run("verify-audit", "--config", str(cfg)).stdout
    # tamper with one audit entry: verify-audit names the first broken link
    db = tmp_path / "db.sqlite3"
    con = sqlite3.connect(db)
    (actor,) = con.execute("SELECT actor FROM audit WHERE seq=2").fetchone()
    con.execute("UPDATE audit SET actor='someone-else' WHERE seq=2")
    con.commit()
    con.close()
    res = run("verify-audit", "--config", str(cfg))
    assert res.returncode == 1 and "entry 2 was edited" in res.stderr
    con = sqlite3.connect(db)
    con.execute("UPDATE audit SET actor=? WHERE seq=2", (actor,))
    con.commit()
    con.close()
    # rotate the key: data still readable with the new key file, not with the old key
    old_key = (tmp_path / "db.sqlite3.key").read_text()
    res = run("rotate-key", "--config", str(cfg))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "db.sqlite3.key").read_text() != old_key
    assert json.loads(run("export", "1", "--community", "cafe", "--config", str(cfg), "--out", "-").stdout)["reports"][0]["text"]
    # purge: the closed case is kept until it is old enough, then deleted
    assert "purged 0" in run("purge", "--config", str(cfg)).stdout
    for bad_days in ("0", "-5", "x"):
        refused = run("purge", "--config", str(cfg), "--days", bad_days)
        assert refused.returncode == 2 and "--days" in refused.stderr and "Traceback" not in refused.stderr
    con = sqlite3.connect(db)
    con.execute("UPDATE cases SET updated_at = updated_at - 3 * 86400")
    con.commit()
    con.close()
    assert "purged 1 closed case(s): cafe #1" in run("purge", "--config", str(cfg), "--days", "2").stdout
    assert run("export", "1", "--community", "cafe", "--config", str(cfg)).returncode != 0
