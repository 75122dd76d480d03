"""The Discord adapter's moderator side: the /safety command group, the case-post buttons, the
"Remove & block media" context menu and ban confirmations. Part of :class:`DiscordAdapter` (a mixin:
it uses the adapter's client, config and helpers)."""

import contextlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Literal, Optional

import discord
from discord import app_commands

from safety_bot.actions import Outcome
from safety_bot.commands import ModCommand
from safety_bot.domain import MessageRef, UserRef
from safety_bot.events import ModContext, Resolved

from .render import PLATFORM, message_ref, parse_link, user_ref
from .ui import CaseButton, ConfirmButton


OTHER_SERVER = ("That message link is from another server. Use a link to a message in this server "
                "(run the command in the other server instead). Nothing was changed.")
OUTSIDE_SCOPE = ("That message is not in one of the channels the bot protects, so it cannot remove it. "
                 "Nothing was changed.")
TEAM_CHANNEL = ("That message is not in one of the channels the bot protects (it is in the safety team's own "
                "channel), so it cannot remove it. Nothing was changed.")


@dataclass
class PendingConfirm:
    guild_id: int
    user_id: int
    cmd: ModCommand
    resolved: Resolved
    at: float


class DiscordModeration:
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
            return OTHER_SERVER
        return message_ref(guild_id, lc, lm)

    def _outside_scope(self, guild_id: int, channel) -> Optional[str]:
        """A refusal (text) when a message in this channel is not the bot's to remove: the safety team's own
        channels (safety and escalation, and their threads) or a channel of another server or a DM."""
        g = self.guilds[guild_id]
        channel = self.client.get_channel(channel.id) or channel  # the cached one knows a thread's parent
        guild = getattr(channel, "guild", None)
        in_guild = guild.id if guild is not None else getattr(channel, "guild_id", None)
        if in_guild is None:
            return OUTSIDE_SCOPE  # a DM
        if in_guild != guild_id:
            return OTHER_SERVER
        team = {c for c in (g.safety_channel, g.escalation_channel) if c}
        if channel.id in team or getattr(channel, "parent_id", None) in team:
            return TEAM_CHANNEL
        return None

    async def resolve_message(self, interaction: discord.Interaction, guild_id: int, ref: MessageRef,
                              case_number: Optional[int] = None):
        """The linked message, for a removal. A text saying why not (nothing changes) when it is not the bot's
        to remove or does not exist; None when the bot cannot look (no access, a Discord error): the core
        and the runtime handle that as before."""
        g = self.guilds[guild_id]
        cid = int(ref.channel_id)
        if cid in {c for c in (g.safety_channel, g.escalation_channel) if c}:
            return TEAM_CHANNEL
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
        resolved = Resolved(message=ref)
        is_mod = self.is_moderator(self.guilds[gid], await self.member_of(gid, interaction.user))
        if is_mod:  # the core refuses everyone else and changes nothing
            refusal = self._outside_scope(gid, message.channel)
            if refusal:
                await self.reply(interaction, refusal)
                return
            self._set_author(resolved, message)
        out = await self._moderate(interaction, gid, cmd, resolved, is_moderator=is_mod)
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
