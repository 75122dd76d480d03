"""Protect my pictures without a browser: the offer on the console, the one-time link's rules (single use,
30 minutes, bound to the member's case), the submission endpoint's checks, the bank entries, a blocked
re-upload, and withdrawal. The page in a real browser: tests/browser/test_protect_page.py."""

from __future__ import annotations

import re

import aiohttp
import pytest

from safety_bot.media import hash_image_file
from tests.browser.conftest import PUBLIC_URL, local, protect_app  # noqa: F401  (fixture)
from tests.browser.pictures import photo, save

LINK = re.compile(re.escape(PUBLIC_URL) + r"/protect\?lang=(\w+)#(\S+)")


async def offer(h, who: str = "alice") -> tuple[str, str]:
    lines = await h.run(f"as {who}", "protect")
    text = h.private(who, lines)
    m = LINK.search(text)
    assert m, text
    return m.group(0), m.group(2)


async def post(listener, path: str, body, **kw):
    async with aiohttp.ClientSession() as http, http.post(listener.url + path, json=body, **kw) as resp:
        return resp.status, await resp.json()


def items_for(paths, *, variants: bool = False):
    out = []
    for p in paths:
        hh = hash_image_file(p, with_variants=variants)
        item = {"pdq": hh.pdq, "quality": hh.quality, "md5": hh.md5}
        if variants:
            item["variants"] = [v for v in hh.variants[:8] if v != hh.pdq]
        out.append(item)
    return out


async def test_offer_link_submit_reupload_removed_and_withdraw(protect_app, tmp_path):
    h, listener = protect_app
    link, token = await offer(h)
    assert "never the pictures" in h.private("alice") and "30 minutes" in h.private("alice")
    [case] = await h.store.list_cases("cafe")
    assert case.reporter.id == "alice" and "asked to protect their pictures" in h.team()
    assert token not in str(case.flags) and token.split(".")[1] not in str(case.flags)  # only a digest is kept
    pics = [save(photo(i, 800, 600), tmp_path / f"mine{i}.jpg", "jpeg") for i in range(3)]
    status, body = await post(listener, "/protect/check", {"token": token})
    assert (status, body["ok"]) == (200, True)
    status, body = await post(listener, "/protect/submit", {"token": token, "items": items_for(pics, variants=True)})
    assert status == 200 and body["ok"] and body["added"] == 3, body
    entries = [e for e in await h.store.bank_entries("friends", with_hashes=True) if e.case_id == case.id]
    assert len(entries) == 3 and {e.added_by for e in entries} == {"member (protect my pictures)"}
    assert all(len(e.pdq) >= 7 for e in entries)  # the picture and its turned and mirrored hashes
    team = h.team()
    assert "the member added 3 entries to the hash bank from their own device" in team
    for e in entries:  # never a hash in what the team reads
        assert e.pdq == [] or all(p not in team for p in e.pdq)
    actions = [a.action for a in await h.store.audit_entries(case.id)]
    assert actions.count("bank.added") == 3 and "protect.submitted" in actions and "protect.link_sent" in actions
    # the same link again: refused kindly, nothing added
    status, body = await post(listener, "/protect/submit", {"token": token, "items": items_for(pics[:1])})
    assert status == 403 and not body["ok"] and "already used" in body["message"]
    assert len([e for e in await h.store.bank_entries("friends") if e.case_id == case.id]) == 3
    # bob posts one of them: removed, the team told, bob (not the accused) not banned
    lines = await h.run("as bob", f"picture general {pics[1]}")
    assert any("re-upload of banked media" in l for l in lines), lines
    assert "Not banned automatically" in h.team()
    [posted] = [m for m in h.console.world.messages.values() if m.author == "bob"]
    assert posted.deleted  # removed from the channel
    actions = [a.action for a in await h.store.audit_entries(case.id)]
    assert "media.match_removed" in actions
    # alice withdraws: the report and her entries go
    lines = await h.run("as alice", "withdraw")
    assert "unblocked" in h.private("alice", lines)
    statuses = {e.status for e in await h.store.bank_entries("friends") if e.case_id == case.id}
    assert statuses == {"withdrawn"}
    actions = [a.action for a in await h.store.audit_entries(case.id)]
    assert actions.count("bank.withdrawn") == 3
    lines = await h.run("as bob", f"picture general {pics[2]}")
    assert not any("re-upload" in l for l in lines)


async def test_expired_foreign_and_malformed_links_are_refused_kindly(protect_app, tmp_path):
    h, listener = protect_app
    _, token = await offer(h, "alice")
    _, bobs = await offer(h, "bob")
    pic = save(photo(5, 640, 480), tmp_path / "p.png", "png")
    good = items_for([pic])
    # a foreign token: bob's secret on alice's case, a made-up one, a malformed one
    alice_case, bob_secret = token.split(".")[0], bobs.split(".")[1]
    for bad in (f"{alice_case}.{bob_secret}", f"{alice_case}.{'A' * 32}", "nonsense", 12, None):
        status, body = await post(listener, "/protect/submit", {"token": bad, "items": good})
        assert status == 403 and "does not work" in body["message"], (bad, body)
    # bad items: nothing added, a clear message
    for items in ([], [{"pdq": "zz", "quality": 90, "md5": "0" * 32}], [{"pdq": "0" * 64}], "x",
                  [{"pdq": "0" * 64, "quality": 101, "md5": "0" * 32}], good * 0 + [{"video_md5": "g" * 32}],
                  [{"pdq": "0" * 64, "quality": 90, "md5": "0" * 32, "image": "AAAA"}],
                  [{"pdq": "0" * 64, "quality": 90, "md5": "0" * 32, "variants": ["1" * 64] * 8}],
                  [{"pdq": "0" * 64, "quality": 90, "md5": "0" * 32, "variants": ["xyz"]}]):
        status, body = await post(listener, "/protect/submit", {"token": token, "items": items})
        assert status == 400 and "nothing was saved" in body["message"], items
    assert await h.store.bank_entries("friends") == []
    # too large a body, wrong content type
    async with aiohttp.ClientSession() as http:
        async with http.post(listener.url + "/protect/submit", data=b"x" * 30000,
                             headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 413
        async with http.post(listener.url + "/protect/submit", data=b"token=1") as resp:
            assert resp.status == 415
    # expired: 31 minutes later
    h.offset[0] += 31 * 60
    status, body = await post(listener, "/protect/submit", {"token": token, "items": good})
    assert status == 403 and "expired" in body["message"]
    assert await h.store.bank_entries("friends") == []
    # the still-valid link still works once a new one is asked for
    _, fresh = await offer(h, "alice")
    status, body = await post(listener, "/protect/submit", {"token": fresh, "items": good})
    assert status == 200 and body["added"] == 1


async def test_german_page_and_headers(protect_app):
    h, listener = protect_app
    async with aiohttp.ClientSession() as http:
        async with http.get(listener.url + "/protect?lang=de") as resp:
            html = await resp.text()
            csp = resp.headers["Content-Security-Policy"]
    assert "Deine Bilder verlassen nie dein Gerät." in html and '<html lang="de">' in html
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "http://" not in html.replace('http-equiv', '') and "https://" not in html  # no third-party resource


async def test_offer_when_not_set_up(h):
    lines = await h.run("as alice", "protect")
    assert "not set up in this community" in h.private("alice", lines)
    assert await h.store.list_cases("cafe") == []


async def test_first_aid_choice_e_offers_the_link_on_the_existing_case(protect_app):
    h, listener = protect_app
    lines = await h.run("as alice", "report someone says they will post my pictures unless I pay")
    first = h.private("alice", lines)
    assert "E) Protect my pictures" in first
    lines = await h.run("dm e")
    text = h.private("alice", lines)
    assert LINK.search(text) and "never the pictures" in text
    cases = await h.store.list_cases("cafe")
    assert len(cases) == 1  # the link is for the open case, no new one
    assert LINK.search(text).group(2).split(".")[0] == str(cases[0].id)


async def test_rate_limited_kindly_and_nothing_but_counts_in_the_log(protect_app, tmp_path, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    h, listener = protect_app
    _, token = await offer(h)
    pics = [save(photo(40 + i, 640, 480), tmp_path / f"q{i}.jpg", "jpeg") for i in range(2)]
    items = items_for(pics)
    status, body = await post(listener, "/protect/submit", {"token": token, "items": items})
    assert status == 200
    seen = []
    for _ in range(25):
        seen.append(await post(listener, "/protect/check", {"token": "1." + "B" * 32}))
    assert seen[0][0] == 403 and seen[-1][0] == 429
    assert "wait a minute" in seen[-1][1]["message"]
    log = caplog.text
    assert "2 entries added" in log and "refused by the rate limit" in log
    secret = token.split(".")[1]
    assert secret not in log and all(i["pdq"] not in log and i["md5"] not in log for i in items)


async def test_a_closed_case_ends_its_links_and_says_nothing_to_strangers(protect_app):
    h, listener = protect_app
    _, token = await offer(h)
    case_id = token.split(".")[0]
    await h.run("as mia", "close 1 unfounded")
    status, body = await post(listener, "/protect/check", {"token": token})
    assert status == 403 and "expired" in body["message"]
    status, body = await post(listener, "/protect/check", {"token": f"{case_id}.{'C' * 32}"})
    assert status == 403 and "does not work" in body["message"]  # no hint that the case exists or closed


async def test_asking_in_words_gets_the_offer(protect_app):
    h, listener = protect_app
    lines = await h.run("as alice", "dm Protect my pictures")
    assert LINK.search(h.private("alice", lines))
    lines = await h.run("locale de", "dm meine Bilder schützen")
    text = h.private("alice", lines)
    assert "?lang=de#" in LINK.search(text).group(0) and "nie die Bilder" in text
    assert len(await h.store.list_cases("cafe")) == 1  # one case, two links


async def test_withdraw_after_the_team_closed_the_case_still_unblocks(protect_app, tmp_path):
    h, listener = protect_app
    _, token = await offer(h)
    pic = save(photo(77, 640, 480), tmp_path / "c.jpg", "jpeg")
    assert (await post(listener, "/protect/submit", {"token": token, "items": items_for([pic])}))[0] == 200
    await h.run("as mia", "close 1 actioned")
    lines = await h.run("as bob", "withdraw")  # bob has nothing: nothing changes
    assert "could not find an open report" in h.private("bob", lines)
    assert {e.status for e in await h.store.bank_entries("friends")} == {"active"}
    lines = await h.run("as alice", "withdraw")
    assert "unblocked" in h.private("alice", lines)
    assert {e.status for e in await h.store.bank_entries("friends")} == {"withdrawn"}


def test_public_url_is_checked(tmp_path):
    from safety_bot.config import DataFileError, load_config
    from tests.harness import write_config

    cfg = load_config(write_config(tmp_path, {"http": {"listen": 8080, "public_url": "https://s.example.org/bot/"}}),
                      env={})
    assert cfg.http.public_url == "https://s.example.org/bot"
    for bad in ("ftp://s.example.org", "s.example.org", "https://s.example.org/?x=1", "https://s.example.org/#a"):
        with pytest.raises(DataFileError) as exc:
            load_config(write_config(tmp_path, {"http": {"listen": 8080, "public_url": bad}}), env={})
        assert "http.public_url" in str(exc.value)
    with pytest.raises(DataFileError) as exc:
        load_config(write_config(tmp_path, {"http": {"public_url": "https://s.example.org"}}), env={})
    assert "needs http.listen" in str(exc.value)


async def test_no_choice_e_where_the_page_is_not_set_up(h):
    lines = await h.run("as alice", "report someone says they will post my pictures")
    assert "A) What should I do now?" in h.private("alice", lines) and "E) Protect" not in h.private("alice", lines)


async def test_database_down_nothing_changes_and_the_link_still_works(h, tmp_path):
    from safety_bot.protect import offer, submit

    await h.run("as alice", "report they threaten to post my pictures")
    [case] = await h.store.list_cases("cafe")
    token = await offer.issue_link(h.store, case, case.reporter, h.app.service.clock())
    await h.store.save_case(case)
    item = items_for([save(photo(90, 640, 480), tmp_path / "d.jpg", "jpeg")])
    h.store.unavailable = True
    res = await submit.submit(h.app.service, token, item, "en")
    assert (res.ok, res.status) == (False, 503) and "nothing was sent" in res.message
    h.store.unavailable = False
    assert await h.store.bank_entries("friends") == []
    res = await submit.submit(h.app.service, token, item, "en")
    assert res.ok and res.added == 1


async def test_a_link_another_process_just_spent_is_refused_and_adds_nothing(h, tmp_path):
    """Several bot processes may serve the page: the link's claim lives in the shared store, and only the
    submission that takes it adds entries (here the other process is played by taking the claim first)."""
    from safety_bot.protect import links, offer, submit

    await h.run("as alice", "report they threaten to post my pictures")
    [case] = await h.store.list_cases("cafe")
    token = await offer.issue_link(h.store, case, case.reporter, h.app.service.clock())
    await h.store.save_case(case)
    item = items_for([save(photo(91, 640, 480), tmp_path / "e.jpg", "jpeg")])
    assert await h.store.take_confirmation(links.claim_code(links.issued_digest(token)))
    res = await submit.submit(h.app.service, token, item, "en")
    assert (res.ok, res.status) == (False, 403) and "already used" in res.message
    assert await h.store.bank_entries("friends") == []
