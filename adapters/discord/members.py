"""The Discord adapter's member side: /report and "Report message" (modal, evidence captured at once),
/resources, answers to the intake questions (buttons, a small form, or DMs), and private messages. Part of
:class:`DiscordAdapter` (a mixin). Everything is answered through the shared `respond` path."""

import secrets
import time
from dataclasses import dataclass
from typing import Optional

import discord

from safety_bot.actions import Outcome, Prompt
from safety_bot.domain import MessageRef, MessageSnapshot, UserRef
from safety_bot.events import ReportEvent
from safety_bot.ports import CaptureFailed
from safety_bot.respond import respond

from .render import PLATFORM, chunks, message_ref, modal_values, parse_link, snapshot_of, user_ref
from .ui import answer_modal, report_modal



@dataclass
class PendingReport:
    community: str
    snapshot: Optional[MessageSnapshot]
    accused_is_moderator: bool
    at: float


class InteractionSurface:
    """Where a member's answer goes after a slash command, modal or button: ephemeral replies."""

    def __init__(self, adapter: "DiscordMembers", interaction: discord.Interaction, notes: str = ""):
        self.adapter, self.interaction, self.notes = adapter, interaction, notes

    async def reply(self, text: str) -> None:
        """The reply, the adapter's notes, and what the member's closed DMs could not carry."""
        reply = text + ("\n" + self.notes if self.notes else "")
        undelivered = self.adapter.platform.undelivered.pop(str(self.interaction.user.id), None)
        if undelivered:
            note = self.adapter.mt("dms_closed", self.adapter.locale(self.interaction))
            reply = (reply + "\n\n" if reply else "") + note + "\n\n" + "\n\n".join(undelivered)
        if reply:
            await self.adapter.reply(self.interaction, reply)

    async def prompt(self, prompt: Prompt) -> None:
        await self.adapter.reply(self.interaction, prompt.text,
                                 view=self.adapter.prompt_view(prompt, self.adapter.locale(self.interaction)))

    async def unshown(self, text: str) -> None:
        pass


class DirectMessageSurface:
    """Where a member's answer goes after a direct message: the same DM channel."""

    def __init__(self, adapter: "DiscordMembers", channel, user_id: str):
        self.adapter, self.channel, self.user_id = adapter, channel, user_id

    async def reply(self, text: str) -> None:
        self.adapter.platform.undelivered.pop(self.user_id, None)  # they are reading their DMs right now
        for part in chunks(text):
            await self.channel.send(part)

    async def prompt(self, prompt: Prompt) -> None:
        parts = chunks(prompt.text) or ["-"]
        for i, part in enumerate(parts):
            await self.channel.send(part, view=self.adapter.prompt_view(prompt, None) if i == len(parts) - 1 else None)

    async def unshown(self, text: str) -> None:
        pass


class DiscordMembers:
    async def dm_community(self, user_id: str) -> str:
        """Which configured guild a DM belongs to (the core decides; see `SafetyService.dm_community`)."""
        joined = [str(gid) for gid in self.guilds
                  if (guild := self.client.get_guild(gid)) is not None and guild.get_member(int(user_id)) is not None]
        return await self.app.service.dm_community(UserRef(PLATFORM, user_id), [str(g) for g in self.guilds], joined)

    async def member_community(self, interaction: discord.Interaction) -> str:
        if interaction.guild_id in self.guilds:
            return str(interaction.guild_id)
        return await self.dm_community(str(interaction.user.id))

    async def answer_member(self, interaction: discord.Interaction, out: Outcome, notes: str = "") -> None:
        """Run the core's outcome and answer the member ephemerally (the shared path, `respond`)."""
        await respond(self.app.runtime, out, InteractionSurface(self, interaction, notes))


    async def cmd_report(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is not None and interaction.guild_id not in self.guilds:
            await self.reply(interaction, self.mt("not_set_up", self.locale(interaction)))
            return
        self._prune()
        community = await self.member_community(interaction)
        nonce = secrets.token_hex(8)
        self._pending_reports[nonce] = PendingReport(community, None, False, time.monotonic())
        await interaction.response.send_modal(report_modal(f"safety:report:{nonce}", self._modal_texts(interaction),
                                                           with_message=False, **self._form_sizes()))

    async def ctx_report_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        gid = interaction.guild_id
        g = self.guilds.get(gid) if gid is not None else None
        if g is None:
            await self.reply(interaction, self.mt("not_set_up", self.locale(interaction)))
            return
        # Evidence first: captured now from the resolved message, before a ban or deletion can purge it.
        snapshot = snapshot_of(message, gid)
        author = await self.member_of(gid, message.author) if message.author.id != interaction.user.id else None
        self._prune()
        nonce = secrets.token_hex(8)
        self._pending_reports[nonce] = PendingReport(str(gid), snapshot, self.is_moderator(g, author), time.monotonic())
        custom_id = f"safety:report:{nonce}:{message.channel.id}:{message.id}"
        await interaction.response.send_modal(report_modal(custom_id, self._modal_texts(interaction), with_message=True,
                                                           **self._form_sizes()))

    def _form_sizes(self) -> dict:
        """The form's boxes sized so that what the member can type, joined as `on_report_submit` joins it (with
        a link of up to 200 characters), fits `limits.report_max_chars`: a report refused as too long would lose
        everything they typed (Discord closes the form)."""
        limit = self.app.config.limits.report_max_chars
        joins = 2 + len(self.tt("discord_report_anything_else", more="")) + 1 \
            + len(self.tt("discord_report_link_given", link="")) + 200
        more_max = max(1, min(1000, (limit - joins) // 4))
        return {"what_max": max(1, min(4000, limit - joins - more_max)), "more_max": more_max}

    def _modal_texts(self, interaction: discord.Interaction):
        loc = self.locale(interaction)
        return lambda key: self.mt(key, loc)

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
            team = {c for c in (g.safety_channel, g.escalation_channel) if c}
            cached = self.client.get_channel(int(found.channel_id)) if isinstance(found, MessageRef) else None
            if isinstance(found, MessageRef) and (int(found.channel_id) in team
                                                  or getattr(cached, "parent_id", None) in team):
                # a link into the safety team's own channels: never copied into a case (it would carry another
                # reporter's words); the team sees the link as text
                more = (more + "\n" if more else "") + self.tt("discord_report_link_given", link=link)
                notes.append(self.mt("link_not_protected", self.locale(interaction)))
            elif isinstance(found, MessageRef):
                ref = found
                snapshot = await self._capture(ref)
                if snapshot is None:
                    notes.append(self.mt("link_not_opened", self.locale(interaction)))
            else:
                more = (more + "\n" if more else "") + self.tt("discord_report_link_given", link=link)
                if parse_link(link) is not None:
                    notes.append(self.mt("link_other_server", self.locale(interaction)))
        if snapshot is not None and not accused_mod and snapshot.author.id != str(interaction.user.id):
            guild = self.client.get_guild(g.id)
            accused_mod = self.is_moderator(g, guild.get_member(int(snapshot.author.id)) if guild else None)
        text = what + (("\n\n" if what else "") + self.tt("discord_report_anything_else", more=more) if more else "")
        ev = ReportEvent(community=community, reporter=user_ref(interaction.user), text=text,
                         locale=self.locale(interaction), message=snapshot,
                         message_ref=ref if snapshot is None else None, accused_is_moderator=accused_mod,
                         source="message" if (snapshot or ref) else "member")
        out = await self.app.service.report(ev)
        if not out.ok:
            await self.reply(interaction, out.reply)
            return
        await self.answer_member(interaction, out, "\n".join(notes))

    async def cmd_resources(self, interaction: discord.Interaction, country: Optional[str]) -> None:
        await self.defer(interaction)
        community = await self.member_community(interaction)
        out = await self.app.service.resources_request(user_ref(interaction.user), community, self.locale(interaction),
                                                       country)
        body = out.reply
        await self.app.runtime.run(out)
        if self.platform.undelivered.pop(str(interaction.user.id), None):
            text = self.mt("resources_dms_closed", self.locale(interaction)) + "\n\n" + body
        else:
            text = body + "\n\n" + self.mt("resources_also_dm", self.locale(interaction))
        await self.reply(interaction, text)

    async def cmd_protect(self, interaction: discord.Interaction) -> None:
        """/protect: the offer and a one-time link, only to the member (ephemeral)."""
        await self.defer(interaction)
        community = await self.member_community(interaction)
        out = await self.app.service.protect_request(user_ref(interaction.user), community, self.locale(interaction))
        await self.answer_member(interaction, out)

    async def on_answer_button(self, interaction: discord.Interaction, question: str, value: str, label: str) -> None:
        loc = self.locale(interaction)
        if not await self.app.service.is_current_question(user_ref(interaction.user), question):
            await self.reply(interaction, self.mt("question_closed", loc))
            return
        if value == "text":
            await interaction.response.send_modal(answer_modal(question, self.mt("answer_title", loc),
                                                               self.mt("answer_title", loc)))
            return
        await self._mark_pressed(interaction, self.mt("skipped", loc) if value == "skip"
                                 else self.mt("your_answer", loc, label=label))
        await self.member_answer(interaction, "skip" if value == "skip" else value)

    async def member_answer(self, interaction: discord.Interaction, text: str) -> None:
        await self.defer(interaction)
        community = await self.member_community(interaction)
        out = await self.app.service.member_message(user_ref(interaction.user), community, text,
                                                    self.locale(interaction))
        await self.answer_member(interaction, out)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type != discord.InteractionType.modal_submit:
            return
        custom_id = (interaction.data or {}).get("custom_id", "")
        try:
            if custom_id.startswith("safety:report:"):
                await self.on_report_submit(interaction, custom_id)
            elif custom_id.startswith("safety:answertext:"):
                answer = modal_values(interaction.data or {}).get("answer", "").strip()
                if not await self.app.service.is_current_question(user_ref(interaction.user), custom_id.split(":", 2)[2]):
                    await self.reply(interaction, self.mt("question_closed", self.locale(interaction)))
                else:
                    await self.member_answer(interaction, answer or "skip")
        except Exception as exc:
            await self.on_command_error(interaction, exc)

    async def on_direct_message(self, message: discord.Message) -> None:
        text = (message.content or "").strip()
        if not text:
            await message.channel.send(self.mt("text_only", None))
            return
        uid = str(message.author.id)
        community = await self.dm_community(uid)
        out = await self.app.service.member_message(user_ref(message.author), community, text, None)
        await respond(self.app.runtime, out, DirectMessageSurface(self, message.channel, uid))
