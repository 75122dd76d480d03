"""The Discord adapter: slash commands, context menus, buttons, modals and DMs in; core actions out.

Translation only (see adapters/README.md). Every reply to a member is ephemeral or a DM; every reply to
a moderator is ephemeral; case details only go to the configured private safety channel (or the
escalation destination). Report text and names are never logged.
"""

import asyncio
import contextlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Literal, Optional

import aiohttp
import discord
import yarl
from discord import app_commands

from safety_bot.actions import Outcome, Prompt
from safety_bot.app import App
from safety_bot.commands import ModCommand
from safety_bot.config import DiscordGuild
from safety_bot.domain import MessageRef, MessageSnapshot, UserRef
from safety_bot.ports import CaptureFailed
from safety_bot.service import Community, ModContext, ReportEvent, Resolved

from .platform import DiscordPlatform
from .render import PLATFORM, chunks, message_ref, modal_values, parse_link, snapshot_of, user_ref
from .ui import DYNAMIC_ITEMS, AnswerButton, CaseButton, ConfirmButton, answer_modal, report_modal

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".avif")
PENDING_SECONDS = 900  # an interaction token lives 15 minutes; so do our pending modals and confirmations
DMS_CLOSED_NOTE = ("Your direct messages are closed, so I could not message you privately. Here is what I "
                   "wanted to send you (only you can see this):")


@dataclass
class PendingReport:
    community: str
    snapshot: Optional[MessageSnapshot]
    accused_is_moderator: bool
    at: float


@dataclass
class PendingConfirm:
    guild_id: int
    user_id: int
    cmd: ModCommand
    resolved: Resolved
    at: float


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


class DiscordAdapter:
    """`await DiscordAdapter(app).run()` runs until `close()`. `ready` is set once connected, communities
    registered, the safety channels checked and unfinished actions resumed."""

    def __init__(self, app: App, *, ready_timeout: float = 2.0, sync_commands: bool = True):
        cfg = app.config.discord
        if cfg is None:
            raise ValueError("the Discord adapter needs a discord section in the config")
        self.app, self.cfg = app, cfg
        self.guilds: dict[int, DiscordGuild] = {g.id: g for g in cfg.guilds}
        self.sync_commands = sync_commands
        self.platform = DiscordPlatform(self)
        app.runtime.add_platform(self.platform)
        for g in cfg.guilds:
            self._register(g, str(g.id))
        # Request bodies (report text in DMs) are logged at DEBUG by discord.http: never below WARNING.
        logging.getLogger("discord.http").setLevel(logging.WARNING)
        intents = discord.Intents.default()
        intents.members = True  # who holds the safety role; which server a DM belongs to
        intents.message_content = True  # protected channels (media checks) and reported messages
        self.client = SafetyClient(self, intents=intents, allowed_mentions=discord.AllowedMentions.none(),
                                   guild_ready_timeout=ready_timeout)
        self.connected = asyncio.Event()
        self.ready = asyncio.Event()
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
        if self.sync_commands:
            for gid in self.guilds:
                try:
                    await self.client.tree.sync(guild=discord.Object(gid))
                except discord.HTTPException as exc:
                    log.warning("could not register the commands in guild %s (%s)", gid, exc.status)

    async def on_ready(self) -> None:
        self.connected.set()
        for g in self.guilds.values():
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
        if not self._resumed:
            self._resumed = True
            try:
                await self.app.runtime.resume()
            except Exception:
                log.exception("resuming unfinished actions failed")
        self.ready.set()

    # ------------------------------------------------------------------ helpers
    def guild_cfg(self, community: str | int | None) -> Optional[DiscordGuild]:
        try:
            return self.guilds.get(int(community)) if community is not None else None
        except (TypeError, ValueError):
            return None

    @staticmethod
    def channel_is_private(channel) -> bool:
        """True when @everyone cannot view the channel."""
        guild = getattr(channel, "guild", None)
        if guild is None:
            return True  # a DM
        return not channel.permissions_for(guild.default_role).view_channel

    def is_moderator(self, g: DiscordGuild, member) -> bool:
        """The configured safety role; Ban Members only where no safety role is configured."""
        if not isinstance(member, discord.Member):
            return False
        if g.safety_role is not None:
            return member.get_role(g.safety_role) is not None
        return member.guild_permissions.ban_members

    def holds_power(self, user_id: int | str) -> bool:
        """Whether this account is on the safety team of any configured guild (for cases about moderators)."""
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

    async def dm_community(self, user_id: str) -> str:
        """Which configured guild a DM belongs to: the member's report in progress, their latest open
        case, a guild they are in, or the first configured guild."""
        store = self.app.store
        intake = await store.get_intake(PLATFORM, user_id)
        if intake is not None:
            case = await store.get_case_by_id(intake.case_id)
            if case is not None and self.guild_cfg(case.community):
                return case.community
        best = None
        for gid in self.guilds:
            for case in await store.list_cases(str(gid), ("open", "acting")):
                if case.reporter and case.reporter.platform == PLATFORM and case.reporter.id == user_id:
                    if best is None or case.updated_at > best.updated_at:
                        best = case
        if best is not None:
            return best.community
        for gid in self.guilds:
            guild = self.client.get_guild(gid)
            if guild is not None and guild.get_member(int(user_id)) is not None:
                return str(gid)
        return str(next(iter(self.guilds)))

    async def member_community(self, interaction: discord.Interaction) -> str:
        if interaction.guild_id in self.guilds:
            return str(interaction.guild_id)
        return await self.dm_community(str(interaction.user.id))

    @staticmethod
    def locale(interaction: discord.Interaction) -> str:
        return str(interaction.locale or "en")

    async def defer(self, interaction: discord.Interaction) -> None:
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=True, thinking=True)

    async def reply(self, interaction: discord.Interaction, text: str, *, view: Optional[discord.ui.View] = None) -> None:
        """Ephemeral answer (split to fit); a view goes on the last part."""
        parts = chunks(text) or ["Done."]
        for i, part in enumerate(parts):
            v = view if (view is not None and i == len(parts) - 1) else discord.utils.MISSING
            if not interaction.response.is_done():
                await interaction.response.send_message(part, ephemeral=True, view=v)
            else:
                await interaction.followup.send(part, ephemeral=True, view=v)

    def prompt_view(self, prompt: Prompt) -> discord.ui.View:
        view = discord.ui.View(timeout=None)
        for i, choice in enumerate(prompt.choices[:22], 1):
            view.add_item(AnswerButton(prompt.question, str(i), choice.label))
        if prompt.free_text:
            view.add_item(AnswerButton(prompt.question, "text", "Answer"))
        view.add_item(AnswerButton(prompt.question, "skip", "Skip"))
        return view

    def case_view(self, guild_id: int, card: dict) -> Optional[discord.ui.View]:
        if card.get("closed") or card.get("case_number") is None:
            return None
        view = discord.ui.View(timeout=None)
        for op in ("remove", "ban", "assign", "close"):
            view.add_item(CaseButton(op, guild_id, card["case_number"]))
        return view

    def _prune(self) -> None:
        horizon = time.monotonic() - PENDING_SECONDS
        for table in (self._pending_reports, self._pending_confirms):
            for key in [k for k, v in table.items() if v.at < horizon]:
                del table[key]

    async def answer_member(self, interaction: discord.Interaction, reply: str, out: Outcome) -> None:
        """The member's reply (ephemeral), with what their closed DMs could not carry, then the next question."""
        undelivered = self.platform.undelivered.pop(str(interaction.user.id), None)
        if undelivered:
            reply = (reply + "\n\n" if reply else "") + DMS_CLOSED_NOTE + "\n\n" + "\n\n".join(undelivered)
        if reply:
            await self.reply(interaction, reply)
        if out.prompt is not None:
            await self.reply(interaction, out.prompt.text, view=self.prompt_view(out.prompt))

    async def block_media(self, action) -> str:
        """A removal with block (an explicit moderator choice): before the message is deleted, read its images
        into memory, hash them with variants and let the core bank them on the case. Returns the core's
        summary for the moderator. Never raises: the removal goes ahead whatever happens here."""
        bank = self.app.bank
        if bank is None:
            return ""

        async def read_images() -> list:
            try:
                channel = await self.platform._channel(int(action.ref.channel_id))
                message = await channel.fetch_message(int(action.ref.message_id))
            except (discord.HTTPException, ValueError):
                return []
            return await asyncio.gather(*(self.download(a) for a in self.image_attachments(message)))

        return await bank.bank_removed_images(action, PLATFORM, read_images)

    async def on_command_error(self, interaction: discord.Interaction, error: Exception) -> None:
        log.error("command failed: %s", error.__class__.__name__, exc_info=error)
        with contextlib.suppress(discord.HTTPException):
            await self.reply(interaction, "Something went wrong. Nothing more was changed; please try again.")

    # ------------------------------------------------------------------ commands
    def _build_commands(self) -> None:
        tree = self.client.tree
        guilds = [discord.Object(gid) for gid in self.guilds]
        ad = self

        @app_commands.command(name="report", description="Tell the safety team privately about something")
        async def report(interaction: discord.Interaction) -> None:
            await ad.cmd_report(interaction)

        @app_commands.command(name="resources", description="Places that can help, sent to you privately")
        @app_commands.describe(country="Your country (optional), e.g. DE or Germany")
        async def resources(interaction: discord.Interaction, country: Optional[str] = None) -> None:
            await ad.cmd_resources(interaction, country)

        async def report_message(interaction: discord.Interaction, message: discord.Message) -> None:
            await ad.ctx_report_message(interaction, message)

        async def remove_block(interaction: discord.Interaction, message: discord.Message) -> None:
            await ad.ctx_remove_block(interaction, message)

        tree.add_command(report, guilds=guilds)
        tree.add_command(resources, guilds=guilds)
        tree.add_command(app_commands.ContextMenu(name="Report message", callback=report_message), guilds=guilds)
        remove_menu = app_commands.ContextMenu(name="Remove & block media", callback=remove_block)
        remove_menu.default_permissions = discord.Permissions(manage_messages=True)
        remove_menu.guild_only = True
        tree.add_command(remove_menu, guilds=guilds)
        tree.add_command(self._safety_group(), guilds=guilds)

    def _safety_group(self) -> app_commands.Group:
        ad = self
        safety = app_commands.Group(name="safety", description="Safety team tools", guild_only=True,
                                    default_permissions=discord.Permissions(ban_members=True))

        @safety.command(name="cases", description="List open cases")
        @app_commands.rename(show_all="all")
        @app_commands.describe(show_all="Include closed cases")
        async def cases(interaction: discord.Interaction, show_all: bool = False) -> None:
            await ad.mod_command(interaction, "cases", flags={"all": show_all})

        @safety.command(name="case", description="Show one case")
        async def case_(interaction: discord.Interaction, case: app_commands.Range[int, 1]) -> None:
            await ad.mod_command(interaction, "case", case=case)

        @safety.command(name="note", description="Add a note to a case (team only)")
        async def note(interaction: discord.Interaction, case: app_commands.Range[int, 1], text: str) -> None:
            await ad.mod_command(interaction, "note", case=case, text=text)

        @safety.command(name="assign", description="Assign a case (to you, or to another team member)")
        async def assign(interaction: discord.Interaction, case: app_commands.Range[int, 1],
                         member: Optional[discord.User] = None) -> None:
            await ad.mod_command(interaction, "assign", case=case, member=member)

        @safety.command(name="close", description="Close a case")
        async def close(interaction: discord.Interaction, case: app_commands.Range[int, 1],
                        reason: Optional[Literal["actioned", "unfounded", "duplicate", "withdrawn"]] = None) -> None:
            await ad.mod_command(interaction, "close", case=case, text=reason or "")

        @safety.command(name="ban", description="Zero-tolerance ban across the network (by member or by id)")
        @app_commands.describe(member="The member", user_id="Or their user id (for someone who left)",
                               case="The case this ban belongs to", confirm="Skip the confirmation step",
                               reason="Why (team only; never shown in the audit log)")
        async def ban(interaction: discord.Interaction, member: Optional[discord.User] = None,
                      user_id: Optional[str] = None, case: Optional[app_commands.Range[int, 1]] = None,
                      confirm: bool = False, reason: Optional[str] = None) -> None:
            await ad.mod_command(interaction, "ban", case=case, member=member, user_id=user_id, text=reason or "",
                                 flags={"confirm": True} if confirm else {}, need_target=True)

        @safety.command(name="unban", description="Lift a ban across the network")
        async def unban(interaction: discord.Interaction, reason: str, member: Optional[discord.User] = None,
                        user_id: Optional[str] = None) -> None:
            await ad.mod_command(interaction, "unban", member=member, user_id=user_id, text=reason, need_target=True)

        @safety.command(name="remove", description="Capture a message as evidence, then remove it")
        @app_commands.describe(link="Message link (right-click > Copy Message Link)",
                               block="Also block its images from being posted again")
        async def remove(interaction: discord.Interaction, link: str, case: Optional[app_commands.Range[int, 1]] = None,
                         block: bool = False) -> None:
            await ad.mod_command(interaction, "remove", case=case, link=link, flags={"block": True} if block else {})

        @safety.command(name="warn", description="Warn a member (a strike; not for sextortion cases)")
        async def warn(interaction: discord.Interaction, member: discord.User, reason: str,
                       case: Optional[app_commands.Range[int, 1]] = None) -> None:
            await ad.mod_command(interaction, "warn", case=case, member=member, text=reason, need_target=True)

        @safety.command(name="strikes", description="Show a member's strikes")
        async def strikes(interaction: discord.Interaction, member: Optional[discord.User] = None,
                          user_id: Optional[str] = None) -> None:
            await ad.mod_command(interaction, "strikes", member=member, user_id=user_id, need_target=True)

        @safety.command(name="resources", description="Send help resources to a member privately")
        async def resources(interaction: discord.Interaction, member: discord.User, country: Optional[str] = None) -> None:
            await ad.mod_command(interaction, "resources", member=member, text=country or "", need_target=True)

        @safety.command(name="reply", description="Write to the reporter of a case through the bot")
        async def reply(interaction: discord.Interaction, case: app_commands.Range[int, 1], text: str) -> None:
            await ad.mod_command(interaction, "reply", case=case, text=text)

        @safety.command(name="open", description="Open a case on suspicion")
        async def open_(interaction: discord.Interaction, member: discord.User, note: str,
                        category: Optional[Literal["sextortion", "child_safety", "harassment"]] = None) -> None:
            await ad.mod_command(interaction, "open", member=member, text=note,
                                 flags={"category": category} if category else {}, need_target=True)

        @safety.command(name="export", description="Export a case to a file on the bot's host (never uploaded)")
        async def export(interaction: discord.Interaction, case: app_commands.Range[int, 1],
                         reason: Optional[str] = None) -> None:
            await ad.mod_command(interaction, "export", case=case, flags={"reason": reason} if reason else {})

        @safety.command(name="reveal", description="Show an anonymous reporter's name (audited)")
        async def reveal(interaction: discord.Interaction, case: app_commands.Range[int, 1], reason: str) -> None:
            await ad.mod_command(interaction, "reveal", case=case, text=reason)

        @safety.command(name="hold", description="Keep a case from retention purges (or release it)")
        async def hold(interaction: discord.Interaction, case: app_commands.Range[int, 1], off: bool = False) -> None:
            await ad.mod_command(interaction, "hold", case=case, text="off" if off else "")

        return safety

    # ------------------------------------------------------------------ moderators
    async def _moderate(self, interaction: discord.Interaction, guild_id: int, cmd: ModCommand,
                        resolved: Optional[Resolved] = None, *, is_moderator: Optional[bool] = None) -> Outcome:
        g = self.guilds[guild_id]
        if is_moderator is None:
            is_moderator = self.is_moderator(g, await self.member_of(guild_id, interaction.user))
        ctx = ModContext(actor=user_ref(interaction.user), community=str(guild_id), is_moderator=is_moderator,
                         locale=self.locale(interaction))
        out = await self.app.service.moderate(ctx, cmd, resolved or Resolved())
        return await self.app.runtime.run(out)

    async def resolve_target(self, guild_id: int, member, user_id: Optional[str]):
        """A UserRef, or a message (str) saying why not."""
        guild = self.client.get_guild(guild_id)
        if member is not None:
            if guild is not None and not isinstance(member, discord.Member):
                member = guild.get_member(member.id) or member
            return user_ref(member)
        if not user_id:
            return None
        digits = re.sub(r"[<@!>\s]", "", user_id)
        if not digits.isdigit() or not 15 <= len(digits) <= 21:
            return f"'{discord.utils.escape_markdown(user_id[:40])}' is not a Discord user id. Nothing was changed."
        uid = int(digits)
        found = (guild.get_member(uid) if guild is not None else None) or self.client.get_user(uid)
        if found is None:
            try:
                found = await self.client.fetch_user(uid)
            except discord.NotFound:
                return f"No Discord account has the id {uid}. Nothing was changed."
            except discord.HTTPException:
                return UserRef(PLATFORM, str(uid), "")
        return user_ref(found)

    def ref_from_link(self, guild_id: int, link: str):
        """A MessageRef in this guild, or a message (str) saying why not."""
        parsed = parse_link(link)
        if parsed is None:
            return ("That is not a message link. Use the message's menu > Copy Message Link "
                    "(https://discord.com/channels/...). Nothing was changed.")
        lg, lc, lm = parsed
        if lg is None:
            channel = self.client.get_channel(lc)
            lg = channel.guild.id if channel is not None and getattr(channel, "guild", None) else guild_id
        if lg != guild_id:
            return ("That message link is from another server. Use a link to a message in this server "
                    "(run the command in the other server instead). Nothing was changed.")
        return message_ref(guild_id, lc, lm)

    async def mod_command(self, interaction: discord.Interaction, name: str, *, case: Optional[int] = None,
                          member=None, user_id: Optional[str] = None, link: Optional[str] = None, text: str = "",
                          flags: Optional[dict] = None, need_target: bool = False) -> None:
        gid = interaction.guild_id
        if gid not in self.guilds:
            await self.reply(interaction, "This server is not set up for safety-bot. Nothing was changed.")
            return
        await self.defer(interaction)
        cmd = ModCommand(name=name, case=case, text=text or "", flags=dict(flags or {}))
        resolved = Resolved()
        is_mod = self.is_moderator(self.guilds[gid], await self.member_of(gid, interaction.user))
        if is_mod:  # resolve only for the team; the core refuses everyone else and changes nothing
            if member is not None or user_id:
                target = await self.resolve_target(gid, member, user_id)
                if isinstance(target, str):
                    await self.reply(interaction, target)
                    return
                cmd.targets = [target.id]
                resolved.targets = [target]
                if self.holds_power(target.id):
                    resolved.moderators.add(target.key)
            elif need_target:
                await self.reply(interaction, "Choose a member, or give their user id. Nothing was changed.")
                return
            if link is not None:
                ref = self.ref_from_link(gid, link)
                if isinstance(ref, str):
                    await self.reply(interaction, ref)
                    return
                cmd.message, resolved.message = ref.link, ref
        out = await self._moderate(interaction, gid, cmd, resolved, is_moderator=is_mod)
        view = None
        if out.needs_confirmation:
            self._prune()
            token = secrets.token_hex(8)
            self._pending_confirms[token] = PendingConfirm(gid, interaction.user.id, cmd, resolved, time.monotonic())
            view = discord.ui.View(timeout=None)
            view.add_item(ConfirmButton(token))
            out.reply = out.reply.replace("run the same command with --confirm", "press Confirm (or run the command with confirm:true)")
        await self.reply(interaction, out.reply or "Done.", view=view)

    async def on_confirm_button(self, interaction: discord.Interaction, token: str) -> None:
        pending = self._pending_confirms.get(token)
        if pending is None:
            await self.reply(interaction, "This confirmation has expired. Run the command again. Nothing was changed.")
            return
        if pending.user_id != interaction.user.id:
            await self.reply(interaction, "Only the moderator who ran the command can confirm it. Nothing was changed.")
            return
        del self._pending_confirms[token]
        await self._mark_pressed(interaction, "Confirmed.")
        pending.cmd.flags["confirm"] = True
        out = await self._moderate(interaction, pending.guild_id, pending.cmd, pending.resolved)
        await self.reply(interaction, out.reply or "Done.")

    async def _mark_pressed(self, interaction: discord.Interaction, note: str) -> None:
        """Answer a button by editing its message (buttons removed), so it cannot be pressed twice."""
        content = (interaction.message.content if interaction.message else "") or ""
        try:
            await interaction.response.edit_message(content=(content + "\n\n" + note)[-2000:], view=None)
        except discord.HTTPException:
            await self.defer(interaction)

    async def ctx_remove_block(self, interaction: discord.Interaction, message: discord.Message) -> None:
        gid = interaction.guild_id
        if gid not in self.guilds:
            await self.reply(interaction, "This server is not set up for safety-bot. Nothing was changed.")
            return
        await self.defer(interaction)
        ref = message_ref(gid, message.channel.id, message.id)
        cmd = ModCommand(name="remove", message=ref.link, flags={"block": True})
        out = await self._moderate(interaction, gid, cmd, Resolved(message=ref))
        await self.reply(interaction, out.reply or "Done.")

    async def on_case_button(self, interaction: discord.Interaction, op: str, guild_id: int, number: int) -> None:
        g = self.guilds.get(guild_id)
        if g is None:
            await self.reply(interaction, "This server is not set up for safety-bot. Nothing was changed.")
            return
        await self.defer(interaction)
        is_mod = self.is_moderator(g, await self.member_of(guild_id, interaction.user))
        name = {"banconfirm": "ban"}.get(op, op)
        if not is_mod:  # the core refuses, logs it, and changes nothing
            out = await self._moderate(interaction, guild_id, ModCommand(name=name, case=number), is_moderator=False)
            await self.reply(interaction, out.reply)
            return
        store, actor = self.app.store, user_ref(interaction.user)
        case = await store.get_case(str(guild_id), number)
        if case is None or actor.key in case.hidden_from:
            await self.reply(interaction, self.app.service.t("unknown_case", self.locale(interaction), number=number))
            return
        replies: list[str] = []
        view = None
        if op == "assign":
            replies.append((await self._moderate(interaction, guild_id, ModCommand("assign", case=number),
                                                 is_moderator=True)).reply)
        elif op == "close":
            replies.append((await self._moderate(interaction, guild_id, ModCommand("close", case=number, text="actioned"),
                                                 is_moderator=True)).reply)
        elif op in ("ban", "banconfirm"):
            targets = [a for a in case.accused if a.platform == PLATFORM]
            if not targets:
                replies.append(f"Case {number} does not name a Discord account yet. Use /safety ban with the member "
                               f"(or their id) and case:{number}. Nothing was changed.")
            else:
                cmd = ModCommand("ban", case=number, targets=[t.id for t in targets],
                                 flags={"confirm": True} if op == "banconfirm" else {})
                resolved = Resolved(targets=targets, moderators={t.key for t in targets if self.holds_power(t.id)})
                out = await self._moderate(interaction, guild_id, cmd, resolved, is_moderator=True)
                reply = out.reply
                if out.needs_confirmation:
                    reply = reply.replace("run the same command with --confirm", "press Confirm ban")
                    view = discord.ui.View(timeout=None)
                    view.add_item(CaseButton("banconfirm", guild_id, number))
                replies.append(reply)
        elif op == "remove":
            refs: dict[str, MessageRef] = {}
            for ev in await store.evidence_for(case.id):
                if ev.ref and ev.ref.platform == PLATFORM:
                    refs.setdefault(ev.ref.message_id, ev.ref)
            for rep in await store.reports_for(case.id):
                if rep.reported_message and rep.reported_message.platform == PLATFORM:
                    refs.setdefault(rep.reported_message.message_id, rep.reported_message)
            if not refs:
                replies.append(f"Case {number} has no reported message to remove. Use /safety remove with a "
                               f"message link and case:{number}.")
            for ref in refs.values():
                cmd = ModCommand("remove", case=number, message=ref.link or ref.message_id, flags={"block": True})
                replies.append((await self._moderate(interaction, guild_id, cmd, Resolved(message=ref),
                                                     is_moderator=True)).reply)
        await self.reply(interaction, "\n".join(r for r in replies if r) or "Done.", view=view)
        if op != "banconfirm" and interaction.message is not None and interaction.message.embeds:
            await self.refresh_card(interaction.message, guild_id, number)

    async def refresh_card(self, message: discord.Message, guild_id: int, number: int) -> None:
        """Show the case's current state on its post (status, assignee); buttons go when it is closed."""
        from .render import card_embed

        case = await self.app.store.get_case(str(guild_id), number)
        if case is None or not self.channel_is_private(message.channel):
            return
        card = await self.app.service.case_card(case, headline=message.embeds[0].title or "")
        with contextlib.suppress(discord.HTTPException):
            await message.edit(embed=card_embed(card), view=self.case_view(guild_id, card))

    # ------------------------------------------------------------------ members
    async def cmd_report(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is not None and interaction.guild_id not in self.guilds:
            await self.reply(interaction, "This server is not set up for safety-bot.")
            return
        self._prune()
        community = await self.member_community(interaction)
        nonce = secrets.token_hex(8)
        self._pending_reports[nonce] = PendingReport(community, None, False, time.monotonic())
        await interaction.response.send_modal(report_modal(f"safety:report:{nonce}", with_message=False))

    async def ctx_report_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        gid = interaction.guild_id
        g = self.guilds.get(gid) if gid is not None else None
        if g is None:
            await self.reply(interaction, "This server is not set up for safety-bot.")
            return
        # Evidence first: captured now from the resolved message, before a ban or deletion can purge it.
        snapshot = snapshot_of(message, gid)
        author = await self.member_of(gid, message.author) if message.author.id != interaction.user.id else None
        self._prune()
        nonce = secrets.token_hex(8)
        self._pending_reports[nonce] = PendingReport(str(gid), snapshot, self.is_moderator(g, author), time.monotonic())
        custom_id = f"safety:report:{nonce}:{message.channel.id}:{message.id}"
        await interaction.response.send_modal(report_modal(custom_id, with_message=True))

    async def _capture(self, ref: MessageRef) -> Optional[MessageSnapshot]:
        try:
            return await self.platform.fetch_message(ref)
        except CaptureFailed:
            return None

    async def on_report_submit(self, interaction: discord.Interaction, custom_id: str) -> None:
        await self.defer(interaction)
        parts = custom_id.split(":")
        pending = self._pending_reports.pop(parts[2], None) if len(parts) > 2 else None
        values = modal_values(interaction.data or {})
        what, link, more = (values.get(k, "").strip() for k in ("what", "link", "more"))
        community = pending.community if pending else await self.member_community(interaction)
        g = self.guilds[int(community)]
        snapshot = pending.snapshot if pending else None
        accused_mod = pending.accused_is_moderator if pending else False
        ref: Optional[MessageRef] = None
        notes: list[str] = []
        if snapshot is None and len(parts) == 5:  # opened before a restart: capture now, if it is still there
            ref = message_ref(int(community), int(parts[3]), int(parts[4]))
            snapshot = await self._capture(ref)
        elif snapshot is None and link:
            found = self.ref_from_link(int(community), link)
            if isinstance(found, MessageRef):
                ref = found
                snapshot = await self._capture(ref)
                if snapshot is None:
                    notes.append("I could not open that message (it may be gone); the team has the link.")
            else:
                more = (more + "\n" if more else "") + f"Link given: {link}"
                if parse_link(link) is not None:
                    notes.append("That link is to a message in another server, so it was not attached as evidence; "
                                 "the team can still see it.")
        if snapshot is not None and not accused_mod and snapshot.author.id != str(interaction.user.id):
            guild = self.client.get_guild(g.id)
            accused_mod = self.is_moderator(g, guild.get_member(int(snapshot.author.id)) if guild else None)
        text = what + (("\n\n" if what else "") + "Anything else: " + more if more else "")
        ev = ReportEvent(community=community, reporter=user_ref(interaction.user), text=text,
                         locale=self.locale(interaction), message=snapshot,
                         message_ref=ref if snapshot is None else None, accused_is_moderator=accused_mod,
                         source="message" if (snapshot or ref) else "member")
        out = await self.app.service.report(ev)
        if not out.ok:
            await self.reply(interaction, out.reply)
            return
        reply = out.reply + ("\n" + "\n".join(notes) if notes else "")
        out = await self.app.runtime.run(out)
        await self.answer_member(interaction, reply, out)

    async def cmd_resources(self, interaction: discord.Interaction, country: Optional[str]) -> None:
        await self.defer(interaction)
        community = await self.member_community(interaction)
        out = await self.app.service.resources_request(user_ref(interaction.user), community, self.locale(interaction),
                                                       country)
        body = out.reply
        await self.app.runtime.run(out)
        if self.platform.undelivered.pop(str(interaction.user.id), None):
            text = ("Your direct messages are closed, so I could not send these to you privately. Here they are "
                    "(only you can see this):\n\n" + body)
        else:
            text = body + "\n\n(I also sent this to you by direct message, so you can find it later.)"
        await self.reply(interaction, text)

    async def on_answer_button(self, interaction: discord.Interaction, question: str, value: str, label: str) -> None:
        intake = await self.app.store.get_intake(PLATFORM, str(interaction.user.id))
        if intake is None or intake.current != question:
            await self.reply(interaction, "That question was already answered or has closed.")
            return
        if value == "text":
            await interaction.response.send_modal(answer_modal(question, "Your answer"))
            return
        await self._mark_pressed(interaction, "Skipped." if value == "skip" else f"Your answer: {label}")
        await self.member_answer(interaction, "skip" if value == "skip" else value)

    async def member_answer(self, interaction: discord.Interaction, text: str) -> None:
        await self.defer(interaction)
        community = await self.member_community(interaction)
        out = await self.app.service.member_message(user_ref(interaction.user), community, text,
                                                    self.locale(interaction))
        reply = out.reply
        out = await self.app.runtime.run(out)
        await self.answer_member(interaction, reply, out)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type != discord.InteractionType.modal_submit:
            return
        custom_id = (interaction.data or {}).get("custom_id", "")
        try:
            if custom_id.startswith("safety:report:"):
                await self.on_report_submit(interaction, custom_id)
            elif custom_id.startswith("safety:answertext:"):
                answer = modal_values(interaction.data or {}).get("answer", "").strip()
                intake = await self.app.store.get_intake(PLATFORM, str(interaction.user.id))
                if intake is None or intake.current != custom_id.split(":", 2)[2]:
                    await self.reply(interaction, "That question was already answered or has closed.")
                else:
                    await self.member_answer(interaction, answer or "skip")
        except Exception as exc:
            await self.on_command_error(interaction, exc)

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

    async def check_media(self, message: discord.Message, g: DiscordGuild) -> None:
        """Read a new message's images into memory (never to disk), hash them in a worker thread and let the
        core compare them with the network's hash bank; run what it decides (remove, ban, tell the team).
        Nothing is downloaded while the network's bank is empty."""
        bank = self.app.bank
        if bank is None or not bank.has_entries(g.network):
            return
        images = self.image_attachments(message)
        if not images:
            return
        try:
            found = [f for f in await asyncio.gather(*(self._read_and_hash(a) for a in images)) if f is not None]
            if not found:
                return
            ref = message_ref(g.id, message.channel.id, message.id)
            out = await bank.check(str(g.id), ref, user_ref(message.author), [h for h, _ in found],
                                   sizes=[n for _, n in found])
            if out.actions:
                await self.app.runtime.run(out)
        except Exception as exc:
            log.error("media check of a message failed (%s)", exc.__class__.__name__)

    @staticmethod
    def image_attachments(message: discord.Message) -> list:
        out = []
        for a in message.attachments:
            ctype = (a.content_type or "").split(";")[0].strip().lower()
            if ctype.startswith("image/") or (not ctype and (a.filename or "").lower().endswith(IMAGE_SUFFIXES)):
                out.append(a)
        return out

    async def _read_and_hash(self, attachment, *, with_variants: bool = False):
        """(MediaHashes, size) of one attachment read into memory, or None (too large, gone, not an image)."""
        return await self.app.bank.hash_download(await self.download(attachment), with_variants=with_variants)

    async def download(self, attachment) -> Optional[bytes]:
        """The attachment's bytes, in memory, capped at media.max_bytes (the declared size is checked first,
        then the stream is cut off). Never written anywhere."""
        limit = self.app.config.media.max_bytes
        if (attachment.size or 0) > limit:
            log.info("an attachment is larger than media.max_bytes; not checked")
            return None
        if self._cdn is None or self._cdn.closed:
            self._cdn = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20, sock_connect=5))
        try:
            async with self._cdn.get(attachment.url) as resp:
                if resp.status != 200:
                    log.info("an attachment could not be downloaded (HTTP %s)", resp.status)
                    return None
                buf = bytearray()
                async for chunk in resp.content.iter_chunked(65536):
                    buf += chunk
                    if len(buf) > limit:
                        log.info("an attachment is larger than media.max_bytes; not checked")
                        return None
                return bytes(buf)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.info("an attachment could not be downloaded (%s)", exc.__class__.__name__)
            return None

    async def on_direct_message(self, message: discord.Message) -> None:
        text = (message.content or "").strip()
        if not text:
            await message.channel.send("I can only read text here. Please do not send pictures; describe what "
                                       "happened or send a message link instead.")
            return
        uid = str(message.author.id)
        community = await self.dm_community(uid)
        out = await self.app.service.member_message(user_ref(message.author), community, text, None)
        reply = out.reply
        out = await self.app.runtime.run(out)
        self.platform.undelivered.pop(uid, None)
        for part in chunks(reply):
            await message.channel.send(part)
        if out.prompt is not None:
            parts = chunks(out.prompt.text) or ["-"]
            for i, part in enumerate(parts):
                await message.channel.send(part, view=self.prompt_view(out.prompt) if i == len(parts) - 1 else None)
