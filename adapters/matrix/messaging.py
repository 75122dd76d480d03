"""The Matrix adapter's member side: a member's DM conversation with the bot (reports, intake answers,
replies to the team, !resources), answered through the shared `respond` path. Part of the inbound side
(:class:`MatrixAdapter`); the DM rooms and sending are the connection's (`connection.py`)."""

from __future__ import annotations

import logging
import re

from safety_bot.actions import Outcome
from safety_bot.respond import respond

from .connection import COMMUNITY
from .text import render_prompt

log = logging.getLogger("adapters.matrix.adapter")

PREFIX = "!safety"


class _DMSurface:
    """A member's DM room: the shared `respond` path shows the core's answers here."""

    def __init__(self, adapter, room_id: str, case_number: int | None):
        self.adapter, self.room_id, self.case_number = adapter, room_id, case_number

    async def reply(self, text: str) -> None:
        if text:
            await self.adapter._send_notice(self.room_id, text)

    async def prompt(self, prompt) -> None:
        await self.adapter._send_notice(self.room_id, render_prompt(prompt, self.adapter.svc.texts, self.adapter.locale))

    async def unshown(self, text: str) -> None:
        log.warning("matrix: some actions were not done for a member message (case %s)", self.case_number)
_LINK = re.compile(r"(?:https://matrix\.to/#/|matrix:)\S+")


class MatrixMessaging:
    async def _on_member_text(self, room_id: str, sender: str, body: str) -> None:
        user = self._user(sender, room_id)
        text = (body or "").strip()
        low = text.lower()
        if low == "!protect":  # the offer and a one-time link, in this DM
            await self._member_finish(room_id, await self.svc.protect_request(user, COMMUNITY, self.locale))
            return
        if low.startswith(PREFIX):
            await self._send_notice(room_id, self.svc.t("matrix.team_commands_elsewhere", self.locale))
            return
        if low in ("!help", "!start"):
            await self._send_notice(room_id, self.svc.t("matrix.member_help", self.locale))
            return
        if low.startswith("!report"):
            text = text[len("!report"):].strip()
        reported, accused_mod = None, False
        for token in _LINK.findall(text):  # a message link in a report: that message; its sender is the accused
            found = await self._resolve_message(token.rstrip(").,>"))
            if isinstance(found, tuple):
                reported, accused_mod = found, await self._is_moderator(found[1].id)
                break
        out = await self.svc.member_message(user, COMMUNITY, text, self.locale,
                                            start_report=True if low.startswith("!report") else None,
                                            reported=reported, accused_is_moderator=accused_mod)
        await self._member_finish(room_id, out)

    async def _member_finish(self, room_id: str, out: Outcome) -> None:
        """The member sees the reply first, then the actions' private messages, then the next question."""
        await respond(self.app.runtime, out, _DMSurface(self, room_id, out.case_number), reply_first=True)

