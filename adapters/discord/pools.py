"""The Discord adapter's side of ban pools (issue 19, item 4): translation only. It hands members who join
a protected server to the core (`safety_bot.lists.ban_lists`), and tells the core which listed accounts are
members (from the member cache the members intent keeps). The core decides what is shown or banned."""

from __future__ import annotations

import logging

import discord

from safety_bot.domain import UserRef
from safety_bot.lists.ban_lists import ban_lists
from safety_bot.lists.ban_pools import member_finders

from .render import PLATFORM

log = logging.getLogger(__name__)


class DiscordPools:
    def _register_pools(self) -> None:
        member_finders(self.app.service)[PLATFORM] = self._present_members

    async def _present_members(self, community: str, user_ids: list[str]) -> list[UserRef]:
        guild = self.client.get_guild(int(community)) if self.client else None
        if guild is None:
            return []
        found = []
        for uid in user_ids:
            m = guild.get_member(int(uid)) if uid.isdigit() else None
            if m is not None and not m.bot:
                found.append(UserRef(PLATFORM, str(m.id), m.display_name or m.name))
        return found

    async def on_member_join(self, member: discord.Member) -> None:
        if member.bot or str(member.guild.id) not in self.app.service.communities:
            return
        user = UserRef(PLATFORM, str(member.id), member.display_name or member.name)
        try:
            out = await ban_lists(self.app.service).check_members(str(member.guild.id), [user], joined=True)
            if out.actions:
                await self.app.runtime.run(out)
        except Exception:
            log.exception("checking a new member against the ban pools failed")
