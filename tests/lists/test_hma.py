"""The optional HMA lookup backend (issue 19, item 2), against a fake HMA server: matches act per
`media.hma.action`, never ban, are remembered with their provenance; HMA failing (HTTP 500, timeout,
garbage, refused, wrong token) leaves the own bank working and is told to the team once."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from safety_bot.actions import BanUser, PostToTeam, RemoveMessage
from safety_bot.config import DataFileError
from safety_bot.domain import MessageRef, UserRef
from safety_bot.media import hash_image_bytes
from tests.fakes.hma_server import FakeHma
from tests.harness import make_harness, write_config
from tests.media.test_hashing import generate

BOB = UserRef("console", "bob", "bob")


def jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    generate(seed, 640, 480).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def hma():
    fake = FakeHma()
    yield fake
    fake.close()


async def harness(tmp_path, hma_url, action="flag", timeout=3.0, token="hma-secret"):
    media = {"hma": {"url": hma_url, "token": "${HMA_TOKEN}", "action": action, "timeout_seconds": timeout}}
    return await make_harness(tmp_path, {"media": media}, env={"HMA_TOKEN": token})


async def upload(h, data: bytes, mid: str, who: UserRef = BOB):
    return await h.app.bank.check("cafe", MessageRef("console", "cafe", "general", mid, ""), who,
                                  [hash_image_bytes(data)], sizes=[len(data)])


def kinds(out):
    return [type(a).__name__ for a in out.actions]


async def test_a_match_in_hma_is_flagged_with_its_provenance_then_matched_locally(tmp_path, hma):
    image = jpeg(31)
    hma.banks["ncii"] = [hash_image_bytes(jpeg(31)).pdq]
    h = await harness(tmp_path, hma.url)
    try:
        assert h.app.bank.has_entries("friends")  # adapters download uploads so HMA can be asked
        assert (await upload(h, jpeg(32), "m0")).actions == []  # another picture: no match
        out = await upload(h, image, "m1")
        [post] = [a for a in out.actions if isinstance(a, PostToTeam)]
        assert kinds(out) == ["PostToTeam"] and "from the shared list hma-friends" in post.text
        assert hma.requests[-1]["auth"] == "Bearer hma-secret" and hma.requests[-1]["query"]["signal_type"] == "pdq"
        n = hma.lookups()
        out = await upload(h, image, "m2", UserRef("console", "carol", "carol"))  # now known here
        assert kinds(out) == ["PostToTeam"] and hma.lookups() == n
        [lst] = await h.store.shared_lists("hashes")
        assert (lst.name, lst.action, lst.size) == ("hma-friends", "flag", 1)
    finally:
        await h.app.__aexit__(None, None, None)


async def test_with_action_remove_a_match_is_removed_but_nobody_is_banned(tmp_path, hma):
    image = jpeg(33)
    hma.banks["ncii"] = [hash_image_bytes(image).pdq]
    h = await harness(tmp_path, hma.url, action="remove")
    try:
        out = await upload(h, image, "m1")
        assert [a for a in out.actions if isinstance(a, RemoveMessage)]
        assert not [a for a in out.actions if isinstance(a, BanUser)]
    finally:
        await h.app.__aexit__(None, None, None)


@pytest.mark.parametrize("mode,problem", [("500", "HTTP 500"), ("garbage", "not JSON"), ("slow", "timeout"),
                                          ("token", "HTTP 401"), ("down", "cannot connect")])
async def test_hma_failing_is_told_once_and_the_own_bank_keeps_working(tmp_path, hma, mode, problem):
    url = hma.url
    if mode == "down":
        hma.close()
    else:
        hma.mode = mode if mode != "token" else ""
    h = await harness(tmp_path, url, timeout=0.5, token="wrong" if mode == "token" else "hma-secret")
    try:
        await h.run("as mia", "open @bob posts her pictures --category sextortion")
        case = (await h.store.list_cases("cafe"))[-1]
        own = jpeg(41)
        await h.app.bank.bank_from_hashes(case, [hash_image_bytes(own, with_variants=True)], "console:mia")
        out = await upload(h, jpeg(42), "m1")
        [post] = out.actions
        assert isinstance(post, PostToTeam) and problem in post.text and "own hash bank" in post.text
        assert (await upload(h, jpeg(43), "m2")).actions == []  # said once
        out = await upload(h, own, "m3")  # the own bank still removes and bans the accused
        assert {"RemoveMessage", "BanUser"} <= set(kinds(out))
    finally:
        await h.app.__aexit__(None, None, None)


async def test_after_hma_recovers_a_new_failure_is_told_again(tmp_path, hma):
    h = await harness(tmp_path, hma.url)
    try:
        hma.mode = "500"
        assert kinds(await upload(h, jpeg(51), "m1")) == ["PostToTeam"]
        hma.mode = ""
        assert (await upload(h, jpeg(52), "m2")).actions == []
        hma.mode = "500"
        assert kinds(await upload(h, jpeg(53), "m3")) == ["PostToTeam"]
    finally:
        await h.app.__aexit__(None, None, None)


def test_the_token_must_come_from_the_environment_and_the_url_must_be_http(tmp_path):
    from safety_bot.config import load_config

    cfg = write_config(tmp_path, {"media": {"hma": {"url": "https://hma.example", "token": "literal"}}})
    with pytest.raises(DataFileError, match="secrets must come from the environment"):
        load_config(cfg, env={})
    cfg = write_config(tmp_path, {"media": {"hma": {"url": "hma.example"}}})
    with pytest.raises(DataFileError, match="url"):
        load_config(cfg, env={})
