"""The console keeps its world between runs; help lists every command; `as NAME` (issue 14, item 8)."""

import os
import re
import subprocess
import sys

from adapters.console.adapter import HELP
from tests.harness import ROOT, write_config

CLI = [sys.executable, "-m", "safety_bot.cli"]


def run(cfg, *lines, fresh=False):
    args = [*CLI, "run", "--config", str(cfg)] + (["--fresh"] if fresh else [])
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, input="\n".join(lines) + "\n",
                          timeout=120)


def test_messages_bans_and_positions_persist_with_the_database(tmp_path):
    cfg = write_config(tmp_path)
    first = run(cfg, "say general hello", "as bob", "say general pay me or else",
                "as alice", "report-message m2 he threatens me", "stop",
                "as mia", "ban @bob --case 1 --confirm threats", "as carol")
    assert first.returncode == 0, first.stderr
    assert "data lives in" in first.stderr and "--fresh" in first.stderr and "make clean-data" in first.stderr
    kept = tmp_path / "db.sqlite3.console.json"
    assert kept.exists() and (os.stat(kept).st_mode & 0o777) == 0o600
    again = run(cfg, "whoami", "say general hi again", "as bob", "say general I am back", "as mia", "case 1")
    out = again.stdout
    assert "You are carol, a member of cafe." in out  # who and where you were
    assert "(m3)" in out and "(m1)" not in out  # ids continue: case 1's evidence still points at m2
    assert "You are banned from this community." in out  # bans hold
    assert "console://cafe/general/m2" in out and "pay me or else" in out
    fresh = run(cfg, "whoami", "say general a new world", "cases", fresh=True)
    assert fresh.returncode == 0, fresh.stderr
    assert "starting fresh" in fresh.stderr
    assert "You are alice" in fresh.stdout and "(m1)" in fresh.stdout


def test_fresh_refuses_to_delete_a_real_communitys_cases(tmp_path):
    cfg = write_config(tmp_path, {"matrix": {"homeserver": "https://matrix.example.org", "user_id": "@bot:example.org",
                                             "access_token": "${MX_TOKEN}", "management_room": "!m:example.org",
                                             "protected_rooms": ["!r:example.org"]}})
    (tmp_path / "db.sqlite3").write_bytes(b"keep me")
    res = subprocess.run([*CLI, "run", "--fresh", "--config", str(cfg)], capture_output=True, text=True, cwd=ROOT,
                         stdin=subprocess.DEVNULL, timeout=60, env={**os.environ, "MX_TOKEN": "x"})
    assert res.returncode != 0 and "Nothing was deleted" in res.stderr
    assert (tmp_path / "db.sqlite3").read_bytes() == b"keep me"


def test_help_lists_every_console_command():
    source = (ROOT / "adapters" / "console" / "adapter.py").read_text()
    heads = set(re.findall(r'head == "([a-z-]+)"', source))
    for group in re.findall(r"head in \(([^)]*)\)", source):
        heads |= set(re.findall(r'"([a-z/!-]+)"', group))
    heads -= {"safety", "/safety", "!safety", "report_message"}
    assert {"locale", "withdraw", "consent", "wait", "as"} <= heads
    for head in heads:
        assert re.search(rf"(^|[\s|,(]){re.escape(head)}\b", HELP, re.M), head
    for command in ("reopen", "link", "hold"):
        assert command in HELP


async def test_as_name_picks_the_members_own_community(h):
    out = await h.run("as erin club", "as mia")
    assert "(you are now mia, a moderator of cafe)" in out
    out = await h.run("as erin")
    assert "(you are now erin, a member of club)" in out
    out = await h.run("as mia club")
    assert "(you are now mia, a moderator of club)" in out
