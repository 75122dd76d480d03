"""The "protect my pictures" page in real headless Chromium at phone size: open the bot's link, pick
files, see exactly the hash strings, send, see the confirmation; then a re-upload of one of those pictures
is removed, on the console and on the fake Discord. Every request the page makes is intercepted: same
origin only, no body over a few kilobytes, no image data. Expired, used and foreign links are refused
kindly. Screenshots at phone size go to test-output/screenshots/ (not committed)."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from safety_bot.media import hamming, hash_image_file
from tests.browser.conftest import PUBLIC_URL, SCREENSHOTS, local
from tests.browser.pictures import photo, save

LINK = re.compile(re.escape(PUBLIC_URL) + r"/protect\?lang=\w+#\S+")
MAX_BODY = 4096
IMAGE_MARKERS = (b"\xff\xd8\xff", b"\x89PNG", b"WEBP", b"ftyp", b"data:image", b"/9j/", b"iVBOR", b"UklGR")


class Watch:
    """Every request the page makes, checked as it goes out (then let through)."""

    def __init__(self, origin: str):
        self.origin = origin
        self.requests: list[tuple[str, str, bytes]] = []

    async def handle(self, route):
        req = route.request
        body = req.post_data_buffer or b""
        self.requests.append((req.method, req.url, body))
        await route.continue_()

    def check(self) -> None:
        assert self.requests
        for method, url, body in self.requests:
            parts = urlsplit(url)
            assert f"{parts.scheme}://{parts.netloc}" == self.origin, url
            assert len(body) <= MAX_BODY, (url, len(body))
            assert not any(m in body for m in IMAGE_MARKERS), url

    def posts(self, path: str) -> list[bytes]:
        return [b for m, u, b in self.requests if m == "POST" and urlsplit(u).path == path]


async def open_page(browser, url: str, listener):
    page = await browser.new_page()
    watch = Watch(listener.url)
    await page.route("**/*", watch.handle)
    await page.goto(local(url, listener))
    return page, watch


def files_for(tmp_path):
    pics = [save(photo(200, 1600, 1200), tmp_path / "beach.jpg", "jpeg", 6),
            save(photo(201, 1080, 1350), tmp_path / "mirror.png", "png"),
            save(photo(202, 1200, 900), tmp_path / "night.webp", "webp", 3)]
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 400)  # a stand-in: only its MD5 is used
    return pics, video


async def pick_send_confirm(page, watch, pics, video, shot: str) -> list[str]:
    await page.wait_for_selector("#pick:not([hidden])")
    await page.set_input_files("#files", [str(p) for p in pics] + [str(video)])
    await page.wait_for_function("() => document.querySelectorAll('#hashes li').length === 4")
    shown = await page.eval_on_selector_all(
        "#hashes li", "els => els.map(e => [...e.querySelectorAll('code.hash')].map(c => c.textContent))")
    assert watch.posts("/protect/submit") == []  # nothing sent before the member presses send
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{shot}-review.png"), full_page=True)
    await page.click("#send")
    await page.wait_for_selector("#done:not([hidden])")
    await page.screenshot(path=str(SCREENSHOTS / f"{shot}-done.png"), full_page=True)
    # what was sent is exactly what was shown, and nothing else
    [body] = watch.posts("/protect/submit")
    import json

    sent = json.loads(body)
    assert set(sent) == {"token", "items"}
    lines = []
    for item in sent["items"]:
        if "video_md5" in item:
            lines.append([f"video_md5 {item['video_md5']}"])
        else:
            assert set(item) == {"pdq", "quality", "md5", "variants"}
            lines.append([f"pdq {item['pdq']}", f"quality {item['quality']}", f"md5 {item['md5']}",
                          *(f"variant {v}" for v in item["variants"])])
    assert shown == lines  # exactly what was on the screen, and nothing else
    watch.check()
    return ["\n".join(s) for s in shown]


def check_hashes(shown: list[str], pics, video) -> None:
    for text, path in zip(shown, pics):
        pdq = re.search(r"pdq ([0-9a-f]{64})", text).group(1)
        assert hamming(pdq, hash_image_file(path).pdq) <= 10, path.name
        assert f"md5 {hashlib.md5(path.read_bytes()).hexdigest()}" in text
    assert shown[3] == f"video_md5 {hashlib.md5(video.read_bytes()).hexdigest()}"
    assert all(len(re.findall(r"variant [0-9a-f]{64}", s)) >= 6 for s in shown[:3])


async def test_member_blocks_pictures_from_the_phone_and_a_reupload_is_removed_on_the_console(
        protect_app, browser, tmp_path):
    h, listener = protect_app
    lines = await h.run("as alice", "protect")
    url = LINK.search(h.private("alice", lines)).group(0)
    page, watch = await open_page(browser, url, listener)
    assert "Your pictures never leave your device." in await page.inner_text("main")
    assert "withdraw" in await page.inner_text("main")
    pics, video = files_for(tmp_path)
    shown = await pick_send_confirm(page, watch, pics, video, "protect-en")
    check_hashes(shown, pics, video)
    assert "4 of your pictures or videos are now blocked" in await page.inner_text("#done")
    [case] = await h.store.list_cases("cafe")
    entries = [e for e in await h.store.bank_entries("friends") if e.case_id == case.id]
    assert len(entries) == 4
    assert "the member added 4 entries to the hash bank from their own device" in h.team()
    # bob posts the beach picture (re-encoded by his phone): removed, the team told
    again = save(photo(200, 1600, 1200), tmp_path / "IMG_2231.jpg", "jpeg", 6)
    lines = await h.run("as bob", f"picture general {again}")
    assert any("re-upload of banked media" in l for l in lines), lines
    assert all(m.deleted for m in h.console.world.messages.values() if m.author == "bob")
    # carol posts the mirror picture turned upright and mirrored (as a phone's front camera does): removed too
    from PIL import Image, ImageOps

    mirrored = tmp_path / "selfie.jpg"
    ImageOps.mirror(Image.open(pics[1]).convert("RGB")).save(mirrored, "JPEG", quality=88)
    lines = await h.run("as carol", f"picture general {mirrored}")
    assert any("re-upload of banked media" in l for l in lines), lines
    # the same link again, in a new tab: refused kindly, before anything is picked
    page2, watch2 = await open_page(browser, url, listener)
    await page2.wait_for_function("() => document.getElementById('status').textContent.length > 20")
    assert "already used" in await page2.inner_text("#status")
    assert await page2.is_hidden("#pick")
    watch2.check()


async def test_german_page_expired_and_foreign_links(protect_app, browser, tmp_path):
    h, listener = protect_app
    await h.run("as alice", "locale de")
    lines = await h.run("protect")
    url = LINK.search(h.private("alice", lines)).group(0)
    assert "?lang=de#" in url
    page, watch = await open_page(browser, url, listener)
    assert "Deine Bilder verlassen nie dein Gerät." in await page.inner_text("main")
    await page.wait_for_selector("#pick:not([hidden])")
    await page.screenshot(path=str(SCREENSHOTS / "protect-de.png"), full_page=True)
    # 31 minutes later the link has expired
    h.offset[0] += 31 * 60
    page2, _ = await open_page(browser, url, listener)
    await page2.wait_for_function("() => document.getElementById('status').textContent.length > 20")
    assert "abgelaufen" in await page2.inner_text("#status")
    # a foreign link: bob's token with alice's case number
    lines = await h.run("as bob", "protect")
    bob_url = LINK.search(h.private("bob", lines)).group(0)
    alice_case = url.split("#")[1].split(".")[0]
    forged = bob_url.split("#")[0] + "#" + alice_case + "." + bob_url.split("#")[1].split(".")[1]
    page3, watch3 = await open_page(browser, forged, listener)
    await page3.wait_for_function("() => document.getElementById('status').textContent.length > 20")
    assert "funktioniert nicht" in await page3.inner_text("#status")
    assert await h.store.bank_entries("friends") == []
    watch.check()
    watch3.check()


async def test_on_discord_protect_link_page_and_a_reupload_removed(tmp_path, browser, fake, world):
    """/protect on the fake Discord (real discord.py client): the link arrives ephemerally, the member
    blocks pictures on the page, another member's upload of one of them is deleted and the team told."""
    import yaml

    from safety_bot.config import load_config
    from safety_bot.ops.health import start_http
    from tests.discord.conftest import contents, discord_config, ephemeral_text, running_bot
    from tests.discord.test_adapter_media import jpeg, post_image
    from tests.fakes.discord_server import EPHEMERAL

    w = world  # the fake Discord of tests/discord (fixtures `fake`, `world`)
    base = discord_config(tmp_path, fake, w)
    path = tmp_path / "config-protect.yaml"
    data = yaml.safe_load((tmp_path / "config.yaml").read_text())
    data["http"] = {"listen": "127.0.0.1:0", "public_url": PUBLIC_URL}
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, env={"DISCORD_TOKEN": fake.token})
    assert config.discord.guilds == base.discord.guilds
    async with running_bot(config) as bot:
        listener = await start_http(bot.app)
        try:
            it = await fake.send_slash_command(w.haven, w.general, w.alice, "protect")
            await it.wait_messages(1)
            text = await fake.wait_for(lambda: (lambda t: t if LINK.search(t) else None)(ephemeral_text(it)))
            assert all(m["flags"] & EPHEMERAL for m in it.messages) and "never the pictures" in text
            assert not LINK.search(contents(fake.messages(w.general)))  # never in a channel
            page, watch = await open_page(browser, LINK.search(text).group(0), listener)
            pics, video = files_for(tmp_path)
            await pick_send_confirm(page, watch, pics, video, "protect-discord")
            await fake.wait_for(lambda: "from their own device" in contents(fake.messages(w.safety)))
            # bob (not the accused) posts the night picture, saved again by his phone as JPEG
            from PIL import Image, ImageOps

            again = jpeg(ImageOps.exif_transpose(Image.open(pics[2])).convert("RGB"), 85)
            mid, _ = await post_image(fake, w.general, w.bob, again, "look", "IMG_0001.jpg")
            await fake.wait_for(lambda: mid in fake.deleted_message_ids, 60, "the re-upload to be removed")
            await fake.wait_for(lambda: "re-upload of banked media" in contents(fake.messages(w.safety)))
            assert w.bob not in fake.bans(w.haven)  # remove and tell the team: no automatic ban
        finally:
            await listener.stop()
