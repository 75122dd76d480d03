"""The hash bank on Matrix: images of the protected rooms are read into memory (authenticated media API,
capped at `media.max_bytes`, decrypted in memory when encrypted), hashed by the core in a worker thread
and checked with `app.bank.check`; a removal with `--block` banks the image before redacting it. Never in
DMs, never in the management room. A mixin of `MatrixAdapter`."""

from __future__ import annotations

import asyncio
import logging

from safety_bot.actions import RemoveMessage
from safety_bot.domain import MessageRef

from .text import _q, _shown_content, ImageMedia, image_media, permalink

log = logging.getLogger("adapters.matrix.adapter")

PLATFORM = "matrix"
COMMUNITY = "matrix"
_MEDIA_TYPES = {"m.image", "m.video", "m.file", "m.audio"}
_MEDIA_CHECKS = 4          # images of the protected rooms read and hashed at once
_MEDIA_WAIT = 10.0         # seconds a sync waits for its image checks before the next one is handled
_MEDIA_TIMEOUT = 30.0      # seconds for one image download


class MatrixMedia:
    def _queue_media_check(self, room_id: str, ev, source: dict, content: dict) -> None:
        """A new event in a protected room: when it shows an image and the network's bank has entries,
        check it in the background (`_check_media`). Nothing is downloaded while the bank is empty."""
        if not self._bank_active() or not isinstance(content, dict):
            return
        shown = _shown_content(content)
        img = image_media(str(source.get("type", "")), shown)
        if img is None:
            return
        # a caption, never the file's name (MSC2530: the body is a caption when a filename is given apart)
        body, name = shown.get("body"), shown.get("filename")
        caption = body if isinstance(body, str) and name and body != name else ""
        at = source.get("origin_server_ts")
        task = asyncio.create_task(self._check_media(room_id, ev.event_id, ev.sender, img, caption,
                                                     at / 1000 if isinstance(at, int) else None))
        self._media_tasks.add(task)
        task.add_done_callback(self._media_tasks.discard)

    async def _check_media(self, room_id: str, event_id: str, sender: str, img: ImageMedia, caption: str = "",
                           at: float | None = None) -> None:
        """Read the image into memory, let the core hash it and compare it with the bank, run its decision
        (remove: redact + quarantine, record on the case, ban for zero tolerance, tell the team)."""
        try:
            async with self._media_slots:
                found = await self._read_and_hash(img)
                if found is None:
                    return
                h, size = found
                self.media_checked += 1
                ref = MessageRef(PLATFORM, COMMUNITY, room_id, event_id, permalink(room_id, event_id))
                out = await self.app.bank.check(COMMUNITY, ref, self._user(sender, room_id), [h], sizes=[size],
                                                text=caption, created_at=at)
            if out.actions:
                await self.app.runtime.run(out)
                log.info("matrix: an image in event %s in %s matched the hash bank", event_id, room_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("matrix: media check of event %s failed (%s)", event_id, exc.__class__.__name__)

    async def _read_and_hash(self, img: ImageMedia, *, with_variants: bool = False):
        """(MediaHashes, size) of one image read into memory, or None (too large, gone, not an image)."""
        return await self.app.bank.hash_download(await self._download(img), with_variants=with_variants)

    async def _download(self, img: ImageMedia) -> bytes | None:
        """The image's bytes in memory (authenticated media API), decrypted when the media is encrypted.
        The declared size is checked first, then the stream is cut off at media.max_bytes. Never written
        anywhere, never cached."""
        limit = self.app.config.media.max_video_bytes if img.video else self.app.config.media.max_bytes
        too_large = "matrix: a video is larger than media.max_video_bytes; not checked" if img.video else \
            "matrix: an image is larger than media.max_bytes; not checked"
        if img.size is not None and img.size > limit:
            log.info(too_large)
            return None
        path = f"/_matrix/client/v1/media/download/{_q(img.server)}/{_q(img.media_id)}"
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        buf = bytearray()
        try:
            async with asyncio.timeout(_MEDIA_TIMEOUT):
                resp = await self.client.send("GET", path, headers=headers, timeout=_MEDIA_TIMEOUT)
                complete = False
                try:
                    if resp.status != 200:
                        log.info("matrix: an image could not be downloaded (HTTP %s)", resp.status)
                        return None
                    if (resp.content_length or 0) > limit:
                        log.info(too_large)
                        return None
                    async for chunk in resp.content.iter_chunked(65536):
                        buf += chunk
                        if len(buf) > limit:
                            log.info(too_large)
                            return None
                    complete = True
                finally:
                    if complete:
                        resp.release()
                    else:  # drop the connection rather than read the rest
                        resp.close()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # timeouts, connection errors
            log.info("matrix: an image could not be downloaded (%s)", exc.__class__.__name__)
            return None
        data = bytes(buf)
        del buf
        if img.file is None:
            return data
        from nio.crypto.attachments import decrypt_attachment

        try:
            return await asyncio.to_thread(decrypt_attachment, data, img.file["key"]["k"],
                                           img.file["hashes"]["sha256"], img.file["iv"])
        except Exception as exc:  # EncryptionError: wrong hash or key
            log.info("matrix: an encrypted image could not be decrypted (%s)", exc.__class__.__name__)
            return None

    async def _bank_removed(self, action: RemoveMessage, event: dict) -> str:
        """A removal with block (an explicit moderator choice): before the message is redacted, read its image
        into memory, hash it with variants and let the core bank it on the case. Returns the core's summary
        for the moderator. Never raises: the removal goes ahead whatever happens here."""
        bank = self.app.bank
        if bank is None:
            return ""
        room_id = action.ref.channel_id
        if room_id not in self._media_rooms():
            # DMs with the bot and the team's rooms: images there are never opened.
            return self.svc.team_text("matrix_bank_outside_rooms")

        async def read_images() -> list:
            shown = await self._decrypted(room_id, event)
            img = image_media(str(shown.get("type", "")), _shown_content(shown.get("content")))
            return [await self._download(img)] if img is not None else []

        return await bank.bank_removed_images(action, PLATFORM, read_images)
