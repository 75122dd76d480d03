"""The Discord adapter: slash commands, context menus, buttons, modals and DMs in; core actions out.

Translation only (see adapters/README.md). Every reply to a member is ephemeral or a DM; every reply to
a moderator is ephemeral; case details only go to the configured private safety channel (or the
escalation destination). Report text and names are never logged.
"""

import asyncio
import contextlib
import logging
import time
from typing import Optional

import aiohttp
import discord
import yarl
from discord import app_commands

from safety_bot.actions import Prompt
from safety_bot.app import App
from safety_bot.config import DiscordGuild
from safety_bot.events import Community

from .automod import DiscordAutoMod
from .media import DiscordMedia
from .members import DiscordMembers, PendingReport
from .moderation import DiscordModeration, PendingConfirm
from .pacing import Pacer, pace, share
from .platform import DiscordPlatform
from .pools import DiscordPools
from .render import PLATFORM, channel_is_private, chunks
from .roles import DiscordRoles
from .ui import DYNAMIC_ITEMS, LocaleTranslator, case_view, prompt_view

log = logging.getLogger(__name__)
PENDING_SECONDS = 900  # an interaction token lives 15 minutes; so do our pending modals and confirmations


class SafetyClient(discord.Client):
    def __init__(self, adapter: "DiscordAdapter", **kwargs):
        super().__init__(**kwargs)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = adapter.on_command_error

    async def setup_hook(self) -> None:
        await self.adapter.setup_hook()

    async def on_ready(self) -> None:
        await self.adapter.on_ready()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_interaction(interaction)

    async def on_automod_action(self, execution: discord.AutoModAction) -> None:
        await self.adapter.on_automod_action(execution)

    async def on_automod_rule_delete(self, rule: discord.AutoModRule) -> None:
        await self.adapter.on_automod_rule_delete(rule)

    async def on_member_join(self, member: discord.Member) -> None:
        await self.adapter.on_member_join(member)  # ban pools (pools.py)


class ShardedSafetyClient(SafetyClient, discord.AutoShardedClient):
    """The same client over `discord.shard_ids` of `discord.shard_count` shards (several processes)."""


class DiscordAdapter(DiscordMembers, DiscordModeration, DiscordMedia, DiscordAutoMod, DiscordPools, DiscordRoles):
    """`await DiscordAdapter(app).run()` runs until `close()`. `ready` is set once connected, communities
    registered, the safety channels checked and unfinished actions resumed."""

    def __init__(self, app: App, *, ready_timeout: float = 2.0, sync_commands: bool = True):
        cfg = app.config.discord
        if cfg is None:
            raise ValueError("the Discord adapter needs a discord section in the config")
        self.app, self.cfg = app, cfg
        self.guilds: dict[int, DiscordGuild] = {g.id: g for g in cfg.guilds}
        self.sync_commands = sync_commands
        self.global_commands = cfg.shard_count is not None
        for g in cfg.guilds:
            self._register(g, str(g.id))
        # Request bodies (report text in DMs) are logged at DEBUG by discord.http: never below WARNING.
        logging.getLogger("discord.http").setLevel(logging.WARNING)
        intents = discord.Intents.default()
        intents.members = True  # who holds the safety role; which server a DM belongs to
        intents.message_content = True  # protected channels (media checks) and reported messages
        intents.auto_moderation = cfg.automod  # the bot's rule: blocks it made, and its deletion (automod.py)
        # Sharded (large) bots do not ask for every guild's member list at start-up: Discord allows 120 gateway
        # sends a minute, so 5,000 guilds would take 40 minutes. Members come with each interaction instead.
        shards = {} if cfg.shard_count is None else {"shard_count": cfg.shard_count, "shard_ids": cfg.shard_ids,
                                                     "chunk_guilds_at_startup": False}
        self.client = (ShardedSafetyClient if shards else SafetyClient)(
            self, intents=intents, allowed_mentions=discord.AllowedMentions.none(), guild_ready_timeout=ready_timeout,
            **shards)
        self.pacer = Pacer(share(cfg.requests_per_second, cfg.shard_count, cfg.shard_ids))
        pace(self.client.http, self.pacer)  # Discord's global limit: 50 requests/s per bot
        self.platform = DiscordPlatform(self.client, self.guilds, ensure_started=self.ensure_started,
                                        block_media=self.block_media,
                                        owns=cfg.owns if cfg.shard_count else None,
                                        texts=app.service.texts, locale=app.config.locale)
        app.runtime.add_platform(self.platform)
        self.connected = asyncio.Event()
        self.ready = asyncio.Event()
        app.add_connection(PLATFORM, self.ready, lambda: self.ready.is_set() and not self.client.is_closed())
        self._task: Optional[asyncio.Task] = None
        self._closed = False
        self._resumed = False
        self._pending_reports: dict[str, PendingReport] = {}
        self._pending_confirms: dict[str, PendingConfirm] = {}
        self.messages_handled = 0  # guild messages through the protected-channel path (bench)
        self._cdn: Optional[aiohttp.ClientSession] = None  # attachment downloads (into memory only)
        self._build_commands()

    # ------------------------------------------------------------------ lifecycle
    def _register(self, g: DiscordGuild, name: str) -> None:
        self.app.service.add_community(Community(str(g.id), PLATFORM, g.network, name,
                                                 has_escalation=bool(g.escalation_channel or g.escalation_user)))
        self.app.service.role_readers[PLATFORM] = self._holds_team_role  # roles read when needed (roles.py)
        self.app.service.team_readers[PLATFORM] = self._team  # the team now (roles.py, team_named.py)
        self.app.service.destination_readers[PLATFORM] = self._reads  # who reads the team's channels now (roles.py)
        self._register_pools()  # which listed accounts are members (ban pools)

    async def _connect(self) -> None:
        from discord import gateway, http

        from safety_bot.views import TIME_STYLE

        TIME_STYLE.set("discord")  # case times as <t:...>: each moderator sees their own locale and zone

        http.Route.BASE = self.cfg.api_base_url
        gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.cfg.gateway_url)
        await self.client.start(self.cfg.token)

    async def ensure_started(self, *, for_action: bool = True) -> None:
        """Connect (once) and wait until the gateway is ready. Actions the runtime resumes before `run()`
        (the CLI does that) start the connection themselves; that resume then stands for ours."""
        if self.connected.is_set():
            return
        if self._closed:
            raise RuntimeError("the Discord adapter is closed")
        if self._task is None:
            if for_action:
                self._resumed = True  # the caller is already running the outbox: do not run it twice
            self._task = asyncio.create_task(self._connect())
        waiter = asyncio.create_task(self.connected.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not self.connected.is_set():
            waiter.cancel()
            self._task.result()  # re-raise login or connection errors
            raise RuntimeError("the Discord connection ended before it was ready")

    async def run(self) -> None:
        await self.ensure_started(for_action=False)
        await self.ready.wait()
        await self._task

    async def close(self) -> None:
        self._closed = True
        await self.client.close()
        if self._cdn is not None:
            await self._cdn.close()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)

    async def setup_hook(self) -> None:
        for item in DYNAMIC_ITEMS:
            self.client.add_dynamic_items(item)  # persistent buttons: they work on posts from before a restart
        await self.client.tree.set_translator(LocaleTranslator(self.app.service.texts))
        if self.sync_commands and self.global_commands:
            if 0 in (self.cfg.shard_ids or [0]):
                try:
                    await self.client.tree.sync()
                except discord.HTTPException as exc:
                    log.warning("could not register the commands (%s)", exc.status)
        elif self.sync_commands:
            for gid in self.guilds:
                if not self.cfg.owns(gid):
                    continue  # the process running that guild's shard registers its commands
                try:
                    await self.client.tree.sync(guild=discord.Object(gid))
                except discord.HTTPException as exc:
                    log.warning("could not register the commands in guild %s (%s)", gid, exc.status)

    async def on_ready(self) -> None:
        self.connected.set()
        for g in self.guilds.values():
            if not self.cfg.owns(g.id):
                continue  # on another process's shard
            guild = self.client.get_guild(g.id)
            if guild is None:
                log.warning("the bot is not in configured guild %s", g.id)
                continue
            self._register(g, guild.name)
            channel = guild.get_channel(g.safety_channel)
            if channel is None:
                log.warning("safety channel %s of guild %s not found (or the bot cannot see it)", g.safety_channel, g.id)
            elif not self.channel_is_private(channel):
                log.warning("safety channel %s of guild %s is visible to @everyone: only 'case N is waiting' "
                            "notices will be posted there until it is made private", g.safety_channel, g.id)
            if guild.me is not None and not guild.me.guild_permissions.ban_members:
                log.warning("the bot lacks the Ban Members permission in guild %s", g.id)
        try:
            await self.sync_automod()
        except Exception:
            log.exception("setting up the AutoMod rule failed")
        if not self._resumed:
            self._resumed = True
            try:
                await self.app.runtime.resume()
            except Exception:
                log.exception("resuming unfinished actions failed")
        self.ready.set()

    # ------------------------------------------------------------------ helpers
    def guild_cfg(self, community: str | int | None) -> Optional[DiscordGuild]:
        return self.platform.guild_cfg(community)

    channel_is_private = staticmethod(channel_is_private)

    def is_moderator(self, g: DiscordGuild, member) -> bool:
        """The configured safety role; Ban Members only where no safety role is configured."""
        if not isinstance(member, discord.Member):
            return False
        if g.safety_role is not None:
            return member.get_role(g.safety_role) is not None
        return member.guild_permissions.ban_members

    def holds_power(self, user_id: int | str) -> bool:
        """Whether this account is on the safety team (or is the escalation contact) of any configured guild,
        read now from the member's current roles (for cases about moderators)."""
        if any(g.escalation_user == int(user_id) for g in self.guilds.values()):
            return True
        for g in self.guilds.values():
            guild = self.client.get_guild(g.id)
            if guild is not None and self.is_moderator(g, guild.get_member(int(user_id))):
                return True
        return False

    async def member_of(self, guild_id: int, user) -> Optional[discord.Member]:
        if isinstance(user, discord.Member) and user.guild.id == guild_id:
            return user
        guild = self.client.get_guild(guild_id)
        if guild is None:
            return None
        member = guild.get_member(user.id)
        if member is None:
            with contextlib.suppress(discord.HTTPException):
                member = await guild.fetch_member(user.id)
        return member

    @staticmethod
    def locale(interaction: discord.Interaction) -> str:
        return str(interaction.locale or "en")

    def tt(self, key: str, **kw) -> str:
        """A text for the safety team (the locale files' `team_texts`), in the configured locale."""
        return self.app.service.team_text(key, **kw)

    def mt(self, key: str, locale: str | None, **kw) -> str:
        """A member text of the locale files (`discord.<key>`), in the member's language."""
        return self.app.service.t("discord." + key, locale or self.app.config.locale, **kw)

    async def defer(self, interaction: discord.Interaction) -> None:
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)

    async def reply(self, interaction: discord.Interaction, text: str, *, view: Optional[discord.ui.View] = None) -> None:
        """Ephemeral answer (split to fit); a view goes on the last part."""
        parts = chunks(text) or [self.mt("done", self.locale(interaction))]
        for i, part in enumerate(parts):
            v = view if (view is not None and i == len(parts) - 1) else discord.utils.MISSING
            if not interaction.response.is_done():
                await interaction.response.send_message(part, ephemeral=True, view=v)
            else:
                await interaction.followup.send(part, ephemeral=True, view=v)

    def prompt_view(self, prompt: Prompt, locale: str | None) -> discord.ui.View:
        return prompt_view(prompt, self.app.service.texts, locale or self.app.config.locale)

    def case_view(self, guild_id: int, card: dict) -> Optional[discord.ui.View]:
        return case_view(guild_id, card, self.app.service.texts, self.app.config.locale)

    def _prune(self) -> None:
        horizon = time.monotonic() - PENDING_SECONDS
        for table in (self._pending_reports, self._pending_confirms):
            for key in [k for k, v in table.items() if v.at < horizon]:
                del table[key]

    async def on_command_error(self, interaction: discord.Interaction, error: Exception) -> None:
        log.error("command failed: %s", error.__class__.__name__, exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            await self.reply(interaction, self.mt("went_wrong", self.locale(interaction)))

    # ------------------------------------------------------------------ commands
    def _build_commands(self) -> None:
        tree = self.client.tree
        # A sharded (large) bot registers its commands once, globally (guilds=[]), from the process that runs
        # shard 0: one request instead of one per guild, and no per-guild copy of the tree in memory.
        guilds = [] if self.global_commands else [discord.Object(gid) for gid in self.guilds]
        ad = self

        def text(key: str):  # English as registered; other languages as Discord localizations (LocaleTranslator)
            return app_commands.locale_str(self.mt(key, "en"), key="discord." + key)

        @app_commands.command(name="report", description=text("report_command"))
        async def report(interaction: discord.Interaction) -> None:
            await ad.cmd_report(interaction)

        @app_commands.command(name="resources", description=text("resources_command"))
        @app_commands.describe(country=text("resources_country"))
        async def resources(interaction: discord.Interaction, country: Optional[str] = None) -> None:
            await ad.cmd_resources(interaction, country)

        @app_commands.command(name="protect", description=text("protect_command"))
        async def protect(interaction: discord.Interaction) -> None:
            await ad.cmd_protect(interaction)

        async def report_message(interaction: discord.Interaction, message: discord.Message) -> None:
            await ad.ctx_report_message(interaction, message)

        async def remove_block(interaction: discord.Interaction, message: discord.Message) -> None:
            await ad.ctx_remove_block(interaction, message)

        tree.add_command(report, guilds=guilds)
        tree.add_command(resources, guilds=guilds)
        tree.add_command(protect, guilds=guilds)
        tree.add_command(app_commands.ContextMenu(name=text("report_message_menu"), callback=report_message), guilds=guilds)
        remove_menu = app_commands.ContextMenu(name="Remove & block media", callback=remove_block)
        remove_menu.default_permissions = discord.Permissions(manage_messages=True)
        remove_menu.guild_only = True
        tree.add_command(remove_menu, guilds=guilds)
        tree.add_command(self._safety_group(), guilds=guilds)
        if self.global_commands:
            for command in tree.get_commands():
                command.guild_only = True  # global commands would also show in DMs; these belong in a server

    # ------------------------------------------------------------------ messages
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return
        if message.guild is None:
            try:
                await self.on_direct_message(message)
            except Exception:
                log.exception("a direct message could not be handled")
            return
        await self.on_guild_message(message)

    async def on_guild_message(self, message: discord.Message) -> None:
        """Messages in protected channels (every channel of a configured guild but the safety and escalation
        channels): images are checked against the hash bank (`check_media`)."""
        g = self.guilds.get(message.guild.id)
        if g is None or message.channel.id in (g.safety_channel, g.escalation_channel):
            return
        if message.attachments:
            await self.check_media(message, g)
        self.messages_handled += 1
