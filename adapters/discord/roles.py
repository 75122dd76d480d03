"""Who is on the safety team now, for the core (guard.py, team_named.py). Translation only: the core decides.

Roles are read when asked, never remembered: a member's current roles from discord.py's cache, and by REST
when the member is not in the cache (joined after start-up without a GUILD_MEMBER_ADD we saw, or a sharded
bot that does not load member lists), so a team member is never taken for an outsider.
"""

from __future__ import annotations

import logging
from typing import Optional

import discord

from safety_bot.domain import UserRef

from .render import user_ref

log = logging.getLogger(__name__)

LISTED = 1000  # members Discord lists in one request (GET /guilds/{id}/members?limit=1000)


class DiscordRoles:
    """Mixed into DiscordAdapter."""

    async def _holds_team_role(self, community: str, user: UserRef) -> bool:
        """On the safety team of any configured guild now. Guilds of the community's network are asked by REST
        for a member the cache does not hold (one request each); other guilds are read from the cache."""
        if not user.id.isdigit():
            return False
        uid = int(user.id)
        here = self.guilds.get(int(community)) if community.isdigit() else None
        for g in self.guilds.values():
            guild = self.client.get_guild(g.id)
            if guild is None:
                continue
            member = guild.get_member(uid)
            if member is None and here is not None and g.network == here.network:
                member = await self._fetch_member(guild, uid)
            if self.is_moderator(g, member):
                return True
        return False

    async def _reads(self, community: str, user: UserRef, destination: str) -> bool:
        """For the core (guard.py): whether this account reads the guild's "safety" or "escalation" destination now:
        it can view that private channel (its roles, the channel's overwrites; an admin sees every channel), or it
        is the escalation contact (who gets the escalation posts by DM when there is no channel)."""
        g = self.guilds.get(int(community)) if community.isdigit() else None
        if g is None or not user.id.isdigit():
            return False
        uid = int(user.id)
        if destination == "escalation" and g.escalation_user and g.escalation_user == uid:
            return True
        cid = g.safety_channel if destination == "safety" else g.escalation_channel
        guild = self.client.get_guild(g.id)
        channel = guild.get_channel(cid) if guild is not None and cid else None
        if channel is None or not self.channel_is_private(channel):
            return False  # a channel @everyone can view gets only a "case N is waiting" notice: nothing to read
        member = guild.get_member(uid) or await self._fetch_member(guild, uid)
        return member is not None and channel.permissions_for(member).view_channel

    async def _team(self, community: str) -> list[UserRef]:
        """The members holding the safety role (or Ban Members) in this guild now, under their display name
        and their user name. A guild of up to 1,000 members is listed by REST (one request, nothing missed);
        a larger one from discord.py's member cache (loaded at start-up, kept by member events), so a report
        never waits on many requests. Whoever is missed here is still refused at their first action."""
        g = self.guilds.get(int(community)) if community.isdigit() else None
        guild = self.client.get_guild(g.id) if g is not None else None
        if guild is None:
            return []
        if (guild.member_count or 0) <= LISTED:
            members = [m async for m in guild.fetch_members(limit=LISTED)]
        else:
            members = guild.members
        team = []
        for m in members:
            if self.is_moderator(g, m):
                team.append(user_ref(m))
                if m.name != m.display_name:
                    team.append(user_ref(m, m.name))
        return team

    @staticmethod
    async def _fetch_member(guild: discord.Guild, uid: int) -> Optional[discord.Member]:
        try:
            return await guild.fetch_member(uid)
        except discord.NotFound:  # not a member of this guild
            return None
