"""Browser tests: Debian's chromium (installed by `make test`: tests/browser/install_chromium.sh), driven
by Playwright, headless, with a fresh profile per test and no background networking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.discord.conftest import fake, world  # noqa: F401  (the fake Discord, for the Discord page test)

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}  # a common phone's CSS viewport
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"  # gitignored


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("Debian's chromium is missing (/usr/bin/chromium). `make test` installs it with "
                    "tests/browser/install_chromium.sh (as root, or with sudo -n).", pytrace=False)
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path, tmp_path):
    """A Chromium browser context with a new, empty profile (closed after the test)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium_path, headless=True, args=FLAGS,
            viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        try:
            yield context
        finally:
            await context.close()


PUBLIC_URL = "https://safety.example.org/bot"  # the reverse proxy's address in links (see README)


@pytest.fixture
async def protect_app(tmp_path):
    """A console community with the hash bank, the HTTP listener and the protect page on (SQLite)."""
    from safety_bot.ops.health import start_http
    from tests.harness import make_harness

    h = await make_harness(tmp_path, {"http": {"listen": "127.0.0.1:0", "public_url": PUBLIC_URL}}, sqlite=True)
    listener = await start_http(h.app)
    try:
        yield h, listener
    finally:
        await listener.stop()
        await h.app.__aexit__(None, None, None)


def local(url: str, listener) -> str:
    """A link the bot gave (public address) as the reverse proxy forwards it: to the listener itself."""
    assert url.startswith(PUBLIC_URL + "/"), url
    return listener.url + url[len(PUBLIC_URL):]
