"""Hash lists (issue 19, items 1 and 5): import, follow, export, signing, provenance and every bad input,
through the `safety-bot bank` commands and the core, with lists served by a local HTTP server."""

from __future__ import annotations

import asyncio
import io
import json
import re

import pytest
from PIL import Image

from safety_bot.actions import BanUser, PostToTeam, RemoveMessage
from safety_bot.cli import main
from safety_bot.domain import MessageRef, UserRef
from safety_bot.lists.hash_lists import HashLists, ListError
from safety_bot.media import hash_image_bytes
from safety_bot.store.sqlite import SqliteStore
from tests.harness import write_config
from tests.media.test_hashing import generate

PDQ_A = "f" * 8 + "0123456789abcdef" * 3 + "e" * 8
PDQ_B = "0" * 8 + "fedcba9876543210" * 3 + "1" * 8
MD5_A, VMD5_A = "b2" * 16, "c3" * 16
BOB = UserRef("console", "bob", "bob")


def jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def ref(mid: str) -> MessageRef:
    return MessageRef("console", "cafe", "general", mid, "")


def te_file(*lines: str) -> bytes:
    return ("# a list from another community\n" + "\n".join(lines) + "\n").encode()


async def entries(store, **kw):
    return await store.bank_entries("friends", **kw)


# ---------------------------------------------------------------------- import, provenance, list, remove
def test_import_file_each_type_comments_provenance_and_remove_list(tmp_path, capsys):
    cfg = str(write_config(tmp_path))
    f = tmp_path / "list.txt"
    f.write_bytes(te_file(f"pdq {PDQ_A}", "", f"md5 {MD5_A.upper()}  # an exact file", f"video_md5 {VMD5_A}",
                          f"pdq {PDQ_A}"))
    assert main(["bank", "import", str(f), "--list", "peers", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "hash list peers: 3 hashes (3 added, 0 withdrawn), action flag" in out
    assert main(["bank", "list", "--config", cfg]) == 0
    listed = capsys.readouterr().out
    assert "list peers: network=friends action=flag size=3" in listed and "last fetch" in listed
    assert listed.count("list=peers") == 3 and "added by list:peers" in listed
    assert not any(x in listed.lower() for x in (PDQ_A, MD5_A, VMD5_A))
    assert main(["bank", "list", "--config", cfg, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["list"] == "peers" and rows[0]["action"] == "flag" and rows[0]["last_error"] == ""
    assert [r["list"] for r in rows[1:]] == ["peers"] * 3

    async def check():
        store = await SqliteStore.open(tmp_path / "db.sqlite3")
        try:
            got = await store.bank_entries("friends", with_hashes=True)
            assert sorted((e.pdq, e.md5) for e in got) == sorted([([PDQ_A], None), ([], MD5_A), ([], VMD5_A)])
        finally:
            await store.close()

    asyncio.run(check())
    assert main(["bank", "remove-list", "peers", "--config", cfg]) == 0
    assert "3 entries it brought withdrawn" in capsys.readouterr().out
    assert main(["bank", "list", "--config", cfg]) == 0
    listed = capsys.readouterr().out
    assert "list peers" not in listed and listed.count("status=withdrawn") == 3
    assert main(["bank", "remove-list", "peers", "--config", cfg]) == 2
    assert "there is no hash list named peers" in capsys.readouterr().err
    assert main(["verify-audit", "--config", cfg]) == 0


BAD_FILES = {
    "wrong type": (te_file(f"pdq {PDQ_A}", f"sha1 {MD5_A}"), "line 3: unknown signal type 'sha1'"),
    "bad hex": (te_file(f"pdq {PDQ_A}", "pdq " + "z" * 64), "line 3: a pdq hash is 64 hexadecimal characters"),
    "short md5": (te_file(f"md5 {MD5_A[:30]}"), "line 2: a md5 hash is 32 hexadecimal characters"),
    "no hash": (te_file(f"pdq {PDQ_A}", "pdq"), "line 3: expected '<signal type> <hash>'"),
    "extra field": (te_file(f"pdq {PDQ_A} 100"), "line 2: expected '<signal type> <hash>'"),
    "html page": (b"<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n", "line 1: this is a web page (HTML)"),
    "binary": (b"pdq " + PDQ_A.encode() + b"\n\x00\x01\x02", "line 2: the file is binary"),
    "not utf-8": (te_file(f"pdq {PDQ_A}") + b"# caf\xe9\n", "line 3: the file is not UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_refused_with_the_line_and_change_nothing(tmp_path, capsys, case):
    cfg = str(write_config(tmp_path))
    data, message = BAD_FILES[case]
    f = tmp_path / "bad.txt"
    f.write_bytes(data)
    assert main(["bank", "import", str(f), "--list", "bad", "--config", cfg]) == 2
    err = capsys.readouterr().err
    assert message in err and "nothing was changed" in err
    assert main(["bank", "list", "--config", cfg]) == 0
    assert capsys.readouterr().out.strip() == "the hash bank is empty"


def test_huge_files_missing_files_and_bad_options_are_refused(tmp_path, capsys, listserver):
    cfg = str(write_config(tmp_path))
    f = tmp_path / "big.txt"
    f.write_bytes(te_file(*[f"pdq {PDQ_A}"] * 200))
    assert main(["bank", "import", str(f), "--list", "big", "--max-bytes", "1000", "--config", cfg]) == 2
    assert "too large" in capsys.readouterr().err
    url = listserver.put("/big.txt", te_file(*[f"pdq {PDQ_A}"] * 200))
    assert main(["bank", "import", url, "--list", "big", "--max-bytes", "1000", "--config", cfg]) == 2
    assert "too large" in capsys.readouterr().err
    assert main(["bank", "import", str(tmp_path / "nope.txt"), "--list", "x", "--config", cfg]) == 2
    assert "is not a file" in capsys.readouterr().err
    assert main(["bank", "import", "ftp://example.org/list", "--list", "x", "--config", cfg]) == 2
    assert "only http://, https:// and local files" in capsys.readouterr().err
    f.write_bytes(te_file(f"pdq {PDQ_A}"))
    assert main(["bank", "import", str(f), "--list", "two words", "--config", cfg]) == 2
    assert "without spaces" in capsys.readouterr().err
    assert main(["bank", "follow", str(f), "--list", "x", "--config", cfg]) == 2
    assert "needs an http:// or https:// URL" in capsys.readouterr().err
    assert main(["bank", "follow", url, "--list", "x", "--every", "5s", "--config", cfg]) == 2
    assert "at least one minute" in capsys.readouterr().err
    assert main(["bank", "follow", url, "--list", "x", "--every", "soon", "--config", cfg]) == 2
    assert "give a duration" in capsys.readouterr().err
    assert main(["bank", "import", str(f), "--list", "x", "--public-key", "not-a-key", "--config", cfg]) == 2
    assert "public key is not usable" in capsys.readouterr().err
    assert main(["bank", "list", "--config", cfg]) == 0
    assert capsys.readouterr().out.strip() == "the hash bank is empty"


def test_server_errors_and_html_error_pages_over_http_change_nothing(tmp_path, capsys, listserver):
    cfg = str(write_config(tmp_path))
    listserver.status["/list.txt"] = 500
    assert main(["bank", "import", listserver.url("/list.txt"), "--list", "x", "--config", cfg]) == 2
    assert "the server answered HTTP 500" in capsys.readouterr().err
    listserver.put("/login", b"<html><body>please log in</body></html>", "text/html; charset=utf-8")
    assert main(["bank", "import", listserver.url("/login"), "--list", "x", "--config", cfg]) == 2
    assert "line 1: the server sent a web page (HTML)" in capsys.readouterr().err
    listserver.put("/page.txt", b"\n  <html><body>oops</body></html>")  # an HTML page labelled as text
    assert main(["bank", "import", listserver.url("/page.txt"), "--list", "x", "--config", cfg]) == 2
    assert "line 1: this is a web page (HTML)" in capsys.readouterr().err
    assert main(["bank", "list", "--config", cfg]) == 0
    assert capsys.readouterr().out.strip() == "the hash bank is empty"


def test_a_redirect_is_followed_to_http_only(tmp_path, capsys, listserver):
    cfg = str(write_config(tmp_path))
    listserver.put("/real.txt", te_file("pdq " + "ab" * 32))
    listserver.redirects["/moved.txt"] = listserver.url("/real.txt")
    assert main(["bank", "import", listserver.url("/moved.txt"), "--list", "moved", "--config", cfg]) == 0
    capsys.readouterr()
    listserver.redirects["/elsewhere.txt"] = "ftp://127.0.0.1/list.txt"
    assert main(["bank", "import", listserver.url("/elsewhere.txt"), "--list", "x", "--config", cfg]) == 2
    assert "redirected to an address that is not http(s)" in capsys.readouterr().err
    assert main(["bank", "list", "--config", cfg]) == 0
    listed = capsys.readouterr().out
    assert re.findall(r"^list (\S+):", listed, re.M) == ["moved"]  # the refused list was not made


# ---------------------------------------------------------------------- follow: conditional re-fetch, withdrawal
async def test_follow_refetches_conditionally_withdraws_what_disappears_and_keeps_the_rest_on_errors(hs, listserver):
    lists = HashLists(hs.app.bank)
    url = listserver.put("/peers.txt", te_file(f"pdq {PDQ_A}", f"md5 {MD5_A}"))
    lst, res = await lists.import_list(url, "peers", network="friends", every=3600.0)
    assert (res.added, res.withdrawn, res.size) == (2, 0, 2) and lst.etag
    first = {e.id for e in await entries(hs.store, statuses=("active",))}
    assert len(first) == 2
    # Not due yet: nothing fetched.
    n = len(listserver.requests)
    assert await lists.follow_due() == [] and len(listserver.requests) == n
    # Due: a conditional request; unchanged (304) changes nothing.
    hs.offset[0] += 3601
    assert await lists.follow_due() == []
    path, headers = listserver.requests[-1]
    assert headers.get("If-None-Match") == lst.etag and headers.get("If-Modified-Since")
    assert {e.id for e in await entries(hs.store, statuses=("active",))} == first
    # The publisher drops one hash and adds another: the dropped one is withdrawn here (hashes deleted).
    listserver.put("/peers.txt", te_file(f"pdq {PDQ_B}", f"md5 {MD5_A}"))
    hs.offset[0] += 3601
    assert await lists.follow_due() == []
    got = {e.id: e for e in await entries(hs.store, with_hashes=True)}
    active = [e for e in got.values() if e.status == "active"]
    withdrawn = [e for e in got.values() if e.status == "withdrawn"]
    assert sorted(e.pdq[0] if e.pdq else e.md5 for e in active) == sorted([PDQ_B, MD5_A])
    assert len(withdrawn) == 1 and withdrawn[0].pdq == [] and withdrawn[0].md5 is None
    # A broken file or a server error later: recorded as the list's last error, nothing changed.
    for body, status, problem in ((te_file(f"pdq {PDQ_B}", "md5 nothex"), None, "line 3"),
                                  (None, 500, "HTTP 500")):
        if status:
            listserver.status["/peers.txt"] = status
        else:
            listserver.put("/peers.txt", body)
        hs.offset[0] += 3601
        [(name, error)] = await lists.follow_due()
        assert name == "peers" and problem in error
        stored = await hs.store.get_shared_list("peers")
        assert problem in stored.last_error
        assert sorted(e.id for e in await entries(hs.store, statuses=("active",))) == sorted(e.id for e in active)
    # It recovers.
    del listserver.status["/peers.txt"]
    listserver.put("/peers.txt", te_file(f"pdq {PDQ_B}"))
    hs.offset[0] += 3601
    assert await lists.follow_due() == []
    assert (await hs.store.get_shared_list("peers")).last_error == ""
    assert len(await entries(hs.store, statuses=("active",))) == 1


# ---------------------------------------------------------------------- what a match from a list does
async def test_a_flag_list_tells_the_team_only_a_remove_list_removes_and_neither_bans(h, tmp_path):
    image = jpeg(generate(11, 640, 480))
    hashed = hash_image_bytes(image)
    f = tmp_path / "l.txt"
    f.write_bytes(te_file(f"pdq {hashed.pdq}"))
    lists = HashLists(h.app.bank)
    await lists.import_list(str(f), "peers", network="friends")
    out = await h.app.bank.check("cafe", ref("m1"), BOB, [hash_image_bytes(image)], sizes=[len(image)])
    assert not [a for a in out.actions if isinstance(a, (RemoveMessage, BanUser))]
    [post] = [a for a in out.actions if isinstance(a, PostToTeam)]
    assert "Please review" in post.text and "from the shared list peers" in post.text and hashed.pdq not in post.text
    g = tmp_path / "m.txt"
    g.write_bytes(te_file(f"md5 {hashed.md5}"))
    await lists.import_list(str(g), "exact", network="friends", action="remove")
    await lists.remove_list("peers")
    out = await h.app.bank.check("cafe", ref("m2"), BOB, [hash_image_bytes(image)], sizes=[len(image)])
    assert [a for a in out.actions if isinstance(a, RemoveMessage)]
    assert not [a for a in out.actions if isinstance(a, BanUser)]
    text = " ".join(a.text for a in out.actions if isinstance(a, PostToTeam))
    assert "from the shared list exact" in text and "Not banned automatically" in text
    # Changing the list's action to flag takes effect at the next refresh.
    await lists.import_list(str(g), "exact", network="friends", action="flag")
    await h.app.bank.refresh()
    out = await h.app.bank.check("cafe", ref("m3"), UserRef("console", "carol", "carol"), [hash_image_bytes(image)],
                                 sizes=[len(image)])
    assert not [a for a in out.actions if isinstance(a, RemoveMessage)]


# ---------------------------------------------------------------------- export and signatures
async def _bank_two_cases(h, consent_first: bool):
    cases = []
    for seed in (21, 22):
        await h.run("as mia", "open @bob posts her pictures --category sextortion")
        case = (await h.store.list_cases("cafe"))[-1]
        await h.app.bank.bank_from_hashes(case, [hash_image_bytes(jpeg(generate(seed, 640, 480)), with_variants=True)],
                                          "console:mia")
        cases.append(case)
    if consent_first:
        case = await h.store.get_case_by_id(cases[0].id)
        case.flags["consent"] = "yes"
        await h.store.save_case(case)
    return cases


async def test_export_has_only_consented_own_entries_and_no_case_data_signed_lists_verify(h, tmp_path):
    await _bank_two_cases(h, consent_first=True)
    lists = HashLists(h.app.bank)
    f = tmp_path / "other.txt"
    f.write_bytes(te_file(f"pdq {PDQ_A}"))
    await lists.import_list(str(f), "other", network="friends", action="remove")  # never re-exported
    data, count = await lists.export("cafe-shared", "friends")
    assert count == 1
    text = data.decode()
    body = [l for l in text.splitlines() if not l.startswith("#")]
    entries_all = await entries(h.store, with_hashes=True)
    own = [e for e in entries_all if e.case_id is not None]
    assert sorted(body) == sorted([f"pdq {own[0].pdq[0]}", f"md5 {own[0].md5}"])
    assert PDQ_A not in text and "case" not in text.lower() and "bob" not in text and "mia" not in text
    # Signed with the audit key: another community imports it with the public key.
    signed, _ = await lists.export("cafe-shared", "friends", signed=True)
    public = h.store.audit_chain.keys.public_text()
    good = tmp_path / "signed.txt"
    good.write_bytes(signed)
    _, res = await lists.import_list(str(good), "from-cafe", network="elsewhere", public_key=public)
    assert res.signed and res.added == 2
    # Tampered, unsigned, or signed by someone else: refused, nothing changed.
    before = await entries(h.store)
    tampered = signed.replace(b"md5 ", b"md5 ", 1)[:-33] + b"0" * 32 + b"\n"
    for data, problem in ((tampered, "does not verify"), (data, "not signed"),
                          (signed, "does not verify")):
        bad = tmp_path / "bad.txt"
        bad.write_bytes(data)
        key = public if problem != "does not verify" or data is tampered else _other_key()
        with pytest.raises(ListError, match=problem):
            await lists.import_list(str(bad), "from-cafe", network="elsewhere", public_key=key)
    assert await entries(h.store) == before
    assert "does not verify" in (await h.store.get_shared_list("from-cafe")).last_error


def _other_key() -> str:
    from safety_bot.audit_chain import AuditKeys

    return AuditKeys(b"\x07" * 32).public_text()


def test_export_cli_to_a_file_and_signed(tmp_path, capsys):
    cfg = str(write_config(tmp_path))
    out = tmp_path / "out.txt"
    assert main(["bank", "export", "--list", "ours", "--out", str(out), "--sign", "--config", cfg]) == 0
    assert "exported 0 entries whose case consent allows sharing (signed)" in capsys.readouterr().err
    assert out.read_bytes().startswith(b"# ed25519-signature: ")
    assert main(["audit-key", "--config", cfg]) == 0
    public = capsys.readouterr().out.strip().split()[-1]
    assert main(["bank", "import", str(out), "--list", "ours-again", "--public-key", public, "--config", cfg]) == 0
    assert "signature verified" in capsys.readouterr().out


async def test_a_video_md5_from_a_list_matches_the_video_file_and_exports_as_video_md5(h, tmp_path):
    from tests.media.videos import make_video

    video = make_video(7, seconds=3)
    hashed, size = await h.app.bank.hash_download(video)
    f = tmp_path / "videos.txt"
    f.write_bytes(te_file(f"video_md5 {hashed.md5}"))
    await HashLists(h.app.bank).import_list(str(f), "videos", network="friends", action="remove")
    [entry] = await entries(h.store, with_hashes=True)
    assert entry.kind == "video" and entry.md5 == hashed.md5 and entry.pdq == []
    out = await h.app.bank.check("cafe", ref("v1"), BOB, [hashed], sizes=[size])
    assert [a for a in out.actions if isinstance(a, RemoveMessage)]
    assert not [a for a in out.actions if isinstance(a, BanUser)]
    # The bank's own (consented) video is exported as its file's MD5, never as frame hashes.
    await h.run("as mia", "open @bob posts her video --category sextortion")
    case = (await h.store.list_cases("cafe"))[-1]
    case.flags["consent"] = "yes"
    await h.store.save_case(case)
    own = make_video(8, seconds=3)
    await h.app.bank.bank_from_hashes(case, [await h.app.bank.hash_bytes(own, with_variants=True)], "console:mia")
    data, count = await HashLists(h.app.bank).export("ours", "friends")
    body = [l for l in data.decode().splitlines() if not l.startswith("#")]
    import hashlib

    assert count == 1 and body == [f"video_md5 {hashlib.md5(own).hexdigest()}"]


async def test_a_minor_list_opens_a_child_safety_case_on_a_match(h, tmp_path):
    image = jpeg(generate(12, 640, 480))
    hashed = hash_image_bytes(image)
    f = tmp_path / "csam.txt"
    f.write_bytes(te_file(f"md5 {hashed.md5}"))
    lists = HashLists(h.app.bank)
    with pytest.raises(ListError, match="--category must be adult or minor"):
        await lists.import_list(str(f), "ncmec", network="friends", category="teen")
    lst, _ = await lists.import_list(str(f), "ncmec", network="friends", action="remove", category="minor")
    assert (await h.store.get_shared_list("ncmec")).category == "minor"
    [entry] = await entries(h.store)
    assert entry.category == "minor"
    out = await h.app.bank.check("cafe", ref("c1"), BOB, [hash_image_bytes(image)], sizes=[len(image)])
    assert [a for a in out.actions if isinstance(a, RemoveMessage)]
    [case] = await h.store.list_cases("cafe")
    assert case.category == "child_safety"
