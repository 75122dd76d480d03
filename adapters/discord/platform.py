"""Outbound: the core's actions carried out on Discord (the `Platform` port)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Optional

import discord

from safety_bot.actions import BanUser, PostToTeam, RemoveMessage, SendPrivate, TimeoutUser, UnbanUser, WarnUser
from safety_bot.domain import MessageRef, MessageSnapshot
from safety_bot.ports import ALREADY, FAILED, FORBIDDEN, NOT_FOUND, OK, CaptureFailed, Result

from .purge import DiscordPurge
from .render import PLATFORM, card_embed, channel_is_private, chunks, snapshot_of, team_text
from .ui import case_view, offered_view, prompt_view

log = logging.getLogger(__name__)
DMS_CLOSED = 50007


class DiscordPlatform(DiscordPurge):
    name = PLATFORM

    def __init__(self, client: discord.Client, guilds: Mapping[int, object], *,
                 ensure_started: Callable[[], Awaitable[None]],
                 block_media: Optional[Callable[[RemoveMessage], Awaitable[str]]] = None,
                 owns: Optional[Callable[[int], bool]] = None,
                 texts, locale: str = "en"):
        """Everything the platform needs is passed in: the client, the configured guilds, how to make sure
        the connection is up, and (optionally) how to bank a message's images before it is removed."""
        self._client = client
        self.guilds = guilds
        self._ensure_started = ensure_started
        self._block_media = block_media
        self._owns = owns  # with shards: whether this process runs a guild's shard
        self.texts, self.locale = texts, locale  # the locale files: button labels, the team's texts
        # Private messages that could not be delivered (DMs closed), by user id: the interaction that
        # caused them shows them ephemerally instead.
        self.undelivered: dict[str, list[str]] = {}

    def _d(self, key: str, **kw) -> str:
        """What happened, for the team (a result's detail, a notice): a team text in the configured locale."""
        return self.texts.t(key, self.locale, **kw)

    @property
    def client(self) -> discord.Client:
        return self._client

    async def _ready(self) -> None:
        await self._ensure_started()

    def guild_cfg(self, community):
        try:
            return self.guilds.get(int(community)) if community is not None else None
        except (TypeError, ValueError):
            return None

    # ------------------------------------------------------------------ private messages
    async def _dm(self, user_id: str, text: str, view: discord.ui.View | None = None) -> Result:
        try:
            channel = await self.client.create_dm(discord.Object(int(user_id)))
            parts = chunks(text) or ["-"]
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                await channel.send(part, view=view if last else None)
        except discord.Forbidden as exc:
            if exc.code == DMS_CLOSED:
                return Result(FORBIDDEN, self._d("discord_result_dms_closed"))
            return Result(FORBIDDEN, self._d("discord_result_may_not_message"))
        except discord.NotFound:
            return Result(FAILED, self._d("discord_result_unknown_account"))
        except discord.HTTPException as exc:
            return Result(FAILED, self._d("discord_result_error", status=exc.status))
        return Result(OK)

    async def send_private(self, a: SendPrivate) -> Result:
        await self._ready()
        text = a.text
        view = None
        if a.prompt is not None:
            text = text + "\n" + a.prompt.text
            view = prompt_view(a.prompt, self.texts, self.locale)
        result = await self._dm(a.to.id, text, view)
        if result.status == FORBIDDEN and result.detail == self._d("discord_result_dms_closed"):
            self.undelivered.setdefault(a.to.id, []).append(a.text)
        return result

    async def warn(self, a: WarnUser) -> Result:
        await self._ready()
        return await self._dm(a.user.id, a.text)

    # ------------------------------------------------------------------ the safety team
    async def post_to_team(self, a: PostToTeam) -> Result:
        await self._ready()
        g = self.guild_cfg(a.community)
        if g is None:
            return Result(FAILED, self._d("discord_result_not_configured"))
        if a.destination == "escalation":
            if g.escalation_channel:
                return await self._post_channel(a, g, g.escalation_channel, buttons=False)
            if g.escalation_user:
                embed = card_embed(a.card) if a.card else None
                text = "" if embed else a.text
                try:
                    channel = await self.client.create_dm(discord.Object(g.escalation_user))
                    if embed is not None:
                        await channel.send(embed=embed)
                    for part in chunks(team_text(text)):  # member words inside: inert, and no link previews
                        await channel.send(part, suppress_embeds=True)
                except discord.HTTPException as exc:
                    return Result(FORBIDDEN if exc.status == 403 else FAILED,
                                  self._d("discord_result_escalation_unreachable"))
                return Result(OK)
            return Result(FAILED, self._d("discord_result_no_escalation"))
        return await self._post_channel(a, g, g.safety_channel, buttons=True)

    async def _post_channel(self, a: PostToTeam, g, channel_id: int, *, buttons: bool) -> Result:
        channel = self.client.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.client.fetch_channel(channel_id)
            except discord.HTTPException:
                log.warning("the safety channel %s of guild %s cannot be reached", channel_id, g.id)
                return Result(FAILED, self._d("discord_result_channel_unreachable"))
        ping = a.ping and g.safety_role is not None
        mention = discord.AllowedMentions(roles=[discord.Object(g.safety_role)]) if ping else None
        prefix = f"<@&{g.safety_role}> " if ping else ""
        try:
            if not await self._private(channel):
                log.warning("channel %s of guild %s is visible to @everyone: case details are not posted there; "
                            "make it private", channel_id, g.id)
                what = self._d("discord_notice_case_waiting", number=a.case_number) if a.case_number is not None \
                    else self._d("discord_notice_waiting")
                await channel.send(prefix + self._d("discord_public_channel_notice", what=what), allowed_mentions=mention)
                return Result(FAILED, self._d("discord_result_public_channel"))
            if a.card:
                view = case_view(g.id, a.card, self.texts, self.locale) if buttons else None
                await channel.send(prefix.strip() or None, embed=card_embed(a.card), view=view,
                                   allowed_mentions=mention)
            else:
                parts = chunks(team_text(a.text)) or ["-"]  # member text inside: markdown kept inert
                offered = offered_view(g.id, a.buttons, self.texts, self.locale)  # buttons the core offers (the last part)
                for i, part in enumerate(parts):
                    extra = {"view": offered} if offered is not None and i == len(parts) - 1 else {}
                    # no link previews: a member's link to where their picture is would show the picture here
                    await channel.send((prefix if i == 0 else "") + part, suppress_embeds=True,
                                       allowed_mentions=mention if i == 0 else None, **extra)
        except discord.Forbidden:
            return Result(FORBIDDEN, self._d("discord_result_may_not_post"))
        except discord.HTTPException as exc:
            return Result(FAILED, self._d("discord_result_error", status=exc.status))
        return Result(OK)

    async def _private(self, channel) -> bool:
        """Whether @everyone cannot view the channel. A guild on another process's shard is not in this
        process's cache: its @everyone permissions are read by REST."""
        guild = getattr(channel, "guild", None)
        if guild is None or guild.default_role is not None:
            return channel_is_private(channel)
        everyone = next((r for r in await self.client.http.get_roles(guild.id) if int(r["id"]) == guild.id), None)
        base = discord.Permissions(int(everyone["permissions"])) if everyone else discord.Permissions.none()
        view = base.view_channel or base.administrator
        overwrite = channel.overwrites_for(discord.Object(guild.id)).view_channel
        return not (view if overwrite is None else overwrite)

    # ------------------------------------------------------------------ messages
    async def _channel(self, channel_id: int):
        channel = self.client.get_channel(channel_id)
        if channel is None:
            channel = await self.client.fetch_channel(channel_id)
        return channel

    async def fetch_message(self, ref: MessageRef) -> MessageSnapshot | None:
        await self._ready()
        try:
            channel = await self._channel(int(ref.channel_id))
            message = await channel.fetch_message(int(ref.message_id))
        except discord.NotFound:
            return None
        except discord.Forbidden as exc:
            raise CaptureFailed(self._d("discord_capture_cannot_read")) from exc
        except discord.HTTPException as exc:
            raise CaptureFailed(self._d("discord_result_error", status=exc.status)) from exc
        return snapshot_of(message, int(ref.community))

    async def remove_message(self, a: RemoveMessage) -> Result:
        await self._ready()
        banked = ""
        if a.block_media and self._block_media is not None:  # images are read (in memory) and banked first
            banked = await self._block_media(a) or ""
        try:
            await self.client.http.delete_message(int(a.ref.channel_id), int(a.ref.message_id))
        except discord.NotFound:
            return Result(NOT_FOUND, self._d("result_message_gone"))
        except discord.Forbidden:
            return Result(FORBIDDEN, self._d("discord_result_no_manage_messages"))
        except discord.HTTPException as exc:
            return Result(FAILED, self._d("discord_result_error", status=exc.status))
        return Result(OK, banked)

    # ------------------------------------------------------------------ members
    def _guild(self, community: str) -> discord.Guild | None:
        return self.client.get_guild(int(community))

    def _forbidden(self, guild: discord.Guild, need: str, user_id: int | None = None) -> Result:
        me = guild.me
        target = guild.get_member(user_id) if user_id is not None else None
        if (me is not None and getattr(me.guild_permissions, need, False) and target is not None
                and (target.id == guild.owner_id or target.top_role >= me.top_role)):
            return Result(FORBIDDEN, self._d("discord_result_role_too_high"))
        return Result(FORBIDDEN, self._d("discord_result_no_ban_permission" if need == "ban_members" else
                                         "discord_result_no_timeout_permission"))

    def _elsewhere(self, community: str) -> bool:
        """A configured guild on another process's shard: not in this process's cache; reached by REST."""
        return self._owns is not None and community.isdigit() and int(community) in self.guilds \
            and not self._owns(int(community))

    async def _ban_elsewhere(self, a: BanUser) -> Result:
        http, gid, uid = self.client.http, int(a.community), int(a.user.id)
        try:
            try:
                await http.get_ban(uid, gid)
                return Result(ALREADY, self._d("result_already_banned"))
            except discord.NotFound:
                pass
            await http.ban(uid, gid, delete_message_seconds=a.delete_message_seconds, reason=a.reason)
        except discord.Forbidden:
            return Result(FORBIDDEN, self._d("discord_result_no_ban_permission"))
        except discord.NotFound:
            return Result(FAILED, self._d("discord_result_unknown_account"))
        except discord.HTTPException as exc:
            return Result(FAILED, self._d("discord_result_error", status=exc.status))
        return Result(OK)

    # Bans with a case: the member's recent messages are stored on the case before they are deleted (purge.py)
    captures_before_purge = True

    async def ban(self, a: BanUser, *, before_purge=None) -> Result:
        if before_purge is None or not a.delete_message_seconds:
            return await self._ban(a)
        # Evidence first: banned at once without Discord's unseen purge; then read, stored, and only then deleted
        result = await self._ban(dataclasses.replace(a, delete_message_seconds=0))
        if result.status != OK:
            return result
        kept = await self._capture_then_delete(int(a.community), int(a.user.id), a.delete_message_seconds,
                                               before_purge)
        return Result(OK, "; ".join(kept))

    async def _ban(self, a: BanUser) -> Result:
        await self._ready()
        guild = self._guild(a.community)
        if guild is None and self._elsewhere(a.community):
            return await self._ban_elsewhere(a)
        if guild is None:
            return Result(FAILED, self._d("discord_result_not_in_server"))
        target = discord.Object(int(a.user.id))
        try:
            await guild.fetch_ban(target)
            return Result(ALREADY, self._d("result_already_banned"))
        except discord.NotFound:
            pass
        except discord.Forbidden:
            return self._forbidden(guild, "ban_members")
        except discord.HTTPException as exc:
            return Result(FAILED, self._d("discord_result_error", status=exc.status))
        try:
            await guild.ban(target, reason=a.reason, delete_message_seconds=a.delete_message_seconds)
        except discord.Forbidden:
            return self._forbidden(guild, "ban_members", target.id)
        except discord.NotFound:
            return Result(FAILED, self._d("discord_result_unknown_account"))
        except discord.HTTPException as exc:
            return Result(FAILED, self._d("discord_result_error", status=exc.status))
        return Result(OK)

    async def is_done(self, action) -> bool | None:
        """For `Runtime.resume()`: did a ban or removal left pending by a crash reach Discord before it?
        A ban: GET the ban. A removal: GET the message; 404 means it is gone. None: cannot tell."""
        await self._ready()
        try:
            if isinstance(action, BanUser):
                if self._elsewhere(action.community):
                    await self.client.http.get_ban(int(action.user.id), int(action.community))
                    return True
                guild = self._guild(action.community)
                if guild is None:
                    return None
                await guild.fetch_ban(discord.Object(int(action.user.id)))
                return True
            if isinstance(action, RemoveMessage):
                await self.client.http.get_message(int(action.ref.channel_id), int(action.ref.message_id))
                return False
        except discord.NotFound:
            return False if isinstance(action, BanUser) else True
        except (discord.HTTPException, ValueError):
            return None
        return None

    async def unban(self, a: UnbanUser) -> Result:
        await self._ready()
        guild = self._guild(a.community)
        elsewhere = guild is None and self._elsewhere(a.community)  # another process's shard: by REST
        if guild is None and not elsewhere:
            return Result(FAILED, self._d("discord_result_not_in_server"))
        try:
            if guild is None:
                await self.client.http.unban(int(a.user.id), int(a.community), reason=a.reason)
            else:
                await guild.unban(discord.Object(int(a.user.id)), reason=a.reason)
        except discord.NotFound:
            return Result(ALREADY, self._d("result_not_banned"))
        except discord.Forbidden:
            return self._forbidden(guild, "ban_members") if guild else Result(FORBIDDEN, self._d("discord_result_no_ban_permission"))
        except discord.HTTPException as exc:
            return Result(FAILED, self._d("discord_result_error", status=exc.status))
        return Result(OK)

    async def timeout(self, a: TimeoutUser) -> Result:
        await self._ready()
        guild = self._guild(a.community)
        if guild is None and not self._elsewhere(a.community):  # another process's shard: by REST
            return Result(FAILED, self._d("discord_result_not_in_server"))
        until = discord.utils.utcnow() + dt.timedelta(seconds=min(a.seconds, 28 * 86400))
        try:
            await self.client.http.edit_member(int(a.community), int(a.user.id), reason=a.reason,
                                               communication_disabled_until=until.isoformat())
        except discord.NotFound:
            return Result(NOT_FOUND, self._d("discord_result_not_member"))
        except discord.Forbidden:
            if guild is None:
                return Result(FORBIDDEN, self._d("discord_result_no_timeout_permission"))
            return self._forbidden(guild, "moderate_members", int(a.user.id))
        except discord.HTTPException as exc:
            return Result(FAILED, self._d("discord_result_error", status=exc.status))
        return Result(OK)
