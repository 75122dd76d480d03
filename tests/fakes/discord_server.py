"""A fake Discord (REST API v10 + gateway) on 127.0.0.1 that the real discord.py client can use offline.

    async with FakeDiscord() as fake:
        gid = fake.add_guild("Test")
        chan, alice = fake.add_channel(gid, "general"), fake.add_member(gid, name="alice")
        async with fake.running(client):  # patch discord.py, log in, wait for on_ready, close on exit
            it = await fake.send_slash_command(gid, chan, alice, "safety", subcommand="report")
            assert (await it.wait_response()).ephemeral

Realism that matters for a moderation bot: permissions are computed like Discord (roles, channel
overwrites, owner, administrator, timeouts), so a bot without BAN_MEMBERS gets 403/50013 and a
private channel hides its messages; privileged intents are honoured (no MESSAGE_CONTENT -> empty
content for other people's guild messages, except mentions and context-menu targets; no
GUILD_PRESENCES -> GUILD_CREATE lists only the bot and discord.py chunks members over op 8); an
interaction not answered within ``interaction_timeout`` (3 s) gets 404/10062.
Every REST call is recorded in ``fake.requests``; routes the fake lacks answer 404 and are logged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import math
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, NamedTuple, Optional

from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from tests.fakes.discord_automod import AutoModFake  # noqa: E402  (AutoMod endpoints and events)

log = logging.getLogger("fake_discord")

DISCORD_EPOCH_MS = 1420070400000
# Permission bits (same values as discord.Permissions).
KICK_MEMBERS, BAN_MEMBERS, ADMINISTRATOR, MANAGE_GUILD = 1 << 1, 1 << 2, 1 << 3, 1 << 5
VIEW_CHANNEL, SEND_MESSAGES, MANAGE_MESSAGES = 1 << 10, 1 << 11, 1 << 13
THREAD_TYPES = (10, 11, 12)  # announcement, public and private threads
EMBED_LINKS, ATTACH_FILES, READ_MESSAGE_HISTORY = 1 << 14, 1 << 15, 1 << 16
MANAGE_ROLES, MODERATE_MEMBERS, ALL_PERMISSIONS = 1 << 28, 1 << 40, (1 << 51) - 1
DEFAULT_EVERYONE_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | EMBED_LINKS | ATTACH_FILES
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS | MANAGE_MESSAGES | BAN_MEMBERS | KICK_MEMBERS | MODERATE_MEMBERS
# Gateway intents that change what the fake sends.
INTENT_GUILD_MEMBERS, INTENT_GUILD_MODERATION, INTENT_GUILD_PRESENCES = 1 << 1, 1 << 2, 1 << 8
INTENT_GUILD_MESSAGES, INTENT_DIRECT_MESSAGES, INTENT_MESSAGE_CONTENT = 1 << 9, 1 << 12, 1 << 15
# Application command option types.
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN = 1, 2, 3, 4, 5
USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 6, 7, 8, 9, 10, 11
# Message flags.
EPHEMERAL, LOADING = 64, 128

# How long a test waits for a condition before it fails. Generous: the tests run on a busy 2-core machine
# (other suites beside them); a condition that holds returns at once, so this only costs time on failure.
WAIT = 60.0


class Typed(NamedTuple):
    """Explicitly typed option value, e.g. ``Typed(USER, 1234)``. Only needed for commands that were not
    synced to the fake (synced ones give the types) when the Python type guesses wrong (int -> INTEGER)."""
    type: int
    value: Any


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message = status, code, message


@dataclass
class Recorded:
    """One HTTP request as the fake saw it. ``reason`` is the URL-decoded X-Audit-Log-Reason."""
    method: str
    path: str  # after /api/v10
    query: dict
    json: Any  # JSON body, or payload_json of a multipart body
    headers: CIMultiDict
    reason: Optional[str]
    files: list = field(default_factory=list)  # uploads: {"name", "filename", "content_type", "data"}
    status: int = 0
    response: Any = None


@dataclass
class FailRule:
    method: str
    pattern: re.Pattern
    status: int
    code: int
    message: str
    times: Optional[int]  # None: forever


@dataclass
class Ban:
    user_id: int
    reason: Optional[str]
    delete_message_seconds: Optional[int]


@dataclass
class DeletedMessage:
    id: int
    channel_id: int
    how: str  # "delete", "bulk", or "ban" (removed by delete_message_seconds)
    reason: Optional[str]


@dataclass
class InteractionRecord:
    """Handle for one dispatched interaction and everything the bot answered to it."""
    fake: FakeDiscord
    id: int
    token: str
    type: int  # 2 application command, 3 component, 5 modal submit
    guild_id: Optional[int]
    channel_id: int
    user_id: int
    payload: dict  # the INTERACTION_CREATE data sent to the client
    message_id: Optional[int] = None  # message carrying the pressed component
    created: float = field(default_factory=time.monotonic)
    callbacks: list = field(default_factory=list)  # callback bodies {"type", "data"}; more than one is an error
    original: Optional[dict] = None  # original response message (live: edits show up here)
    followups: list = field(default_factory=list)
    modal: Optional[dict] = None  # data of a type 9 (modal) callback

    @property
    def response_type(self) -> Optional[int]:
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def ephemeral(self) -> bool:
        return bool(self.original and self.original["flags"] & EPHEMERAL)

    @property
    def messages(self) -> list:
        """Messages answering this interaction: the original response (type 4/5), then follow-ups."""
        first = [self.original] if self.original and self.response_type in (4, 5) else []
        return first + [m for m in self.followups if m is not self.original]

    async def wait_response(self, timeout: float = WAIT) -> InteractionRecord:
        await self.fake.wait_for(lambda: self.callbacks, timeout, f"a response to interaction {self.id}")
        return self

    async def wait_messages(self, count: int = 1, timeout: float = WAIT) -> list:
        """Wait for ``count`` finished (not "thinking") messages, e.g. defer then follow-up."""
        def done():
            msgs = [m for m in self.messages if not m["flags"] & LOADING]
            return msgs if len(msgs) >= count else None
        return await self.fake.wait_for(done, timeout, f"{count} message(s) for interaction {self.id}")


class _Session:
    def __init__(self, session_id: str, intents: int):
        self.id, self.intents, self.seq = session_id, intents, 0
        self.events: list = []  # (seq, frame), replayed on RESUME
        self.ws: Optional[web.WebSocketResponse] = None
        self.shard: tuple[int, int] = (0, 1)  # (shard id, shard count) from IDENTIFY


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _int(value: Any) -> int:
    return int(getattr(value, "value", value))  # accepts ints and discord.Permissions


def pings(message: dict) -> dict:
    """Who a message the bot sent really notifies, honouring its ``allowed_mentions`` like Discord.
    Returns ``{"users": set[int], "roles": set[int], "everyone": bool}``."""
    content, am = message.get("content") or "", message.get("allowed_mentions")
    parse = {"users", "roles", "everyone"} if am is None else set(am.get("parse", []))
    users = {int(x) for x in re.findall(r"<@!?(\d+)>", content)}
    roles = {int(x) for x in re.findall(r"<@&(\d+)>", content)}
    return {"users": users if "users" in parse else users & {int(x) for x in (am or {}).get("users", [])},
            "roles": roles if "roles" in parse else roles & {int(x) for x in (am or {}).get("roles", [])},
            "everyone": "everyone" in parse and ("@everyone" in content or "@here" in content)}


class FakeDiscord(AutoModFake):
    """Fake Discord. ``async with FakeDiscord() as fake`` starts and stops it."""

    def __init__(self, *, bot_name: str = "safety-bot", token: str = "fake-bot-token"):
        self.token, self.port = token, 0
        self._counter, self._last_id = itertools.count(1), 0
        self.users: dict[int, dict] = {}  # id -> user payload
        self.guilds: dict[int, dict] = {}  # id -> {"name", "owner_id", "roles", "members", "bans", ...}
        self.channels: dict[int, dict] = {}
        self.messages_by_id: dict[int, dict] = {}  # id -> message payload (live)
        self.commands: dict[Optional[int], dict[str, dict]] = {None: {}}  # guild id (None: global) -> name -> cmd
        self.interactions: dict[int, InteractionRecord] = {}
        self.requests: list[Recorded] = []
        self.unhandled: list[Recorded] = []  # requests to routes the fake does not implement
        self.deleted: list[DeletedMessage] = []
        self.dms_closed: set[int] = set()
        self.gateway_log: list = []  # ("recv"|"send", op, event name)
        self.identify_count = self.resume_count = 0
        self.interaction_timeout: Optional[float] = 3.0
        # Discord's global limit: 50 requests per second per bot token (interaction routes exempt); over it,
        # 429 with "global": true. None turns it off. `request_times`: when each bot request was accepted.
        self.global_rate_limit: Optional[int] = 50
        self.request_times: list[float] = []
        self.rate_limited = 0  # 429s answered for the global limit
        self.limited: list[Recorded] = []  # the requests answered with that 429 (not in `requests`)
        self._recent: collections.deque = collections.deque()
        self.enforce_message_content_intent = True
        self._dm_by_user: dict[int, int] = {}
        self.attachment_data: dict[int, bytes] = {}  # attachment id -> bytes served by the fake CDN
        self.cdn_requests: list[int] = []  # attachment ids fetched from the fake CDN, in order
        self._failures: list[FailRule] = []
        self._sessions: dict[str, _Session] = {}
        self._session: Optional[_Session] = None
        self._channel_positions: dict[int, int] = {}  # guild id -> position of its latest channel
        self._channels_of: dict[int, list[int]] = {}  # guild id -> its channel ids, in order
        self._shards: dict[int, _Session] = {}  # shard id -> its session, when clients IDENTIFY with shards
        self.shard_count = 1
        self._sockets: set = set()
        self._runner: Optional[web.AppRunner] = None
        self._automod_init()
        self._route_table = self._routes() + self._automod_routes()
        self.bot_id = self.add_user(bot_name, bot=True)
        self.application_id = self.snowflake()
        self.app_owner_id = self.add_user("app-owner")

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/", self._gateway)
        app.router.add_get("/cdn/attachments/{aid}/{filename}", self._cdn)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._http)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @contextlib.contextmanager
    def patch_discord(self):
        """Point ``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` here; restore after."""
        import yarl
        from discord import gateway, http
        old = http.Route.BASE, gateway.DiscordWebSocket.DEFAULT_GATEWAY
        http.Route.BASE, gateway.DiscordWebSocket.DEFAULT_GATEWAY = self.api_base_url, yarl.URL(self.gateway_url)
        try:
            yield self
        finally:
            http.Route.BASE, gateway.DiscordWebSocket.DEFAULT_GATEWAY = old

    @contextlib.asynccontextmanager
    async def running(self, client, timeout: float = WAIT):
        """Patch discord.py, ``client.start(fake.token)``, wait for on_ready; close the client on exit.
        Create the client with ``guild_ready_timeout=0.05``, else discord.py delays on_ready by 2 s."""
        with self.patch_discord():
            task = asyncio.create_task(client.start(self.token))
            try:
                ready = asyncio.create_task(client.wait_until_ready())
                await asyncio.wait({task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if task.done():
                    task.result()  # re-raise login/connect errors
                if not ready.done():
                    ready.cancel()
                    raise TimeoutError("discord.py client did not become ready against FakeDiscord")
                yield client
            finally:
                await client.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, timeout)

    # ------------------------------------------------------------------ world setup
    def snowflake(self, at: Optional[datetime] = None) -> int:
        """A unique id; ``at`` sets its creation time (discord.py derives created_at from the id)."""
        ms = int((at or _now()).timestamp() * 1000)
        sid = ((ms - DISCORD_EPOCH_MS) << 22) | (next(self._counter) & 0x3FFFFF)
        if at is None:  # ids made "now" are strictly increasing
            sid = self._last_id = max(sid, self._last_id + 1)
        return sid

    def add_user(self, name: str, *, id: Optional[int] = None, bot: bool = False) -> int:
        uid = id or self.snowflake()
        self.users[uid] = {"id": str(uid), "username": name, "discriminator": "0", "global_name": name,
                           "avatar": None, "bot": bot, "public_flags": 0}
        return uid

    def add_guild(self, name: str = "Test Guild", *, owner_id: Optional[int] = None, id: Optional[int] = None,
                  everyone_permissions: Any = DEFAULT_EVERYONE_PERMISSIONS,
                  bot_permissions: Any = DEFAULT_BOT_PERMISSIONS, locale: str = "en-US") -> int:
        """A guild with @everyone (id == guild id), the bot's managed role, and the bot and owner as members."""
        gid = id or self.snowflake()
        owner = owner_id or self.add_user(f"{name}-owner")
        self.guilds[gid] = {"name": name, "owner_id": owner, "roles": {}, "members": {}, "bans": {},
                            "locale": locale}
        self.add_role(gid, "@everyone", permissions=everyone_permissions, id=gid)
        bot_role = self.add_role(gid, self.users[self.bot_id]["username"], permissions=bot_permissions, managed=True)
        self.guilds[gid]["bot_role_id"] = bot_role
        self.add_member(gid, self.bot_id, roles=[bot_role])
        self.add_member(gid, owner)
        return gid

    def add_role(self, guild_id: int, name: str, *, permissions: Any = 0, id: Optional[int] = None,
                 managed: bool = False) -> int:
        rid, roles = id or self.snowflake(), self.guilds[guild_id]["roles"]
        roles[rid] = {"id": str(rid), "name": name, "permissions": str(_int(permissions)), "position": len(roles),
                      "managed": managed, "color": 0, "colors": {"primary_color": 0}, "hoist": False,
                      "mentionable": False, "flags": 0}
        return rid

    def set_role_permissions(self, guild_id: int, role_id: int, permissions: Any) -> None:
        self.guilds[guild_id]["roles"][role_id]["permissions"] = str(_int(permissions))

    def set_bot_permissions(self, guild_id: int, permissions: Any) -> None:
        """Replace the permissions of the bot's managed role (e.g. to take BAN_MEMBERS away)."""
        self.set_role_permissions(guild_id, self.guilds[guild_id]["bot_role_id"], permissions)

    def add_member(self, guild_id: int, user_id: Optional[int] = None, *, name: Optional[str] = None,
                   roles: tuple = (), nick: Optional[str] = None, joined_at: Optional[datetime] = None) -> int:
        """Add a member (creating the user when ``user_id`` is None or unknown). Returns the user id."""
        uid = user_id or self.snowflake()
        if uid not in self.users:
            self.add_user(name or f"user{len(self.users)}", id=uid)
        self.guilds[guild_id]["members"][uid] = {
            "roles": [str(r) for r in roles], "nick": nick, "joined_at": (joined_at or _now()).isoformat(),
            "communication_disabled_until": None, "flags": 0, "pending": False, "deaf": False, "mute": False}
        return uid

    async def member_joins(self, guild_id: int, user_id: Optional[int] = None, *, name: Optional[str] = None) -> int:
        """Someone joins the server, as Discord announces it: GUILD_MEMBER_ADD (GUILD_MEMBERS intent)."""
        uid = self.add_member(guild_id, user_id, name=name)
        await self._dispatch("GUILD_MEMBER_ADD", {**self._member(guild_id, uid), "guild_id": str(guild_id)},
                             intent=INTENT_GUILD_MEMBERS)
        return uid

    async def set_member_roles(self, guild_id: int, user_id: int, roles: tuple) -> None:
        """Give a member new roles, as a server admin would; Discord sends GUILD_MEMBER_UPDATE (GUILD_MEMBERS
        intent) to bots that asked for it."""
        m = self.guilds[guild_id]["members"][user_id]
        m["roles"] = [str(r) for r in roles]
        await self._dispatch("GUILD_MEMBER_UPDATE", {"guild_id": str(guild_id), **self._member(guild_id, user_id)},
                             intent=INTENT_GUILD_MEMBERS)

    def add_channel(self, guild_id: int, name: str, *, private: bool = False, overwrites: Optional[dict] = None,
                    type: int = 0, parent_id: Optional[int] = None, id: Optional[int] = None) -> int:
        """A guild channel. ``private`` denies VIEW_CHANNEL to @everyone and allows it to the bot's role;
        ``overwrites`` maps a role or member id to ``(allow, deny)``."""
        cid = id or self.snowflake()
        self._channel_positions[guild_id] = self._channel_positions.get(guild_id, -1) + 1  # O(1): 10,000 guilds
        self._channels_of.setdefault(guild_id, []).append(cid)
        self.channels[cid] = {"id": str(cid), "type": type, "guild_id": str(guild_id), "name": name,
                              "position": self._channel_positions[guild_id],
                              "parent_id": parent_id and str(parent_id), "topic": None, "nsfw": False,
                              "rate_limit_per_user": 0, "flags": 0, "last_message_id": None,
                              "permission_overwrites": []}
        if private:
            self._put_overwrite(cid, guild_id, 0, VIEW_CHANNEL)
            self._put_overwrite(cid, self.guilds[guild_id]["bot_role_id"], VIEW_CHANNEL, 0)
        for target, (allow, deny) in (overwrites or {}).items():
            self._put_overwrite(cid, target, allow, deny)
        return cid

    def _put_overwrite(self, channel_id: int, target: int, allow: Any, deny: Any) -> None:
        ch = self.channels[channel_id]
        kind = 0 if target in self.guilds[int(ch["guild_id"])]["roles"] else 1  # 0 role, 1 member
        ch["permission_overwrites"] = [o for o in ch["permission_overwrites"] if o["id"] != str(target)] + [
            {"id": str(target), "type": kind, "allow": str(_int(allow)), "deny": str(_int(deny))}]

    async def set_overwrite(self, channel_id: int, target: int, allow: Any = 0, deny: Any = 0) -> None:
        """Change a permission overwrite (e.g. make the safety channel public) and send CHANNEL_UPDATE."""
        self._put_overwrite(channel_id, target, allow, deny)
        await self._dispatch("CHANNEL_UPDATE", self.channels[channel_id])

    def dm_channel_id(self, user_id: int) -> int:
        """The bot's DM channel with ``user_id`` (created on first use)."""
        if user_id not in self._dm_by_user:
            cid = self._dm_by_user[user_id] = self.snowflake()
            self.channels[cid] = {"id": str(cid), "type": 1, "last_message_id": None, "flags": 0,
                                  "recipients": [self.users[user_id]]}
        return self._dm_by_user[user_id]

    def close_dms(self, user_id: int) -> None:
        """Messages to this user's DM channel now fail with 403 / 50007."""
        self.dms_closed.add(user_id)

    def add_message(self, channel_id: int, author_id: int, content: str = "", *, attachments: tuple = (),
                    timestamp: Optional[datetime] = None, **extra) -> int:
        """Store an existing message without a gateway event. ``attachments`` are dicts with any of
        filename/url/size/content_type/id/width/height (missing ones are filled in); ``extra`` keys
        (embeds, components, flags...) go into the payload as given."""
        mid = self.snowflake(timestamp)
        ch = self.channels[channel_id]
        msg = {"id": str(mid), "channel_id": str(channel_id), "author": self.users[author_id], "content": content,
               "timestamp": (timestamp or _now()).isoformat(), "edited_timestamp": None, "tts": False,
               "mention_everyone": False, "mentions": self._mentions(content), "mention_roles": [],
               "attachments": [self._attachment(a) for a in attachments], "embeds": [], "pinned": False,
               "type": 0, "flags": 0, "components": [], **extra}
        if "guild_id" in ch:
            msg["guild_id"] = ch["guild_id"]
        self.messages_by_id[mid] = msg
        ch["last_message_id"] = str(mid)
        return mid

    def _attachment(self, a: dict) -> dict:
        """Attachment payload. ``data`` (bytes) registers content that the fake CDN serves (``size`` follows it);
        attachments without it answer 404 there. Every CDN fetch is recorded in ``cdn_requests``."""
        a = dict(a)
        data = a.pop("data", None)
        aid, filename = int(a.get("id") or self.snowflake()), a.get("filename", "image.png")
        if data is not None:
            self.attachment_data[aid] = bytes(data)
            a.setdefault("size", len(data))
        default = (f"http://127.0.0.1:{self.port}/cdn/attachments/{aid}/{filename}?ex=0&is=0&hm=0" if self.port
                   else f"https://cdn.discordapp.com/attachments/0/{aid}/{filename}?ex=0&is=0&hm=0")
        url = a.get("url", default)
        return {"size": 1024, "content_type": "image/png", "proxy_url": url, **a, "id": str(aid),
                "filename": filename, "url": url}

    async def _cdn(self, request: web.Request) -> web.Response:
        """The fake CDN: attachment bytes registered with ``data``. No authorization, like Discord's CDN."""
        aid = int(request.match_info["aid"]) if request.match_info["aid"].isdigit() else 0
        self.cdn_requests.append(aid)
        data = self.attachment_data.get(aid)
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(status=200, body=data, headers={"Content-Type": "application/octet-stream"})

    def _mentions(self, content: str) -> list:
        ids = dict.fromkeys(int(x) for x in re.findall(r"<@!?(\d+)>", content or ""))
        return [self.users[i] for i in ids if i in self.users]

    # ------------------------------------------------------------------ inspection
    def messages(self, channel_id: int, *, include_ephemeral: bool = False) -> list[dict]:
        """Messages in a channel, oldest first; ephemeral interaction replies only if asked for."""
        return [m for _, m in sorted(self.messages_by_id.items()) if m["channel_id"] == str(channel_id)
                and (include_ephemeral or not m["flags"] & EPHEMERAL)]

    def dm_messages(self, user_id: int) -> list[dict]:
        """Messages in the bot's DM channel with ``user_id``."""
        return self.messages(self._dm_by_user[user_id]) if user_id in self._dm_by_user else []

    def bans(self, guild_id: int) -> dict[int, Ban]:
        return dict(self.guilds[guild_id]["bans"])

    @property
    def deleted_message_ids(self) -> set[int]:
        return {d.id for d in self.deleted}

    def requests_to(self, method: str, path_regex: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(path_regex, r.path)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
        """Poll ``predicate`` (every 10 ms) until it returns something truthy, and return that."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"FakeDiscord: timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.01)
        return result

    def fail(self, method: str, path_regex: str, *, status: int = 403, code: int = 50013,
             message: str = "Missing Permissions", times: Optional[int] = None) -> FailRule:
        """Make requests matching ``method`` ("*" for any) and ``path_regex`` (path after /api/v10,
        full match) fail ``times`` times (None: until ``clear_failures``)."""
        rule = FailRule(method.upper(), re.compile(path_regex), status, code, message, times)
        self._failures.append(rule)
        return rule

    def clear_failures(self) -> None:
        self._failures.clear()

    # ------------------------------------------------------------------ permissions
    def permissions(self, guild_id: int, user_id: int, channel_id: Optional[int] = None) -> int:
        """Effective permissions as Discord computes them (guild level when ``channel_id`` is None)."""
        g = self.guilds[guild_id]
        member = g["members"].get(user_id)
        if member is None:
            return 0
        if user_id == g["owner_id"]:
            return ALL_PERMISSIONS
        roles = g["roles"]
        perms = int(roles[guild_id]["permissions"])
        for rid in member["roles"]:
            perms |= int(roles[int(rid)]["permissions"]) if int(rid) in roles else 0
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        if channel_id is not None:
            ow = {int(o["id"]): (int(o["allow"]), int(o["deny"]))
                  for o in self.channels[channel_id].get("permission_overwrites", [])}
            allow, deny = ow.get(guild_id, (0, 0))  # @everyone, then the member's roles, then the member
            perms = (perms & ~deny) | allow
            allow = deny = 0
            for rid in map(int, member["roles"]):
                allow, deny = allow | ow.get(rid, (0, 0))[0], deny | ow.get(rid, (0, 0))[1]
            perms = (perms & ~deny) | allow
            allow, deny = ow.get(user_id, (0, 0))
            perms = (perms & ~deny) | allow
            if not perms & VIEW_CHANNEL:
                return 0
        until = member["communication_disabled_until"]
        if until and datetime.fromisoformat(until) > _now():  # timed out: read-only
            perms &= VIEW_CHANNEL | READ_MESSAGE_HISTORY
        return perms

    def _require(self, guild_id: int, perm: int, channel_id: Optional[int] = None) -> None:
        perms = self.permissions(guild_id, self.bot_id, channel_id)
        if channel_id is not None and not perms & VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        if perms & perm != perm:
            raise ApiError(403, 50013, "Missing Permissions")

    # ------------------------------------------------------------------ payloads
    def _user(self, user_id: int) -> dict:
        if user_id not in self.users:
            raise ApiError(404, 10013, "Unknown User")
        return self.users[user_id]

    def _member(self, guild_id: int, user_id: int, *, with_user: bool = True,
                channel_id: Optional[int] = None) -> dict:
        m = self._guild(guild_id)["members"].get(user_id)
        if m is None:
            raise ApiError(404, 10007, "Unknown Member")
        m = {**m, "user": self.users[user_id]} if with_user else dict(m)
        if channel_id is not None:  # interactions carry the member's permissions in that channel
            m["permissions"] = str(self.permissions(guild_id, user_id, channel_id))
        return m

    def _channel(self, channel_id: int, need: int = 0) -> dict:
        """Channel payload; checks that the bot has ``need`` there (plus VIEW_CHANNEL)."""
        ch = self.channels.get(channel_id)
        if ch is None:
            raise ApiError(404, 10003, "Unknown Channel")
        if need and "guild_id" in ch:
            self._require(int(ch["guild_id"]), need, channel_id)
        return ch

    def _guild(self, guild_id: int) -> dict:
        if guild_id not in self.guilds:
            raise ApiError(404, 10004, "Unknown Guild")
        return self.guilds[guild_id]

    def _bot_guild(self, guild_id: int) -> dict:
        """A guild the bot reads over REST: Discord answers 403 Missing Access when the bot is not in it."""
        g = self._guild(guild_id)
        if self.bot_id not in g["members"]:
            raise ApiError(403, 50001, "Missing Access")
        return g

    def _guild_payload(self, guild_id: int) -> dict:
        g = self._guild(guild_id)
        return {"id": str(guild_id), "name": g["name"], "owner_id": str(g["owner_id"]), "icon": None, "features": [],
                "preferred_locale": g["locale"], "emojis": [], "stickers": [], "roles": list(g["roles"].values())}

    def _guild_channels(self, guild_id: int) -> list:
        self._guild(guild_id)
        return [self.channels[cid] for cid in self._channels_of.get(guild_id, ())
                if self.channels.get(cid, {}).get("guild_id") == str(guild_id)
                and self.channels[cid]["type"] not in THREAD_TYPES]  # threads: GET /guilds/{id}/threads/active

    def _active_threads(self, guild_id: int) -> dict:
        self._guild(guild_id)
        return {"threads": [self.channels[cid] for cid in self._channels_of.get(guild_id, ())
                            if self.channels.get(cid, {}).get("type") in THREAD_TYPES], "members": []}

    def _guild_create(self, guild_id: int, intents: int) -> dict:
        members = self.guilds[guild_id]["members"]
        listed = list(members) if intents & INTENT_GUILD_PRESENCES else [self.bot_id]
        return {**self._guild_payload(guild_id), "unavailable": False, "large": False,
                "member_count": len(members), "joined_at": members[self.bot_id]["joined_at"],
                "channels": self._guild_channels(guild_id), "members": [self._member(guild_id, u) for u in listed],
                "threads": [], "presences": [], "voice_states": [], "stage_instances": [],
                "guild_scheduled_events": [], "soundboard_sounds": []}

    def _visible(self, msg: dict) -> dict:
        """The message as the bot receives it: without MESSAGE_CONTENT, other people's guild messages
        arrive empty unless they mention the bot (DMs are exempt)."""
        intents = self._session.intents if self._session else None
        if (not self.enforce_message_content_intent or intents is None or intents & INTENT_MESSAGE_CONTENT
                or "guild_id" not in msg or msg["author"]["id"] == str(self.bot_id)
                or any(u["id"] == str(self.bot_id) for u in msg["mentions"])):
            return msg
        return {**msg, "content": "", "embeds": [], "attachments": [], "components": []}

    # ------------------------------------------------------------------ gateway
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        session: Optional[_Session] = None
        try:
            await self._ws_send(ws, {"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op, d = frame.get("op"), frame.get("d") or {}
                self.gateway_log.append(("recv", op, None))
                if op == 1:  # heartbeat
                    await self._ws_send(ws, {"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:  # identify -> READY, then one GUILD_CREATE per guild
                    if d.get("token") != self.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    shard = d.get("shard") or [0, 1]
                    if not (isinstance(shard, list) and len(shard) == 2 and 0 <= shard[0] < shard[1]):
                        await ws.close(code=4010, message=b"Invalid shard.")
                        break
                    if self._shards and shard[1] != self.shard_count:
                        await ws.close(code=4011, message=b"Sharding required.")
                        break
                    session = _Session(f"session-{self.snowflake()}", int(d.get("intents") or 0))
                    session.ws, self._session, session.shard = ws, session, (shard[0], shard[1])
                    if shard[1] > 1:
                        self._shards[shard[0]] = session
                        self.shard_count = shard[1]
                    self._sessions[session.id] = session
                    self.identify_count += 1
                    mine = [g for g in self.guilds if self.shard_of(g, shard[1]) == shard[0]]
                    await self._send_event(session, "READY", {
                        "v": 10, "user": {**self.users[self.bot_id], "verified": True, "mfa_enabled": False},
                        "application": {"id": str(self.application_id), "flags": 0},
                        "guilds": [{"id": str(g), "unavailable": True} for g in mine],
                        "session_id": session.id, "resume_gateway_url": self.gateway_url, "shard": shard,
                        "session_type": "normal", "private_channels": [], "relationships": []})
                    for gid in mine:
                        await self._send_event(session, "GUILD_CREATE", self._guild_create(gid, session.intents))
                elif op == 6:  # resume -> replay what the client missed, then RESUMED
                    session = self._sessions.get(d.get("session_id"))
                    if session is None or d.get("token") != self.token:
                        await self._ws_send(ws, {"op": 9, "d": False, "s": None, "t": None})
                        continue
                    i = 0  # replay by index: events dispatched meanwhile are appended and sent in order
                    while i < len(session.events):
                        if session.events[i][0] > (d.get("seq") or 0):
                            await self._ws_send(ws, session.events[i][1])
                        i += 1
                    session.ws, self._session = ws, session
                    if session.shard[1] > 1:
                        self._shards[session.shard[0]] = session
                    self.resume_count += 1
                    await self._send_event(session, "RESUMED", {})
                elif op == 8 and session:  # request guild members -> a single chunk
                    gid, query = int(d["guild_id"]), (d.get("query") or "").lower()
                    members = self.guilds[gid]["members"]
                    found = [u for u in ([int(u) for u in d.get("user_ids") or []] or members)
                             if u in members and self.users[u]["username"].lower().startswith(query)]
                    await self._send_event(session, "GUILD_MEMBERS_CHUNK", {
                        "guild_id": str(gid), "members": [self._member(gid, u) for u in found[:d.get("limit") or None]],
                        "chunk_index": 0, "chunk_count": 1, "nonce": d.get("nonce"), "not_found": []})
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
        return ws

    async def _ws_send(self, ws: web.WebSocketResponse, frame: dict) -> None:
        self.gateway_log.append(("send", frame["op"], frame.get("t")))
        if not ws.closed:
            await ws.send_str(json.dumps(frame))  # plain-text frames: discord.py accepts them uncompressed

    async def _send_event(self, session: _Session, event: str, data: dict) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append((session.seq, frame))
        if session.ws is not None:
            await self._ws_send(session.ws, frame)

    @staticmethod
    def shard_of(guild_id: int, shard_count: int) -> int:
        """Discord's rule: a guild's events go to shard (guild_id >> 22) % shard_count; DMs to shard 0."""
        return (int(guild_id) >> 22) % shard_count

    def _session_for(self, data: dict) -> Optional[_Session]:
        """The session that gets an event: the latest one, or with shards the one running the guild's shard."""
        if not self._shards:
            return self._session
        gid = data.get("guild_id") if isinstance(data, dict) else None
        return self._shards.get(self.shard_of(gid, self.shard_count) if gid else 0)

    async def _dispatch(self, event: str, data: dict, *, intent: int = 0, required: bool = False) -> None:
        """DISPATCH to the current session (with shards: the guild's shard); kept for RESUME replay while the
        socket is down. ``intent``: only if the client asked for it. ``required``: wait up to 5 s for an IDENTIFY."""
        if self._session_for(data) is None and required:
            await self.wait_for(lambda: self._session_for(data), 5, "a discord.py client to IDENTIFY")
        session = self._session_for(data)
        if session is not None and (not intent or session.intents & intent):
            await self._send_event(session, event, data)

    async def dispatch(self, event: str, data: dict) -> None:
        """Send any raw gateway event (for events the helpers below do not cover)."""
        await self._dispatch(event, data, required=True)

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the client's websocket; discord.py reconnects and RESUMEs (watch ``resume_count``)."""
        for ws in list(self._sockets):
            await ws.close(code=code)

    async def wait_until_connected(self, timeout: float = WAIT) -> None:
        await self.wait_for(lambda: self._session and self._session.ws, timeout, "a gateway connection")

    # ------------------------------------------------------------------ events and interactions
    async def dispatch_message_delete(self, message_id: int) -> None:
        """Its author deletes a message: it is gone, and MESSAGE_DELETE is sent."""
        msg = self.messages_by_id[message_id]
        self._forget_message(message_id, "delete", None)
        await self._dispatch("MESSAGE_DELETE", {"id": str(message_id), "channel_id": msg["channel_id"],
                                                **({"guild_id": msg["guild_id"]} if msg.get("guild_id") else {})})

    async def dispatch_message_create(self, channel_id: int, author_id: int, content: str = "", *,
                                      attachments: tuple = (), **extra) -> int:
        """Someone posts a message: store it and send MESSAGE_CREATE. Returns the message id."""
        mid = self.add_message(channel_id, author_id, content, attachments=attachments, **extra)
        await self._dispatch_message("MESSAGE_CREATE", mid, required=True)
        return mid

    async def _dispatch_message(self, event: str, mid: int, required: bool = False) -> None:
        msg = self.messages_by_id[mid]
        if msg["flags"] & EPHEMERAL:
            return  # ephemeral messages never reach the gateway
        data, guild_id = self._visible(msg), msg.get("guild_id")
        if guild_id and int(msg["author"]["id"]) in self.guilds[int(guild_id)]["members"]:
            data = {**data, "member": self._member(int(guild_id), int(msg["author"]["id"]), with_user=False)}
        intent = INTENT_GUILD_MESSAGES if guild_id else INTENT_DIRECT_MESSAGES
        await self._dispatch(event, data, intent=intent, required=required)

    async def _interact(self, itype: int, guild_id: Optional[int], channel_id: Optional[int], user_id: int,
                        data: dict, locale: str, message_id: Optional[int] = None) -> InteractionRecord:
        """Build an INTERACTION_CREATE like Discord's (member with channel permissions, app_permissions,
        locales...), register it, and send it. ``guild_id`` None means the user's DM with the bot."""
        channel_id = channel_id or self.dm_channel_id(user_id)
        iid = self.snowflake()
        payload = {"id": str(iid), "application_id": str(self.application_id), "type": itype, "data": data,
                   "token": f"itoken-{iid}", "version": 1, "channel_id": str(channel_id), "locale": locale,
                   "channel": dict(self._channel(channel_id)), "entitlements": [],
                   "attachment_size_limit": 10 * 1024 * 1024}
        if guild_id is not None:
            locale_g = self._guild(guild_id)["locale"]
            payload.update(guild_id=str(guild_id), guild_locale=locale_g, context=0,
                           guild={"id": str(guild_id), "locale": locale_g, "features": []},
                           member=self._member(guild_id, user_id, channel_id=channel_id),
                           app_permissions=str(self.permissions(guild_id, self.bot_id, channel_id)),
                           authorizing_integration_owners={"0": str(guild_id)})
            payload["channel"]["permissions"] = payload["member"]["permissions"]
        else:
            payload.update(user=self._user(user_id), context=1, app_permissions=str(ALL_PERMISSIONS),
                           authorizing_integration_owners={"0": "0"})
        if message_id is not None:
            payload["message"] = self.messages_by_id[message_id]
        rec = InteractionRecord(self, iid, payload["token"], itype, guild_id, channel_id, user_id, payload,
                                message_id)
        self.interactions[iid] = rec
        await self._dispatch("INTERACTION_CREATE", payload, required=True)
        return rec

    def _command(self, guild_id: Optional[int], name: str, ctype: int, data: dict) -> dict:
        """Fill id/guild_id of an interaction's command data from what the bot synced (if it did)."""
        cmd = next((c for scope in (guild_id, None) if (c := self.commands.get(scope, {}).get(name))
                    and c["type"] == ctype), None)
        data.update(id=cmd["id"] if cmd else str(self.snowflake()), name=name, type=ctype)
        if cmd and cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]  # discord.py looks guild commands up by this
        return cmd or {}

    def _resolve(self, resolved: dict, guild_id: Optional[int], channel_id: Optional[int], otype: int,
                 value: Any) -> Any:
        """Add ``resolved`` data for a snowflake option like Discord does; returns the wire value."""
        if otype in (USER, MENTIONABLE) and int(value) in self.users:
            resolved.setdefault("users", {})[str(value)] = self.users[int(value)]
            if guild_id is not None and int(value) in self.guilds[guild_id]["members"]:
                resolved.setdefault("members", {})[str(value)] = self._member(
                    guild_id, int(value), with_user=False, channel_id=channel_id)
        elif otype in (ROLE, MENTIONABLE) and guild_id is not None:
            resolved.setdefault("roles", {})[str(value)] = self.guilds[guild_id]["roles"][int(value)]
        elif otype == CHANNEL:
            resolved.setdefault("channels", {})[str(value)] = {**self._channel(int(value)), "permissions": str(
                self.permissions(guild_id, self.bot_id, int(value)) if guild_id else 0)}
        elif otype == ATTACHMENT:
            att = self._attachment(value if isinstance(value, dict) else {"id": value})
            resolved.setdefault("attachments", {})[att["id"]] = att
            return att["id"]
        return str(value) if otype in (USER, CHANNEL, ROLE, MENTIONABLE) else value

    async def send_slash_command(self, guild_id: Optional[int], channel_id: Optional[int], user_id: int,
                                 name: str, options: Optional[dict] = None, subcommand: Any = None, *,
                                 locale: str = "en-US") -> InteractionRecord:
        """A member runs ``/name [group] [subcommand] options``. ``subcommand`` is ``"ban"``, or
        ``"case close"`` / ``("case", "close")`` for a group. Option types come from the synced command,
        else :class:`Typed`, else the Python type. Users/members/roles/channels/attachments are resolved."""
        path = subcommand.split() if isinstance(subcommand, str) else list(subcommand or [])
        data: dict = {}
        schema = self._command(guild_id, name, 1, data).get("options", [])
        for part in path:
            schema = next((o.get("options", []) for o in schema if o["name"] == part), [])
        declared = {o["name"]: o["type"] for o in schema}
        resolved: dict = {}
        opts = []
        for oname, value in (options or {}).items():
            if isinstance(value, Typed):
                otype, value = value
            else:
                otype = declared.get(oname) or {bool: BOOLEAN, int: INTEGER, float: NUMBER}.get(type(value), STRING)
            opts.append({"name": oname, "type": otype,
                         "value": self._resolve(resolved, guild_id, channel_id, otype, value)})
        for depth, part in reversed(list(enumerate(path))):  # wrap: group > subcommand > options
            opts = [{"name": part, "type": SUB_COMMAND if depth == len(path) - 1 else SUB_COMMAND_GROUP,
                     "options": opts}]
        data.update(options=opts, **({"resolved": resolved} if resolved else {}))
        return await self._interact(2, guild_id, channel_id, user_id, data, locale)

    async def send_message_context_command(self, guild_id: Optional[int], channel_id: Optional[int],
                                           user_id: int, name: str, message_id: int, *,
                                           locale: str = "en-US") -> InteractionRecord:
        """A member uses a message context-menu command ("Apps > Report message") on a stored message.
        The resolved message always has its content (no MESSAGE_CONTENT intent needed)."""
        data = {"target_id": str(message_id), "resolved": {"messages": {str(message_id): self.messages_by_id[
            message_id]}}}
        self._command(guild_id, name, 3, data)
        return await self._interact(2, guild_id, channel_id, user_id, data, locale)

    async def send_user_context_command(self, guild_id: Optional[int], channel_id: Optional[int], user_id: int,
                                        name: str, target_user_id: int, *,
                                        locale: str = "en-US") -> InteractionRecord:
        data: dict = {"target_id": str(target_user_id), "resolved": {}}
        self._resolve(data["resolved"], guild_id, channel_id, USER, target_user_id)
        self._command(guild_id, name, 2, data)
        return await self._interact(2, guild_id, channel_id, user_id, data, locale)

    async def press_button(self, message_id: int, custom_id: str, user_id: int, *,
                           values: Optional[list] = None, locale: str = "en-US") -> InteractionRecord:
        """A member clicks a component of a stored message (usually one the bot posted). The component
        type is taken from the message; pass ``values`` for select menus."""
        msg = self.messages_by_id[message_id]

        def walk(items):  # action rows, labels, sections and containers nest components
            for c in items:
                yield c
                yield from walk(c.get("components", []) + [c[k] for k in ("component", "accessory") if k in c])
        found = next((c for c in walk(msg["components"]) if c.get("custom_id") == custom_id), None)
        if found is None:
            raise KeyError(f"message {message_id} has no component with custom_id {custom_id!r}")
        data = {"custom_id": custom_id, "component_type": found["type"]}
        if values is not None or found["type"] in (3, 5, 6, 7, 8):
            data["values"] = [str(v) for v in values or []]
        guild_id = int(msg["guild_id"]) if "guild_id" in msg else None
        return await self._interact(3, guild_id, int(msg["channel_id"]), user_id, data, locale, message_id)

    async def submit_modal(self, opened_by: InteractionRecord, values: dict, *, user_id: Optional[int] = None,
                           locale: Optional[str] = None) -> InteractionRecord:
        """Submit the modal the bot opened (callback type 9) in answer to ``opened_by``. ``values`` maps a
        text input's custom_id to its text (a select's custom_id to a list); the others stay empty."""
        modal = opened_by.modal
        if modal is None:
            raise AssertionError(f"interaction {opened_by.id} was not answered with a modal")

        def answer(c: dict) -> dict:
            out = {"type": c["type"], "id": c.get("id", 0)}
            if c["type"] == 1:
                return {"type": 1, "components": [answer(x) for x in c.get("components", [])]}
            if c["type"] == 18:  # label wrapping one component
                return {**out, "component": answer(c["component"])}
            if c["type"] == 4:
                value = values.get(c["custom_id"], "")
                if len(value) > c.get("max_length", 4000):  # Discord stops the typing at max_length
                    raise AssertionError(f"{c['custom_id']}: Discord takes at most {c.get('max_length', 4000)} characters")
                return {**out, "custom_id": c["custom_id"], "value": value}
            if "custom_id" in c:
                return {**out, "custom_id": c["custom_id"], "values": [str(v) for v in values.get(c["custom_id"], [])]}
            return out
        data = {"custom_id": modal["custom_id"], "components": [answer(c) for c in modal["components"]]}
        return await self._interact(5, opened_by.guild_id, opened_by.channel_id, user_id or opened_by.user_id,
                                    data, locale or opened_by.payload["locale"], opened_by.message_id)

    # ------------------------------------------------------------------ HTTP plumbing
    async def _http(self, request: web.Request) -> web.Response:
        body, files = None, []
        if request.content_type.startswith("multipart/"):  # discord.py uploads files as multipart
            async for part in await request.multipart():
                data = await part.read()
                if part.name == "payload_json":
                    body = json.loads(data)
                else:
                    files.append({"name": part.name, "filename": part.filename,
                                  "content_type": part.headers.get("Content-Type"), "data": bytes(data)})
        elif raw := await request.read():
            body = json.loads(raw)
        reason = request.headers.get("X-Audit-Log-Reason")
        rec = Recorded(request.method, "/" + request.match_info["tail"], dict(request.query), body,
                       CIMultiDict(request.headers), urllib.parse.unquote(reason) if reason else None, files)
        if (limited := self._global_limit(rec)) is not None:
            self.limited.append(rec)  # not carried out, as at Discord: kept apart from `requests`
            return limited
        self.requests.append(rec)
        try:
            result = await self._route(rec)
            rec.status, rec.response = (204, None) if result is None else (200, result)
        except ApiError as e:
            rec.status, rec.response = e.status, {"message": e.message, "code": e.code}
        except Exception as e:  # a bug or unexpected body: 400, since discord.py retries a 500 for ~25 s
            log.exception("FakeDiscord: error handling %s %s", rec.method, rec.path)
            rec.status, rec.response = 400, {"message": f"FakeDiscord internal error: {e!r}", "code": 0}
        if rec.status == 204:
            return web.Response(status=204)
        # discord.py only parses JSON if Content-Type is exactly "application/json" (no charset).
        return web.Response(status=rec.status, body=json.dumps(rec.response).encode(),
                            headers={"Content-Type": "application/json"})

    def _global_limit(self, rec: Recorded) -> Optional[web.Response]:
        """Discord's global rate limit, counted over the last second of accepted bot requests."""
        if rec.path.startswith(("/interactions/", "/webhooks/")) or \
                rec.headers.get("Authorization") != f"Bot {self.token}":
            return None
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if self.global_rate_limit is None or len(self._recent) < self.global_rate_limit:
            self._recent.append(now)
            self.request_times.append(now)
            return None
        self.rate_limited += 1
        retry = max(0.01, round(self._recent[0] + 1.0 - now, 3))
        rec.status = 429
        rec.response = {"message": "You are being rate limited.", "retry_after": retry, "global": True, "code": 0}
        # discord.py treats a 429 without a Via header as a Cloudflare ban; Discord's own carry one.
        return web.Response(status=429, body=json.dumps(rec.response).encode(), headers={
            "Content-Type": "application/json", "Via": "1.1 google", "Retry-After": str(max(1, math.ceil(retry))),
            "X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"})

    def peak_per_second(self, since: float = 0.0) -> int:
        """The most bot requests accepted in any one second since `since` (time.monotonic())."""
        times = [t for t in self.request_times if t >= since]
        peak, lo = 0, 0
        for hi, t in enumerate(times):
            while times[lo] <= t - 1.0:
                lo += 1
            peak = max(peak, hi - lo + 1)
        return peak

    async def _route(self, rec: Recorded) -> Any:
        for rule in self._failures:
            if rule.method in (rec.method, "*") and rule.pattern.fullmatch(rec.path) and rule.times != 0:
                rule.times = None if rule.times is None else rule.times - 1
                raise ApiError(rule.status, rule.code, rule.message)
        if not rec.path.startswith(("/interactions/", "/webhooks/")) and \
                rec.headers.get("Authorization") != f"Bot {self.token}":  # interaction routes are token-less
            raise ApiError(401, 0, "401: Unauthorized")
        for methods, pattern, handler in self._route_table:
            if rec.method in methods.split() and (m := re.fullmatch(pattern, rec.path)):
                args = {k: int(v) if v and v.isdigit() and k != "token" else v for k, v in m.groupdict().items()}
                result = handler(rec, **args)
                return await result if asyncio.iscoroutine(result) else result
        self.unhandled.append(rec)
        log.warning("FakeDiscord: no fake for %s %s (answered 404); add it to tests/fakes/discord_server.py",
                    rec.method, rec.path)
        raise ApiError(404, 0, "404: Not Found (route not implemented by FakeDiscord)")

    def _routes(self) -> list:
        C, G, M = r"/channels/(?P<cid>\d+)", r"/guilds/(?P<gid>\d+)", r"/messages/(?P<mid>\d+|@original)"
        W, A = r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)", r"/applications/(?P<app>\d+)(/guilds/(?P<gid>\d+))?"
        none = lambda rec, **_: None  # noqa: E731  (204 routes with no state: typing, reactions)
        return [
            ("GET", r"/users/@me", lambda rec: self.users[self.bot_id]),
            ("GET", r"/oauth2/applications/@me", self._get_app),
            ("GET", r"/users/(?P<uid>\d+)", lambda rec, uid: self._user(uid)),
            ("POST", r"/users/@me/channels", lambda rec: self._channel(self.dm_channel_id(
                int(self._user(int(rec.json["recipient_id"]))["id"])))),
            ("GET", A + "/commands", lambda rec, app, gid: list(self.commands.get(gid, {}).values())),
            ("PUT", A + "/commands", self._put_commands),
            ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", self._callback),
            ("POST", W, self._followup),
            ("GET PATCH DELETE", W + M, self._webhook_message),
            ("GET", C, lambda rec, cid: self._channel(cid, VIEW_CHANNEL)),  # 403 Missing Access when hidden
            ("GET", C + "/messages", self._list_messages),
            ("POST", C + "/messages", self._post_message),
            ("POST", C + "/messages/bulk-delete", self._bulk_delete),
            ("GET PATCH DELETE", C + M, self._message_route),
            ("POST", C + "/typing", none),
            ("PUT DELETE", C + r"/messages/\d+/reactions(/.*)?", none),
            ("GET", G, lambda rec, gid: self._bot_guild(gid) and self._guild_payload(gid)),
            ("GET", G + "/channels", lambda rec, gid: self._bot_guild(gid) and self._guild_channels(gid)),
            ("GET", G + "/threads/active", lambda rec, gid: self._bot_guild(gid) and self._active_threads(gid)),
            ("GET", G + "/roles", lambda rec, gid: list(self._bot_guild(gid)["roles"].values())),
            ("GET", G + "/members", lambda rec, gid: [self._member(gid, u) for u in sorted(self._guild(gid)[
                "members"]) if u > int(rec.query.get("after", 0))][:int(rec.query.get("limit", 1))]),
            ("GET PATCH DELETE", G + r"/members/(?P<uid>\d+)", self._member_route),
            ("GET", G + "/bans", self._list_bans),
            ("GET PUT DELETE", G + r"/bans/(?P<uid>\d+)", self._ban_route),
        ]

    # ------------------------------------------------------------------ handlers: app, commands, interactions
    def _get_app(self, rec: Recorded) -> dict:
        return {"id": str(self.application_id), "name": self.users[self.bot_id]["username"], "description": "",
                "icon": None, "bot_public": False, "bot_require_code_grant": False, "verify_key": "0" * 64,
                "owner": self.users[self.app_owner_id], "flags": 0, "bot": self.users[self.bot_id]}

    def _put_commands(self, rec: Recorded, app: int, gid: Optional[int]) -> list:
        """Bulk overwrite (what ``tree.sync()`` does). Names are checked like Discord; ids are kept."""
        old, new = self.commands.get(gid, {}), {}
        for cmd in rec.json or []:
            name, ctype = cmd.get("name", ""), cmd.get("type", 1)
            ok = re.fullmatch(r"[-_\w]{1,32}", name) and name == name.lower() and 1 <= len(
                cmd.get("description", "")) <= 100 if ctype == 1 else 1 <= len(name) <= 32
            if not ok:
                raise ApiError(400, 50035, f"Invalid Form Body: command {name!r} (name or description)")
            new[name] = {"description": "", **cmd, "type": ctype, "application_id": str(self.application_id),
                         "id": old[name]["id"] if name in old else str(self.snowflake()),
                         "version": str(self.snowflake()), "guild_id": gid and str(gid)}
        self.commands[gid] = new
        return list(new.values())

    def _check_message_body(self, body: dict, files: list = ()) -> None:
        if len(body.get("content") or "") > 2000:
            raise ApiError(400, 50035, "Invalid Form Body: content must be 2000 or fewer in length")
        if not any(body.get(k) for k in ("content", "embeds", "components", "attachments", "poll")) and not files:
            raise ApiError(400, 50006, "Cannot send an empty message")

    def _bot_message(self, channel_id: int, body: dict, files: list = (), *, flags: int = 0,
                     interaction: Optional[InteractionRecord] = None) -> dict:
        """Store a message the bot sends (channel message, interaction response or follow-up)."""
        uploads = [{"filename": f["filename"], "size": len(f["data"]), "content_type": f["content_type"]}
                   for f in files]
        mid = self.add_message(channel_id, self.bot_id, body.get("content") or "", attachments=tuple(uploads),
                               embeds=body.get("embeds") or [], components=body.get("components") or [],
                               tts=bool(body.get("tts")), flags=int(body.get("flags") or 0) | flags,
                               allowed_mentions=body.get("allowed_mentions"))
        msg = self.messages_by_id[mid]
        if body.get("message_reference"):
            msg.update(type=19, message_reference=body["message_reference"])
        if interaction is not None:
            msg.update(webhook_id=str(self.application_id), application_id=str(self.application_id),
                       type=20 if interaction.type == 2 else 0,
                       interaction_metadata={"id": str(interaction.id), "type": interaction.type,
                                             "user": self.users[interaction.user_id]})
        return msg

    def _apply_edit(self, msg: dict, body: dict) -> dict:
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if body.get(key) is not None:
                msg[key] = body[key]
        msg["mentions"] = self._mentions(msg["content"])
        if body.get("attachments") is not None:  # an edit lists the attachments to keep
            keep = {str(a.get("id")) for a in body["attachments"]}
            msg["attachments"] = [a for a in msg["attachments"] if a["id"] in keep]
        if body.get("flags") is not None:  # only SUPPRESS_EMBEDS (4) can change on edit
            msg["flags"] = (msg["flags"] & ~4) | (int(body["flags"]) & 4)
        msg["edited_timestamp"] = _now().isoformat()
        return msg

    async def _callback(self, rec: Recorded, iid: int, token: str) -> dict:
        """POST /interactions/{id}/{token}/callback?with_response=1 -> {"interaction": ..., "resource": ...}."""
        it = self.interactions.get(iid)
        if it is None or it.token != token:
            raise ApiError(404, 10062, "Unknown interaction")
        if it.callbacks:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if self.interaction_timeout and time.monotonic() - it.created > self.interaction_timeout:
            raise ApiError(404, 10062, "Unknown interaction")  # what Discord answers after the 3 s window
        body = rec.json or {}
        ctype, data = body.get("type"), body.get("data") or {}
        if ctype in (6, 7) and it.message_id is None:
            raise ApiError(400, 50035, f"Invalid Form Body: callback type {ctype} needs a component interaction")
        if ctype == 9 and it.type == 5:
            raise ApiError(400, 50035, "Invalid Form Body: a modal cannot answer a modal submission")
        if ctype == 9 and not (data.get("custom_id") and len(data.get("title", "")) <= 45
                               and 1 <= len(data.get("components", [])) <= 5):
            raise ApiError(400, 50035, "Invalid Form Body: modal needs a custom_id, title <= 45, 1-5 components")
        if ctype == 4:
            self._check_message_body(data, rec.files)
        if ctype not in (4, 5, 6, 7, 9):
            raise ApiError(400, 50035, f"Invalid Form Body: unsupported callback type {ctype}")
        it.callbacks.append(body)
        info: dict = {"id": str(it.id), "type": it.type}
        out: dict = {"interaction": info}
        if ctype in (4, 5):  # 5 = "thinking": a loading message that the first follow-up fills in
            msg = self._bot_message(it.channel_id, data if ctype == 4 else {}, rec.files, interaction=it,
                                    flags=(int(data.get("flags") or 0) & EPHEMERAL) | (LOADING if ctype == 5 else 0))
            it.original = msg
            info.update(response_message_id=msg["id"], response_message_loading=ctype == 5,
                        response_message_ephemeral=bool(msg["flags"] & EPHEMERAL))
            if ctype == 4:
                out["resource"] = {"type": 4, "message": msg}
            await self._dispatch_message("MESSAGE_CREATE", int(msg["id"]))
        elif ctype in (6, 7):  # (deferred) update of the message carrying the component
            it.original = msg = self.messages_by_id[it.message_id]  # type: ignore[index]
            if ctype == 7:
                self._apply_edit(msg, data)
                out["resource"] = {"type": 7, "message": msg}
                await self._dispatch_message("MESSAGE_UPDATE", int(msg["id"]))
        else:
            it.modal = data
        return out

    def _interaction_for(self, app: int, token: str) -> InteractionRecord:
        it = next((i for i in self.interactions.values() if i.token == token), None)
        if it is None or app != self.application_id or not it.callbacks:
            raise ApiError(404, 10015, "Unknown Webhook")  # also before the interaction is acknowledged
        return it

    async def _followup(self, rec: Recorded, app: int, token: str) -> Optional[dict]:
        it = self._interaction_for(app, token)
        body = rec.json or {}
        self._check_message_body(body, rec.files)
        if it.original is not None and it.original["flags"] & LOADING:  # first follow-up after a defer
            msg = self._apply_edit(it.original, body)
            msg.update(flags=msg["flags"] & ~LOADING, edited_timestamp=None)
            await self._dispatch_message("MESSAGE_UPDATE", int(msg["id"]))
        else:
            msg = self._bot_message(it.channel_id, body, rec.files, interaction=it)
            await self._dispatch_message("MESSAGE_CREATE", int(msg["id"]))
        it.followups.append(msg)
        return msg if rec.query.get("wait", "").lower() in ("1", "true") else None

    async def _webhook_message(self, rec: Recorded, app: int, token: str, mid: Any) -> Optional[dict]:
        """GET/PATCH/DELETE of ``@original`` or a follow-up."""
        it = self._interaction_for(app, token)
        msg = it.original if mid == "@original" else next((m for m in it.followups if m["id"] == str(mid)), None)
        if msg is None or int(msg["id"]) not in self.messages_by_id:
            raise ApiError(404, 10008, "Unknown Message")
        if rec.method == "GET":
            return msg
        if rec.method == "DELETE":
            return self._forget_message(int(msg["id"]), "delete", None)
        self._apply_edit(msg, rec.json or {})
        msg["flags"] &= ~LOADING
        await self._dispatch_message("MESSAGE_UPDATE", int(msg["id"]))
        return msg

    # ------------------------------------------------------------------ handlers: channels and messages
    async def _post_message(self, rec: Recorded, cid: int) -> dict:
        ch = self._channel(cid, SEND_MESSAGES)
        if ch["type"] == 1 and int(ch["recipients"][0]["id"]) in self.dms_closed:
            raise ApiError(403, 50007, "Cannot send messages to this user")
        body = rec.json or {}
        self._check_message_body(body, rec.files)
        msg = self._bot_message(cid, body, rec.files)
        await self._dispatch_message("MESSAGE_CREATE", int(msg["id"]))
        return msg

    def _list_messages(self, rec: Recorded, cid: int) -> list:
        self._channel(cid, READ_MESSAGE_HISTORY)
        msgs, q = self.messages(cid), {k: int(v) for k, v in rec.query.items() if v.isdigit()}
        limit = q.get("limit", 50)
        if "before" in q:
            msgs = [m for m in msgs if int(m["id"]) < q["before"]][-limit:]
        elif "after" in q:
            msgs = [m for m in msgs if int(m["id"]) > q["after"]][:limit]
        else:
            msgs = msgs[-limit:]
        return [self._visible(m) for m in reversed(msgs)]  # newest first, like Discord

    async def _message_route(self, rec: Recorded, cid: int, mid: Any) -> Optional[dict]:
        ch = self._channel(cid, READ_MESSAGE_HISTORY if rec.method == "GET" else 0)
        msg = self.messages_by_id.get(mid) if isinstance(mid, int) else None
        if msg is None or msg["channel_id"] != str(cid):
            raise ApiError(404, 10008, "Unknown Message")
        own = msg["author"]["id"] == str(self.bot_id)
        if rec.method == "GET":
            return self._visible(msg)
        if rec.method == "PATCH":
            if not own:
                raise ApiError(403, 50005, "Cannot edit a message authored by another user")
            self._apply_edit(msg, rec.json or {})
            await self._dispatch_message("MESSAGE_UPDATE", mid)
            return msg
        if not own and ch["type"] == 1:
            raise ApiError(403, 50003, "Cannot execute action on a DM channel")
        if not own:
            self._require(int(ch["guild_id"]), MANAGE_MESSAGES, cid)
        self._forget_message(mid, "delete", rec.reason)
        await self._dispatch("MESSAGE_DELETE", {"id": str(mid), "channel_id": str(cid),
                                                **({"guild_id": ch["guild_id"]} if "guild_id" in ch else {})})
        return None

    def _forget_message(self, mid: int, how: str, reason: Optional[str]) -> None:
        msg = self.messages_by_id.pop(mid)
        self.deleted.append(DeletedMessage(mid, int(msg["channel_id"]), how, reason))

    async def _bulk_delete(self, rec: Recorded, cid: int) -> None:
        ch = self._channel(cid, MANAGE_MESSAGES)
        ids = [int(x) for x in (rec.json or {}).get("messages", [])]
        if not 2 <= len(ids) <= 100 or len(set(ids)) != len(ids):
            raise ApiError(400, 50035, "Invalid Form Body: 2 to 100 unique message ids")
        if min(ids) < self.snowflake(_now() - timedelta(days=14)):
            raise ApiError(400, 50034, "You can only bulk delete messages that are under 14 days old.")
        gone = [i for i in ids if i in self.messages_by_id and self.messages_by_id[i]["channel_id"] == str(cid)]
        for mid in gone:
            self._forget_message(mid, "bulk", rec.reason)
        await self._dispatch("MESSAGE_DELETE_BULK", {"ids": [str(i) for i in gone], "channel_id": str(cid),
                                                     "guild_id": ch["guild_id"]})

    # ------------------------------------------------------------------ handlers: members and bans
    def _check_target(self, gid: int, uid: int) -> None:
        if uid in (self.guilds[gid]["owner_id"], self.bot_id):
            raise ApiError(403, 50013, "Missing Permissions")  # nobody can moderate the owner

    async def _member_route(self, rec: Recorded, gid: int, uid: int) -> Optional[dict]:
        self._bot_guild(gid)
        member = self._member(gid, uid)
        if rec.method == "GET":
            return member
        if rec.method == "DELETE":  # kick
            self._require(gid, KICK_MEMBERS)
            self._check_target(gid, uid)
            return await self._remove_member(gid, uid)
        body, stored = rec.json or {}, self.guilds[gid]["members"][uid]
        if "communication_disabled_until" in body:  # timeout
            self._require(gid, MODERATE_MEMBERS)
            self._check_target(gid, uid)
            until = body["communication_disabled_until"]
            if until and datetime.fromisoformat(until) - _now() > timedelta(days=28):
                raise ApiError(400, 50035, "Invalid Form Body: a timeout lasts at most 28 days")
            stored["communication_disabled_until"] = until
        if "roles" in body:
            self._require(gid, MANAGE_ROLES)
            stored["roles"] = [str(r) for r in body["roles"]]
        if "nick" in body:
            stored["nick"] = body["nick"]
        member = self._member(gid, uid)
        await self._dispatch("GUILD_MEMBER_UPDATE", {**member, "guild_id": str(gid)}, intent=INTENT_GUILD_MEMBERS)
        return member

    async def _remove_member(self, gid: int, uid: int) -> None:
        if self.guilds[gid]["members"].pop(uid, None) is not None:
            await self._dispatch("GUILD_MEMBER_REMOVE", {"guild_id": str(gid), "user": self.users[uid]},
                                 intent=INTENT_GUILD_MEMBERS)

    def _list_bans(self, rec: Recorded, gid: int) -> list:
        self._require(gid, BAN_MEMBERS)
        return [{"user": self.users[u], "reason": b.reason} for u, b in sorted(self._guild(gid)["bans"].items())]

    async def _ban_route(self, rec: Recorded, gid: int, uid: int) -> Optional[dict]:
        self._guild(gid)
        self._require(gid, BAN_MEMBERS)
        bans = self.guilds[gid]["bans"]
        if rec.method == "PUT":
            # discord.py sends delete_message_seconds as a query parameter; the API also takes it as JSON.
            return await self._ban(gid, uid, rec.query.get("delete_message_seconds",
                                                           (rec.json or {}).get("delete_message_seconds")), rec.reason)
        if uid not in bans:
            raise ApiError(404, 10026, "Unknown Ban")
        if rec.method == "GET":
            return {"user": self.users[uid], "reason": bans[uid].reason}
        del bans[uid]
        await self._dispatch("GUILD_BAN_REMOVE", {"guild_id": str(gid), "user": self.users[uid]},
                             intent=INTENT_GUILD_MODERATION)
        return None

    async def _ban(self, gid: int, uid: int, seconds: Any, reason: Optional[str]) -> None:
        self._user(uid)
        self._check_target(gid, uid)
        seconds = None if seconds is None else int(seconds)
        if seconds is not None and not 0 <= seconds <= 604800:
            raise ApiError(400, 50035, "Invalid Form Body: delete_message_seconds must be 0 to 604800")
        self.guilds[gid]["bans"][uid] = Ban(uid, reason, seconds)
        await self._remove_member(gid, uid)
        await self._dispatch("GUILD_BAN_ADD", {"guild_id": str(gid), "user": self.users[uid]},
                             intent=INTENT_GUILD_MODERATION)
        if seconds:  # Discord removes that span of the user's messages in every channel of the guild
            cutoff = self.snowflake(_now() - timedelta(seconds=seconds))
            for mid, msg in sorted(self.messages_by_id.items()):
                if msg.get("guild_id") == str(gid) and msg["author"]["id"] == str(uid) and mid >= cutoff:
                    self._forget_message(mid, "ban", reason)
                    await self._dispatch("MESSAGE_DELETE", {"id": str(mid), "channel_id": msg["channel_id"],
                                                            "guild_id": str(gid)})
