"""The Discord adapter's media side: images and videos in protected channels are read into memory, hashed
and checked against the hash bank; "Remove & block" banks a message's images and videos before it is deleted. Part of
:class:`DiscordAdapter` (a mixin)."""

import asyncio
import logging
from typing import Optional

import aiohttp
import discord

from safety_bot.config import DiscordGuild

from .render import PLATFORM, message_ref, user_ref

log = logging.getLogger("adapters.discord.adapter")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".avif")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".3gp", ".webm", ".mkv", ".avi")


class DiscordMedia:
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
                                   sizes=[n for _, n in found], text=message.content or "",
                                   created_at=message.created_at.timestamp())
            if out.actions:
                await self.app.runtime.run(out)
        except Exception as exc:
            log.error("media check of a message failed (%s)", exc.__class__.__name__)

    @staticmethod
    def image_attachments(message: discord.Message) -> list:
        out = []
        for a in message.attachments:
            ctype = (a.content_type or "").split(";")[0].strip().lower()
            name = (a.filename or "").lower()
            if ctype.startswith(("image/", "video/")) or (not ctype and name.endswith(IMAGE_SUFFIXES + VIDEO_SUFFIXES)):
                out.append(a)
        return out

    @staticmethod
    def _is_video(attachment) -> bool:
        ctype = (attachment.content_type or "").split(";")[0].strip().lower()
        return ctype.startswith("video/") or (not ctype and (attachment.filename or "").lower().endswith(VIDEO_SUFFIXES))

    async def _read_and_hash(self, attachment, *, with_variants: bool = False):
        """(MediaHashes, size) of one attachment read into memory, or None (too large, gone, not an image)."""
        return await self.app.bank.hash_download(await self.download(attachment), with_variants=with_variants)

    async def download(self, attachment) -> Optional[bytes]:
        """The attachment's bytes, in memory, capped at media.max_bytes (media.max_video_bytes for a video; the
        declared size is checked first, then the stream is cut off). Never written anywhere."""
        video = self._is_video(attachment)
        limit = self.app.config.media.max_video_bytes if video else self.app.config.media.max_bytes
        too_large = "a video attachment is larger than media.max_video_bytes; not checked" if video else \
            "an attachment is larger than media.max_bytes; not checked"
        if (attachment.size or 0) > limit:
            log.info(too_large)
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
                        log.info(too_large)
                        return None
                return bytes(buf)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.info("an attachment could not be downloaded (%s)", exc.__class__.__name__)
            return None
