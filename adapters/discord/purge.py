"""Evidence first for a Discord ban with a case. Discord's own purge (`delete_message_seconds` on the ban)
deletes the member's recent messages unseen, so they could never be shown to the police or to the platform.
Instead the ban lands at once without it; then the member's messages of the same window are read from every
channel and active thread of the server the bot can read, stored on the case (`before_purge`, durable when it
returns), and only those are deleted (in bulk: all are younger than 14 days). What could not be read or
stored stays up, and the team is told. A mixin of :class:`DiscordPlatform` (translation only)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

import discord

from safety_bot.domain import AttachmentMeta, MessageSnapshot, UserRef
from safety_bot.ports import BeforePurge

from .render import PLATFORM, message_ref

log = logging.getLogger(__name__)

MESSAGE_CHANNELS = (0, 2, 5, 13)  # text, voice (its text chat), announcement, stage
THREADS = (10, 11, 12)
PAGES_PER_CHANNEL = 20  # 2,000 messages of the window read per channel at most; the rest stays up
_READS_AT_ONCE = 4


def _snapshot(guild_id: int, channel_id: int, m: dict) -> MessageSnapshot:
    """A message as the API gave it: text, author, time; attachments as metadata only (never URL or name)."""
    author = m.get("author") or {}
    atts = tuple(AttachmentMeta(content_type=str(a.get("content_type") or ""), size=int(a.get("size") or 0),
                                width=a.get("width"), height=a.get("height")) for a in m.get("attachments") or [])
    edited = m.get("edited_timestamp")
    return MessageSnapshot(ref=message_ref(guild_id, channel_id, int(m["id"])),
                           author=UserRef(PLATFORM, str(author.get("id", "")),
                                          author.get("global_name") or author.get("username") or ""),
                           text=m.get("content") or "", attachments=atts,
                           created_at=discord.utils.snowflake_time(int(m["id"])).timestamp(),
                           edited_at=dt.datetime.fromisoformat(edited).timestamp() if edited else None)


class DiscordPurge:
    async def _capture_then_delete(self, guild_id: int, user_id: int, seconds: int,
                                   before_purge: BeforePurge) -> list[str]:
        """After the ban: the member's messages of the last `seconds`, stored, then deleted. Returns what the
        team should know (what was left up and why); empty when everything went."""
        http, kept = self.client.http, []
        after = discord.utils.time_snowflake(dt.datetime.fromtimestamp(time.time() - seconds, dt.timezone.utc))
        try:
            channels = [c for c in await http.get_all_guild_channels(guild_id) if c.get("type") in MESSAGE_CHANNELS]
        except discord.HTTPException:
            return [self._d("discord_result_purge_no_channels")]
        try:
            channels += [t for t in (await http.get_active_threads(guild_id)).get("threads") or []
                         if t.get("type") in THREADS]
        except discord.HTTPException:
            kept.append(self._d("discord_result_purge_threads_not_read"))
        slots = asyncio.Semaphore(_READS_AT_ONCE)

        async def read(channel: dict) -> list[dict] | None:
            async with slots:
                return await self._recent_of(int(channel["id"]), user_id, after)

        found = await asyncio.gather(*(read(c) for c in channels))
        unread = sum(1 for f in found if f is None)
        mine = {int(c["id"]): f for c, f in zip(channels, found) if f}
        snapshots = [_snapshot(guild_id, cid, m) for cid, msgs in mine.items() for m in msgs]
        if unread:
            kept.append(self._d("discord_result_purge_not_read", channels=unread))
        if not snapshots:
            return kept
        try:
            await before_purge(snapshots)
        except Exception:
            log.warning("discord: ban in guild %s: the recent messages could not be stored as evidence, so they were "
                        "not removed", guild_id, exc_info=True)
            return kept + [self._d("discord_result_purge_not_stored")]
        failed = 0
        for cid, msgs in mine.items():
            ids = [int(m["id"]) for m in msgs]
            for i in range(0, len(ids), 100):
                part = ids[i:i + 100]
                try:
                    if len(part) == 1:
                        await http.delete_message(cid, part[0])
                    else:
                        await http.delete_messages(cid, part)
                except discord.NotFound:
                    pass  # already gone
                except discord.HTTPException:
                    failed += len(part)
        if failed:
            kept.append(self._d("discord_result_purge_not_deleted", count=failed))
        return kept

    async def _recent_of(self, channel_id: int, user_id: int, after: int) -> list[dict] | None:
        """The member's messages in the channel newer than the snowflake `after`; None when the channel could
        not be read to the end of the window (no access, an error, or more than PAGES_PER_CHANNEL pages)."""
        found: list[dict] = []
        for _ in range(PAGES_PER_CHANNEL):
            try:
                page = await self.client.http.logs_from(channel_id, 100, after=after)
            except discord.HTTPException:
                return None
            if not page:
                return found
            found += [m for m in page if str((m.get("author") or {}).get("id")) == str(user_id)]
            after = max(int(m["id"]) for m in page)
            if len(page) < 100:
                return found
        return None
