"""Shared fixtures for the Discord adapter tests: the fake Discord, a two-server world in one network,
and the product (App + DiscordAdapter) started against the fake with the real discord.py client."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from adapters.discord import DiscordAdapter
from safety_bot.app import App
from safety_bot.config import load_config
from tests.fakes.discord_server import BAN_MEMBERS, EPHEMERAL, VIEW_CHANNEL, FakeDiscord, pings

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
async def fake():
    async with FakeDiscord() as f:
        f.interaction_timeout = 10.0  # Discord allows 3 s; a busy 2-core test machine needs more
        yield f


@pytest.fixture
def world(fake: FakeDiscord) -> SimpleNamespace:
    """Two servers of network 'friends'. Haven: safety role + private #safety; Harbor likewise.
    alice reports, mod is on both safety teams, suspect is in both, bob is an ordinary member."""
    w = SimpleNamespace()
    w.haven = fake.add_guild("Haven")
    w.harbor = fake.add_guild("Harbor")
    w.role = fake.add_role(w.haven, "Safety Team")  # no Ban Members: the role itself counts
    w.role2 = fake.add_role(w.harbor, "Safety Team")
    w.general = fake.add_channel(w.haven, "general")
    w.art = fake.add_channel(w.haven, "art")
    w.safety = fake.add_channel(w.haven, "safety", private=True, overwrites={w.role: (VIEW_CHANNEL, 0)})
    w.lobby = fake.add_channel(w.harbor, "lobby")
    w.safety2 = fake.add_channel(w.harbor, "mods-only", private=True, overwrites={w.role2: (VIEW_CHANNEL, 0)})
    w.alice = fake.add_member(w.haven, name="alice")
    w.bob = fake.add_member(w.haven, name="bob")
    w.mod = fake.add_member(w.haven, name="mod", roles=[w.role])
    w.suspect = fake.add_member(w.haven, name="suspect")
    fake.add_member(w.harbor, w.mod, roles=[w.role2])
    fake.add_member(w.harbor, w.suspect)
    fake.add_member(w.harbor, w.bob)
    # someone with Ban Members but not in the safety role: does not count where a role is configured
    w.banner_role = fake.add_role(w.haven, "Old mods", permissions=BAN_MEMBERS)
    w.oldmod = fake.add_member(w.haven, name="oldmod", roles=[w.banner_role])
    return w


def discord_config(tmp_path: Path, fake: FakeDiscord, w: SimpleNamespace, *, db: str | None = None,
                   guilds: list | None = None, discord_extra: dict | None = None, playbooks: str | None = None):
    guilds = guilds or [
        {"id": w.haven, "safety_channel": w.safety, "safety_role": w.role, "network": "friends"},
        {"id": w.harbor, "safety_channel": w.safety2, "safety_role": w.role2, "network": "friends"},
    ]
    data = {
        "playbooks": playbooks or str(ROOT / "playbooks"),
        "storage": {"database": db or str(tmp_path / "db.sqlite3")},
        "exports_dir": str(tmp_path / "exports"),
        "discord": {"token": "${DISCORD_TOKEN}", "guilds": guilds, "api_base_url": fake.api_base_url,
                    "gateway_url": fake.gateway_url, **(discord_extra or {})},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_config(path, env={"DISCORD_TOKEN": fake.token})


@contextlib.asynccontextmanager
async def running_bot(config):
    """The product as `safety-bot run` starts it: App, DiscordAdapter.run(); stopped cleanly after."""
    async with App(config) as app:
        adapter = DiscordAdapter(app, ready_timeout=0.05)
        task = asyncio.create_task(adapter.run())
        ready = asyncio.create_task(adapter.ready.wait())
        await asyncio.wait({task, ready}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        assert ready.done(), "the adapter did not become ready"
        try:
            yield adapter
        finally:
            await adapter.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 60)


@pytest.fixture
async def bot(tmp_path, fake, world):
    async with running_bot(discord_config(tmp_path, fake, world)) as adapter:
        yield adapter


# ---------------------------------------------------------------------- what each party sees
def contents(messages) -> str:
    """All text of bot messages: content, embed titles/descriptions/fields."""
    out = []
    for m in messages:
        out.append(m.get("content") or "")
        for e in m.get("embeds") or []:
            out += [e.get("title") or "", e.get("description") or ""]
            out += [f"{f['name']}: {f['value']}" for f in e.get("fields", [])]
    return "\n".join(out)


def ephemeral_text(it) -> str:
    return contents([m for m in it.messages if m["flags"] & EPHEMERAL])


def custom_ids(message: dict) -> list[str]:
    ids = []
    for row in message.get("components") or []:
        for c in row.get("components", []):
            if c.get("custom_id"):
                ids.append(c["custom_id"])
    return ids


def public_channels(w) -> list[int]:
    return [w.general, w.art, w.lobby]


def bot_messages(fake: FakeDiscord, channel: int) -> list[dict]:
    """What the bot posted publicly in a channel (ephemeral replies are not channel messages)."""
    return [m for m in fake.messages(channel) if m["author"]["id"] == str(fake.bot_id)]


def nobody_pinged(fake: FakeDiscord, allowed_role_pings: dict | None = None) -> bool:
    """No bot message notifies @everyone/@here or any user; role pings only as allowed
    ({channel id: role id}: the safety role in its safety channel, for urgent cases)."""
    for m in fake.messages_by_id.values():
        if m["author"]["id"] == str(fake.bot_id):
            p = pings(m)
            if p["everyone"] or p["users"]:
                return False
            if p["roles"] and p["roles"] != {(allowed_role_pings or {}).get(int(m["channel_id"]))}:
                return False
    return True


async def wait_messages(fake: FakeDiscord, channel: int, count: int = 1, timeout: float = 60) -> list:
    return await fake.wait_for(lambda: (lambda ms: ms if len(ms) >= count else None)(fake.messages(channel)),
                               timeout, f"{count} message(s) in channel {channel}")


@pytest.fixture
def listserver():
    """A local HTTP server serving shared lists (tests/lists/listserver.py)."""
    from tests.lists.listserver import ListServer

    s = ListServer()
    yield s
    s.close()
