"""Refused list commands, as an operator meets them: a malformed URL is refused with a clear message (not a
traceback), a message says "nothing was changed" once, and a refused re-import or re-follow of an existing
list keeps how that list is read (its source, action or mode), only recording the last error."""

from __future__ import annotations

import json

import pytest

from safety_bot.cli import main
from tests.harness import write_config

PDQ_A = "f" * 8 + "0123456789abcdef" * 3 + "e" * 8


def lists(cfg: str, kind: str, capsys) -> dict:
    assert main([kind, "list", "--json", "--config", cfg]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return {r["list"]: r for r in rows if "source" in r}


@pytest.mark.parametrize("url", ["http://[bad", "http://example.org:abc/list.txt"])
@pytest.mark.parametrize("kind", ["bank", "bans"])
def test_a_malformed_url_is_refused_with_a_message(tmp_path, capsys, url, kind):
    cfg = str(write_config(tmp_path))
    args = (["bank", "import", url, "--list", "x"] if kind == "bank"
            else ["bans", "follow", url, "--network", "friends", "--list", "x"])
    assert main(args + ["--config", cfg]) == 2
    err = capsys.readouterr().err
    assert "the URL is not valid (check its host, port and brackets); nothing was changed" in err
    assert "Traceback" not in err and url not in err  # a URL may hold a token: it is not repeated (last error, audit)
    assert lists(cfg, kind, capsys) == {}


def test_an_html_page_says_nothing_was_changed_once(tmp_path, capsys, listserver):
    cfg = str(write_config(tmp_path))
    f = tmp_path / "page.txt"
    f.write_bytes(b"<!DOCTYPE html>\n<html><body>404</body></html>\n")
    assert main(["bank", "import", str(f), "--list", "x", "--config", cfg]) == 2
    assert capsys.readouterr().err.count("nothing was changed") == 1
    listserver.put("/login", b"<html><body>please log in</body></html>", "text/html; charset=utf-8")
    assert main(["bank", "import", listserver.url("/login"), "--list", "x", "--config", cfg]) == 2
    assert capsys.readouterr().err.count("nothing was changed") == 1


def test_a_refused_reimport_keeps_the_hash_lists_source_and_action(tmp_path, capsys, listserver):
    cfg = str(write_config(tmp_path))
    url = listserver.put("/list.txt", f"pdq {PDQ_A}\n".encode())
    assert main(["bank", "follow", url, "--list", "x", "--every", "1h", "--config", cfg]) == 0
    bad = tmp_path / "bad.txt"
    bad.write_text("md5 nothex\n")
    assert main(["bank", "import", str(bad), "--list", "x", "--action", "remove", "--config", cfg]) == 2
    assert "line 1:" in capsys.readouterr().err
    row = lists(cfg, "bank", capsys)["x"]
    assert (row["source"], row["action"], row["size"], row["every"]) == (url, "flag", 1, 3600.0)
    assert "line 1:" in row["last_error"]
    # the next read goes to the list's own source again and clears the error
    assert main(["bank", "import", url, "--list", "x", "--config", cfg]) == 0
    capsys.readouterr()
    assert lists(cfg, "bank", capsys)["x"]["last_error"] == ""


def test_a_refused_refollow_keeps_the_ban_pools_source_and_mode(tmp_path, capsys):
    cfg = str(write_config(tmp_path))
    pool = tmp_path / "pool.txt"
    pool.write_text("123456789012345678 sextortion 2026-11-01\n")
    assert main(["bans", "follow", str(pool), "--network", "friends", "--list", "p", "--config", cfg]) == 0
    bad = tmp_path / "bad.txt"
    bad.write_text("123456789012345678 sextortion\n")
    assert main(["bans", "follow", str(bad), "--network", "friends", "--list", "p", "--mode", "apply",
                 "--config", cfg]) == 2
    assert "line 1:" in capsys.readouterr().err
    row = lists(cfg, "bans", capsys)["p"]
    assert (row["source"], row["action"], row["size"]) == (str(pool), "notify", 1)
    assert "line 1:" in row["last_error"]


def test_a_network_the_config_does_not_have_is_refused(tmp_path, capsys):
    cfg = str(write_config(tmp_path))
    f = tmp_path / "list.txt"
    f.write_text(f"pdq {PDQ_A}\n")
    pool = tmp_path / "pool.txt"
    pool.write_text("123456789012345678 sextortion 2026-11-01\n")
    for args in (["bank", "import", str(f), "--list", "x"], ["bank", "export", "--list", "x"],
                 ["bans", "follow", str(pool), "--list", "p"], ["bans", "export"]):
        assert main(args + ["--network", "frends", "--config", cfg]) == 2
        assert "no network named frends in the config (friends); nothing was changed" in capsys.readouterr().err
    assert lists(cfg, "bank", capsys) == {} and lists(cfg, "bans", capsys) == {}


def test_bank_list_of_one_network_shows_only_that_networks_lists(tmp_path, capsys):
    cfg = str(write_config(tmp_path))
    f = tmp_path / "list.txt"
    f.write_text(f"pdq {PDQ_A}\n")
    assert main(["bank", "import", str(f), "--list", "x", "--config", cfg]) == 0
    capsys.readouterr()
    assert main(["bank", "list", "--network", "elsewhere", "--config", cfg]) == 0
    assert capsys.readouterr().out.strip() == "the hash bank is empty in network elsewhere"
    assert main(["bank", "list", "--network", "friends", "--config", cfg]) == 0
    assert capsys.readouterr().out.startswith("list x: network=friends")


def test_following_a_pool_on_a_network_without_discord_says_it_acts_on_no_one(tmp_path, capsys):
    cfg = str(write_config(tmp_path))  # the console only: no Discord server
    pool = tmp_path / "pool.txt"
    pool.write_text("123456789012345678 sextortion 2026-11-01\n")
    assert main(["bans", "follow", str(pool), "--network", "friends", "--list", "p", "--config", cfg]) == 0
    assert "network friends has no Discord server in the config" in capsys.readouterr().err
    pool.write_text("1234 sextortion 2026-11-01\n")
    assert main(["bans", "follow", str(pool), "--network", "friends", "--list", "p", "--config", cfg]) == 2
    assert "Discord server" not in capsys.readouterr().err  # a refusal says only why it was refused


@pytest.mark.parametrize("argv", [["bank", "export", "--list", "mine"], ["bans", "export", "--network", "friends"]])
def test_an_export_to_a_file_that_cannot_be_written_is_refused_with_a_message(tmp_path, capsys, argv):
    cfg = str(write_config(tmp_path))
    out = tmp_path / "no-such-folder" / "list.txt"
    assert main(argv + ["--out", str(out), "--config", cfg]) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: cannot write it" in err and "Traceback" not in err and not out.exists()


def test_an_empty_public_key_is_refused_not_ignored(tmp_path, capsys):
    cfg = str(write_config(tmp_path))
    f = tmp_path / "list.txt"
    f.write_text(f"pdq {PDQ_A}\n")  # not signed: with the key ignored it would be imported
    pool = tmp_path / "pool.txt"
    pool.write_text("123456789012345678 sextortion 2026-11-01\n")
    assert main(["bank", "import", str(f), "--list", "x", "--public-key", "", "--config", cfg]) == 2
    assert "--public-key is empty" in capsys.readouterr().err
    assert main(["bans", "follow", str(pool), "--network", "friends", "--public-key", " ", "--config", cfg]) == 2
    assert "--public-key is empty" in capsys.readouterr().err
    assert lists(cfg, "bank", capsys) == {} and lists(cfg, "bans", capsys) == {}


def test_a_hash_written_first_is_refused_without_echoing_it(tmp_path, capsys):
    cfg = str(write_config(tmp_path))
    f = tmp_path / "list.txt"
    f.write_text(f"{PDQ_A} pdq\n")
    assert main(["bank", "import", str(f), "--list", "x", "--config", cfg]) == 2
    err = capsys.readouterr().err
    assert "line 1: the signal type comes first" in err and PDQ_A[:8] not in err


@pytest.mark.parametrize("every", ["nan", "inf", "infh", "1e400m", "400d"])
@pytest.mark.parametrize("kind", ["bank", "bans"])
def test_an_every_that_is_not_a_sensible_duration_is_refused(tmp_path, capsys, listserver, every, kind):
    cfg = str(write_config(tmp_path))
    url = listserver.put("/list.txt", (f"pdq {PDQ_A}\n" if kind == "bank"
                                       else "123456789012345678 sextortion 2026-11-01\n").encode())
    args = (["bank", "follow", url, "--list", "x"] if kind == "bank"
            else ["bans", "follow", url, "--network", "friends", "--list", "x"])
    assert main(args + ["--every", every, "--config", cfg]) == 2
    assert "give a duration such as 30m, 1h or 1d" in capsys.readouterr().err
    assert lists(cfg, kind, capsys) == {}


@pytest.mark.parametrize("kind", ["bank", "bans"])
def test_an_empty_answer_for_a_list_with_entries_changes_nothing_but_a_comment_empties_it(tmp_path, capsys,
                                                                                         listserver, kind):
    cfg = str(write_config(tmp_path))
    line = f"pdq {PDQ_A}\n" if kind == "bank" else "123456789012345678 sextortion 2026-11-01\n"
    url = listserver.put("/list.txt", line.encode())
    args = (["bank", "import", url, "--list", "x"] if kind == "bank"
            else ["bans", "follow", url, "--network", "friends", "--list", "x"])
    assert main(args + ["--config", cfg]) == 0
    listserver.put("/list.txt", b"")
    assert main(args + ["--config", cfg]) == 2
    assert "the list came back empty where it had 1 entries" in capsys.readouterr().err
    assert lists(cfg, kind, capsys)["x"]["size"] == 1
    listserver.put("/list.txt", b"# nothing listed any more\n")
    assert main(args + ["--config", cfg]) == 0
    assert lists(cfg, kind, capsys)["x"]["size"] == 0
