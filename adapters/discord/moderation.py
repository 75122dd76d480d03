"""The Discord adapter's moderator side: the /safety command group, the case-post buttons, the
"Remove & block media" context menu and ban confirmations. Part of :class:`DiscordAdapter` (a mixin:
it uses the adapter's client, config and helpers)."""

import contextlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Optional

import discord
from discord import app_commands

from safety_bot import case_buttons
from safety_bot.actions import Outcome
from safety_bot.commands import ModCommand
from safety_bot.domain import MessageRef, UserRef
from safety_bot.events import ModContext, Resolved
from safety_bot.respond import respond

from .commands import safety_group
from .render import PLATFORM, message_ref, parse_link, user_ref
from .ui import CaseButton, ConfirmButton




@dataclass
class PendingConfirm:
    guild_id: int
    user_id: int
    cmd: ModCommand
    resolved: Resolved
    at: float


class DiscordModeration:
    def _safety_group(self) -> app_commands.Group:
        """Generated from the core's command registry (see commands.py)."""
        return safety_group(self)

    # ------------------------------------------------------------------ moderators
    async def _moderate(self, interaction: discord.Interaction, guild_id: int, cmd: ModCommand,
                        resolved: Optional[Resolved] = None, *, is_moderator: Optional[bool] = None,
                        via: str = "command") -> Outcome:
        ctx = await self._mod_context(interaction, guild_id, is_moderator, via)
        return await respond(self.app.runtime, await self.app.service.moderate(ctx, cmd, resolved or Resolved()),
                             member=False)

    async def _mod_context(self, interaction: discord.Interaction, guild_id: int,
                           is_moderator: Optional[bool] = None, via: str = "command") -> ModContext:
        g = self.guilds[guild_id]
        if is_moderator is None:
            is_moderator = self.is_moderator(g, await self.member_of(guild_id, interaction.user))
        return ModContext(actor=user_ref(interaction.user), community=str(guild_id), is_moderator=is_moderator,
                          locale=self.locale(interaction), via=via, via_escalation=self.via_escalation(g, interaction))

    async def _button_context(self, interaction: discord.Interaction, guild_id: int) -> Optional[ModContext]:
        """Who pressed a case card's button, read from their current roles; None after telling them this
        server is not set up (nothing changes)."""
        if guild_id not in self.guilds:
            await self.reply(interaction, self.tt("discord_not_set_up"))
            return None
        await self.defer(interaction)
        return await self._mod_context(interaction, guild_id)

    def via_escalation(self, g, interaction: discord.Interaction) -> bool:
        """The escalation contact, or a command given in the escalation channel (or one of its threads)."""
        if g.escalation_user and interaction.user.id == g.escalation_user:
            return True
        if not g.escalation_channel:
            return False
        channel = interaction.channel
        cid = getattr(channel, "id", None) or interaction.channel_id
        return cid == g.escalation_channel or getattr(channel, "parent_id", None) == g.escalation_channel

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
            return self.tt("discord_not_user_id", given=discord.utils.escape_markdown(user_id[:40]))
        uid = int(digits)
        found = (guild.get_member(uid) if guild is not None else None) or self.client.get_user(uid)
        if found is None:
            try:
                found = await self.client.fetch_user(uid)
            except discord.NotFound:
                return self.tt("discord_no_account", id=uid)
            except discord.HTTPException:
                return UserRef(PLATFORM, str(uid), "")
        return user_ref(found)

    def ref_from_link(self, guild_id: int, link: str):
        """A MessageRef in this guild, or a message (str) saying why not."""
        parsed = parse_link(link)
        if parsed is None:
            return self.tt("discord_not_a_link")
        lg, lc, lm = parsed
        if lg is None:
            channel = self.client.get_channel(lc)
            lg = channel.guild.id if channel is not None and getattr(channel, "guild", None) else guild_id
        if lg != guild_id:
            return self.tt("discord_other_server")
        return message_ref(guild_id, lc, lm)

    def _outside_scope(self, guild_id: int, channel) -> Optional[str]:
        """A refusal (text) when a message in this channel is not the bot's to remove: the safety team's own
        channels (safety and escalation, and their threads) or a channel of another server or a DM."""
        g = self.guilds[guild_id]
        channel = self.client.get_channel(channel.id) or channel  # the cached one knows a thread's parent
        guild = getattr(channel, "guild", None)
        in_guild = guild.id if guild is not None else getattr(channel, "guild_id", None)
        if in_guild is None:
            return self.tt("discord_outside_scope")  # a DM
        if in_guild != guild_id:
            return self.tt("discord_other_server")
        team = {c for c in (g.safety_channel, g.escalation_channel) if c}
        if channel.id in team or getattr(channel, "parent_id", None) in team:
            return self.tt("discord_team_channel")
        return None

    async def resolve_message(self, interaction: discord.Interaction, guild_id: int, ref: MessageRef,
                              case_number: Optional[int] = None):
        """The linked message, for a removal. A text saying why not (nothing changes) when it is not the bot's
        to remove or does not exist; None when the bot cannot look (no access, a Discord error): the core
        and the runtime handle that as before."""
        g = self.guilds[guild_id]
        cid = int(ref.channel_id)
        if cid in {c for c in (g.safety_channel, g.escalation_channel) if c}:
            return self.tt("discord_team_channel")
        not_found = self.app.service.t("message_not_found_ref", self.locale(interaction))
        try:
            channel = self.client.get_channel(cid) or await self.client.fetch_channel(cid)
        except discord.NotFound:
            return not_found
        except discord.HTTPException:  # Forbidden included: the bot cannot see the channel
            return None
        refusal = self._outside_scope(guild_id, channel)
        if refusal:
            return refusal
        if not hasattr(channel, "fetch_message"):  # a category or forum: no messages of its own
            return not_found
        try:
            return await channel.fetch_message(int(ref.message_id))
        except discord.NotFound:
            # Gone. For a removal on a given case (a message removed before, or deleted by its author), the
            # core notes on that case that it was already gone; without a case there is nothing to act on.
            return None if case_number is not None else not_found
        except discord.HTTPException:
            return None

    def _set_author(self, resolved: Resolved, message: discord.Message) -> None:
        resolved.message_author = user_ref(message.author)
        if self.holds_power(message.author.id):
            resolved.moderators.add(resolved.message_author.key)

    async def mod_command(self, interaction: discord.Interaction, name: str, *, case: Optional[int] = None,
                          member=None, user_id: Optional[str] = None, link: Optional[str] = None, text: str = "",
                          flags: Optional[dict] = None, need_target: bool = False) -> None:
        gid = interaction.guild_id
        if gid not in self.guilds:
            await self.reply(interaction, self.tt("discord_not_set_up"))
            return
        await self.defer(interaction)
        cmd = ModCommand(name=name, case=case, text=text or "", flags=dict(flags or {}))
        resolved = Resolved()
        is_mod = self.is_moderator(self.guilds[gid], await self.member_of(gid, interaction.user))
        if is_mod or self.via_escalation(self.guilds[gid], interaction):  # the core refuses everyone else
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
                await self.reply(interaction, self.tt("discord_choose_member"))
                return
            if link is not None:
                ref = self.ref_from_link(gid, link)
                if isinstance(ref, str):
                    await self.reply(interaction, ref)
                    return
                cmd.message, resolved.message = ref.link, ref
                found = await self.resolve_message(interaction, gid, ref, case)
                if isinstance(found, str):
                    await self.reply(interaction, found)
                    return
                if found is not None:
                    self._set_author(resolved, found)
        out = await self._moderate(interaction, gid, cmd, resolved, is_moderator=is_mod)
        view = None
        if out.needs_confirmation:
            self._prune()
            token = secrets.token_hex(8)
            self._pending_confirms[token] = PendingConfirm(gid, interaction.user.id, cmd, resolved, time.monotonic())
            view = discord.ui.View(timeout=None)
            view.add_item(ConfirmButton(token, self.tt("discord_button_confirm")))
        await self.reply(interaction, out.reply or self.tt("done"), view=view)

    async def on_confirm_button(self, interaction: discord.Interaction, token: str) -> None:
        pending = self._pending_confirms.get(token)
        if pending is None:
            await self.reply(interaction, self.tt("confirm_expired"))
            return
        if pending.user_id != interaction.user.id:
            await self.reply(interaction, self.tt("confirm_not_yours"))
            return
        del self._pending_confirms[token]
        await self._mark_pressed(interaction, self.tt("discord_confirmed"))
        pending.cmd.flags["confirm"] = True
        out = await self._moderate(interaction, pending.guild_id, pending.cmd, pending.resolved)
        await self.reply(interaction, out.reply or self.tt("done"))

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
            await self.reply(interaction, self.tt("discord_not_set_up"))
            return
        await self.defer(interaction)
        ref = message_ref(gid, message.channel.id, message.id)
        cmd = ModCommand(name="remove", message=ref.link, flags={"block": True})
        resolved = Resolved(message=ref)
        is_mod = self.is_moderator(self.guilds[gid], await self.member_of(gid, interaction.user))
        if is_mod or self.via_escalation(self.guilds[gid], interaction):  # the core refuses everyone else
            refusal = self._outside_scope(gid, message.channel)
            if refusal:
                await self.reply(interaction, refusal)
                return
            self._set_author(resolved, message)
        out = await self._moderate(interaction, gid, cmd, resolved, is_moderator=is_mod, via="menu")
        await self.reply(interaction, out.reply or self.tt("done"))

    async def on_case_button(self, interaction: discord.Interaction, op: str, guild_id: int, number: int) -> None:
        ctx = await self._button_context(interaction, guild_id)
        if ctx is None:
            return
        # The core decides what the button means (conflicts of interest, ban targets, which messages to remove);
        # "remove" gets the same channel check as /safety remove: never a message in the team's own channels.
        g = self.guilds[guild_id]
        team = {c for c in (g.safety_channel, g.escalation_channel) if c}
        steps = await case_buttons.press(self.app.service, ctx, op, number, lambda u: self.holds_power(u.id),
                                         in_scope=lambda ref: not ref.channel_id.isdigit() or int(ref.channel_id) not in team,
                                         out_of_scope=self.tt("discord_team_channel"))
        replies = [(await respond(self.app.runtime, out, member=False)).reply for out in steps.outcomes]
        if steps.refused:  # not a moderator: the core refused, logged it, and changed nothing
            await self.reply(interaction, replies[0])
            return
        view = None
        if steps.confirm:
            view = discord.ui.View(timeout=None)
            view.add_item(CaseButton("banconfirm", guild_id, number,
                                     self.tt("discord_button_banconfirm")))
        await self.reply(interaction, "\n".join(r for r in replies if r) or self.tt("done"), view=view)
        if op != "banconfirm" and interaction.message is not None and interaction.message.embeds:
            await self.refresh_card(interaction.message, guild_id, number)

    async def on_uploader_ban_button(self, interaction: discord.Interaction, guild_id: int, number: int,
                                     user_id: int) -> None:
        """"Ban this uploader" on the alert about another uploader of a banked picture: the core decides
        (case_buttons.press_uploader_ban, the ban command's guards); this only translates."""
        ctx = await self._button_context(interaction, guild_id)
        if ctx is None:
            return
        target = await self.resolve_target(guild_id, None, str(user_id))
        if not isinstance(target, UserRef):
            await self.reply(interaction, target or self.tt("nothing_changed"))
            return
        steps = await case_buttons.press_uploader_ban(self.app.service, ctx, number, target,
                                                      lambda u: self.holds_power(u.id))
        replies = [(await respond(self.app.runtime, out, member=False)).reply for out in steps.outcomes]
        await self.reply(interaction, "\n".join(r for r in replies if r) or self.tt("done"))
        if any(out.ok for out in steps.outcomes) and interaction.message is not None:
            with contextlib.suppress(discord.HTTPException):  # done: the button goes, so it is not pressed twice
                await interaction.message.edit(view=None)

    async def refresh_card(self, message: discord.Message, guild_id: int, number: int) -> None:
        """Show the case's current state on its post (status, assignee); buttons go when it is closed."""
        from .render import card_embed

        if not self.channel_is_private(message.channel):
            return
        g = self.guilds[guild_id]
        channel = message.channel
        posted = "escalation" if g.escalation_channel and g.escalation_channel in (
            getattr(channel, "id", None), getattr(channel, "parent_id", None)) else "safety"
        card = await self.app.service.card_for(str(guild_id), number, headline=message.embeds[0].title or "",
                                               destination=posted)
        if card is None:
            return
        with contextlib.suppress(discord.HTTPException):
            await message.edit(embed=card_embed(card), view=self.case_view(guild_id, card))
