"""The one path every adapter takes after a core call: run the outcome's actions (through the runtime,
which records them), then show the person who acted the core's reply and the next question.

    out = await app.service.member_message(user, community, text)
    await respond(app.runtime, out, surface)              # a member: reply, actions, next question

An adapter only supplies a `Surface`: how to show text and a question to that person on its platform."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .actions import Outcome, Prompt

if TYPE_CHECKING:
    from .runtime import Runtime


class Surface(Protocol):
    async def reply(self, text: str) -> None:
        """Show the core's reply (privately). May be empty: show nothing, or what the platform adds."""

    async def prompt(self, prompt: Prompt) -> None:
        """Show the next question, with its choices."""

    async def unshown(self, text: str) -> None:
        """What running the actions added for a member (failures, results). Members on chat platforms are
        not shown it (the team sees failures on the case); the console shows everything."""


async def respond(runtime: "Runtime", out: Outcome, surface: Surface | None = None, *, member: bool = True,
                  reply_first: bool = False) -> Outcome:
    """Run `out`'s actions and answer the person who acted. Returns the outcome after running.

    - member=True: the member sees the core's reply as it was decided (before the actions ran when
      `reply_first`, where the actions' private messages land in the same chat), then the next question.
    - member=False (moderators): the reply they see includes what running the actions did ("Not done: ...",
      confirmations), so they know whether the ban or removal went through.
    """
    if not member:
        out = await runtime.run(out)
        if surface is not None:
            await surface.reply(out.reply)
            if out.prompt is not None:
                await surface.prompt(out.prompt)
        return out
    reply = out.reply
    if reply_first and surface is not None:
        await surface.reply(reply)
    out.reply = ""
    out = await runtime.run(out)
    added, out.reply = out.reply, reply
    if surface is None:
        return out
    if not reply_first:
        await surface.reply(reply)
    if added:
        await surface.unshown(added)
    if out.prompt is not None:
        await surface.prompt(out.prompt)
    return out
