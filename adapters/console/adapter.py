"""A simulated community in the terminal, driven by typed (or scripted) commands.

Translation only: lines become core events, core actions become printed lines. Every printed line
names who sees it, so a person (or a test) can check that a report reaches only the safety team.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys

from safety_bot import commands as cmdparse
from safety_bot.actions import Outcome, Prompt
from safety_bot.app import App
from safety_bot.domain import MessageSnapshot, UserRef
from safety_bot.events import Community, ModContext, ReportEvent, Resolved
from safety_bot.respond import respond
from safety_bot.text import inert_plain
from safety_bot.views import TIME_STYLE

from . import world_file as world_file_mod
from .world import PLATFORM, ConsolePlatform, Msg, World  # noqa: F401  (World and ConsolePlatform are re-exported)
from .world_commands import WorldCommands

def help_text(texts, locale: str, protect: bool) -> str:
    """The help (texts.console.help), naming E ("protect my pictures") only where the bot offers it (the page
    is set up). Its safety-team part: each command of the registry (commands.COMMAND_SPECS), its usage and
    what it does (the team text `command_summary_<name>`)."""
    team = []
    for s in cmdparse.COMMAND_SPECS.values():
        summary = texts.t(f"command_summary_{s.name}", locale)
        team.append(f"    {s.usage:<44} {summary[:1].lower() + summary[1:]}")
    return texts.t("console.help", locale, team="\n".join(team),
                   letters=texts.t("console.letters_protect" if protect else "console.letters", locale))


def __getattr__(name: str):
    if name == "HELP":  # the English help, for tests and documentation
        from pathlib import Path

        from safety_bot.locales import load_locales

        texts, _ = load_locales(Path(__file__).resolve().parents[2] / "playbooks", [])
        return help_text(texts, "en", protect=False)
    raise AttributeError(name)


class _ConsoleSurface:
    def __init__(self, console: "ConsoleAdapter", private: bool):
        self.console, self.private = console, private

    async def reply(self, text: str) -> None:
        if not text:
            return
        if self.private:
            me = self.console.me
            self.console.write(f"[private to {me}] " + text.replace("\n", f"\n[private to {me}] "))
        else:
            self.console.say(text)

    async def prompt(self, prompt: Prompt) -> None:
        self.console.show_prompt(prompt)

    async def unshown(self, text: str) -> None:
        self.console.say(text)  # the console shows everything: it is a simulation for the operator


class ConsoleAdapter(WorldCommands):
    def __init__(self, app: App, write=None, *, clock_offset: list[float] | None = None, world_file=None):
        self.app = app
        cfg = app.config.console
        if cfg is None:
            raise ValueError("the console adapter needs a console section in the config")
        self.write = write or (lambda line: print(line, flush=True))
        self.world = World({c.id: c for c in cfg.communities})
        self.platform = ConsolePlatform(self.world, self.write, app.service.texts, cfg.locale, app.config.locale)
        self.platform.bank = getattr(app, "bank", None)
        app.runtime.add_platform(self.platform)
        app.service.role_readers[PLATFORM] = self._holds_team_role
        app.service.team_readers[PLATFORM] = self._team  # who the team is now (team_named.py)
        app.service.destination_readers[PLATFORM] = self._reads  # who reads the team's destinations now
        for c in cfg.communities:
            app.service.add_community(Community(c.id, PLATFORM, c.network, c.id, has_escalation=bool(c.escalation)))
        first = cfg.communities[0]
        self.me = cfg.start_as or (first.members[0] if first.members else first.moderators[0])
        self.here = next((c.id for c in cfg.communities if self.me in self.world.people(c.id)), first.id)
        self.locale = cfg.locale
        self.offset = clock_offset if clock_offset is not None else [0.0]
        self.asking: set[str] = set()  # people the bot is waiting on for an answer
        self.echo = True  # scripted input is echoed so a transcript reads like a conversation
        self.world_file = world_file  # where the pretend community is kept between runs (world_file.py)
        self.restored = bool(world_file) and world_file_mod.load(world_file, self, Msg)

    # ---------------------------------------------------------------- helpers
    async def _holds_team_role(self, community: str, user: UserRef) -> bool:
        return any(self.world.is_moderator(c, user.id) for c in self.world.communities)

    async def _reads(self, community: str, user: UserRef, destination: str) -> bool:
        if community not in self.world.communities:
            return False
        if destination == "escalation":
            return self.world.is_escalation(community, user.id)
        return self.world.is_moderator(community, user.id)  # the safety channel is the moderators'

    async def _team(self, community: str) -> list[UserRef]:
        return [self.world.user(m) for m in self.world.communities[community].moderators] if community in \
            self.world.communities else []

    def t(self, key: str, **kw) -> str:
        """A console text (texts.console.*) in the language of the person being played."""
        return self.app.service.t(f"console.{key}", self.locale, **kw)

    def say(self, text: str) -> None:
        self.write(f"[bot to {self.me}] " + text.replace("\n", f"\n[bot to {self.me}] "))

    def show_prompt(self, p: Prompt | None) -> None:
        if p is None:
            return
        lines = p.text.split("\n")
        if p.choices:
            lines.append("  " + "   ".join(f"{i}) {c.label}" for i, c in enumerate(p.choices, 1)) + "   "
                         + self.app.service.t("console.choices_hint", self.locale))
        self.write(f"[private to {self.me}] " + f"\n[private to {self.me}] ".join(lines))

    async def finish(self, out: Outcome, *, private_reply: bool = False) -> None:
        """The shared path (`respond`): a member's answer privately and first; a moderator's after the actions."""
        out = await respond(self.app.runtime, out, _ConsoleSurface(self, private_reply), member=private_reply,
                            reply_first=private_reply)
        if out.prompt is not None:
            self.asking.add(self.me)
        elif private_reply:
            self.asking.discard(self.me)

    def now(self) -> float:
        return self.app.service.clock()

    def resolve_user(self, token: str, *, allow_unknown: bool) -> UserRef | None:
        name = token.lstrip("@").strip()
        if not name:
            return None
        known = any(name in self.world.people(c) for c in self.world.communities)
        if known or allow_unknown:
            return self.world.user(name)
        return None

    # ---------------------------------------------------------------- commands
    async def handle(self, line: str) -> bool:
        """Handle one line. Returns False when the person asked to quit."""
        try:
            return await self._handle(line)
        finally:
            if self.world_file:
                world_file_mod.save(self.world_file, self)

    async def _handle(self, line: str) -> bool:
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if self.echo:
            self.write(f"{self.me}@{self.here}> {line}")
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        head = words[0].lower()
        rest = line[len(words[0]):].strip()
        if head in ("safety", "/safety", "!safety"):
            return await self.moderator(rest)
        if head in ("quit", "exit"):
            return False
        if head == "help":
            self.write(help_text(self.app.service.texts, self.locale, self.app.service.protect_offered()))
        elif head == "as":
            self.switch(words[1:])
        elif head == "whoami":
            self.write(self.t("whoami", me=self.me, role=self._role(), here=self.here))
        elif head == "people":
            for cid in self.world.communities:
                mods = set(self.world.communities[cid].moderators)
                self.write(f"{cid}: " + ", ".join(p + (self.t("people_moderator") if p in mods else "")
                                                  for p in self.world.people(cid)))
        elif head == "channels":
            c = self.world.communities[self.here]
            self.write(f"{self.here}: " + ", ".join("#" + ch for ch in c.channels) + self.t("channels_safety",
                                                                                             channel=c.safety_channel))
        elif head == "say":
            self.post(words[1:] if len(words) > 1 else [], rest)
        elif head == "read":
            self.show(words[1] if len(words) > 1 else "")
        elif head == "report":
            await self.report(rest, None)
        elif head in ("report-message", "report_message"):
            if len(words) < 2:
                self.say(self.t("usage", usage="report-message <message id> [what happened]"))
            else:
                await self.report(rest[len(words[1]):].strip(), words[1])
        elif head in ("answer", "dm"):
            await self.finish(await self.app.service.member_message(self.world.user(self.me), self.here, rest, self.locale),
                              private_reply=True)
        elif head in ("skip", "stop", "withdraw"):
            await self.finish(await self.app.service.member_message(self.world.user(self.me), self.here, head, self.locale),
                              private_reply=True)
        elif head == "consent":
            await self.finish(await self.app.service.member_message(self.world.user(self.me), self.here, line, self.locale),
                              private_reply=True)
        elif head == "resources" and (len(words) < 2 or not words[1].startswith("@")):
            out = await self.app.service.resources_request(self.world.user(self.me), self.here, self.locale,
                                                           rest or None)
            out.reply = ""
            await self.finish(out)
        elif head == "protect":
            await self.finish(await self.app.service.protect_request(self.world.user(self.me), self.here, self.locale),
                              private_reply=True)
        elif head == "picture":
            await self.post_picture(words[1:])
        elif head in ("promote", "demote"):
            self.set_role(head, words[1:])
        elif head == "wait":
            await self.wait(words[1] if len(words) > 1 else "1")
        elif head == "locale":
            self.locale = self.platform.locale = words[1] if len(words) > 1 else "en"
            self.say(self.t("language_set", language=self.locale))
        elif self.me in self.asking and (head not in cmdparse.COMMANDS or not self.world.is_moderator(self.here, self.me)):
            # While the bot waits for an answer, plain text is the answer.
            await self.finish(await self.app.service.member_message(self.world.user(self.me), self.here, line, self.locale),
                              private_reply=True)
        elif head in cmdparse.COMMANDS:
            return await self.moderator(line)
        else:
            self.say(self.t("unknown_command", command=inert_plain(head[:30])))
        return True

    async def post_picture(self, args: list[str]) -> None:
        """`picture <channel> <file>`: post a picture; like Discord and Matrix, the bot reads it into memory,
        hashes it and lets the core check it against the network's hash bank (the file is not kept)."""
        if len(args) < 2:
            self.say(self.t("usage", usage="picture <channel> <file>"))
            return
        before = self.world.counter
        self.post([args[0], "[picture]"], f"{args[0]} [picture]")
        if self.world.counter == before:
            return  # not posted (no such channel, or banned)
        m = self.world.messages[f"m{self.world.counter}"]
        self.world.files[m.id] = os.path.abspath(" ".join(args[1:]))  # for `remove --block`; never saved
        bank, c = self.app.bank, self.world.communities[self.here]
        if bank is None or not bank.has_entries(c.network):
            return
        try:
            with open(" ".join(args[1:]), "rb") as fh:
                data = fh.read(max(self.app.config.media.max_bytes, self.app.config.media.max_video_bytes) + 1)
        except OSError:
            self.say(self.t("file_unreadable"))
            return
        found = await bank.hash_download(data)
        if found is None:
            return
        out = await bank.check(self.here, self.world.ref(m), self.world.user(self.me), [found[0]], sizes=[found[1]])
        if out.actions:
            await self.app.runtime.run(out)

    async def report(self, text: str, message_id: str | None) -> None:
        snapshot = None
        accused_mod = False
        if message_id is not None:
            m = self.world.find(message_id)
            if m is None or m.deleted or m.community != self.here:
                self.write(f"[private to {self.me}] " + self.t("message_not_found"))
                return
            # Captured at once, before anyone can delete or purge it.
            snapshot = MessageSnapshot(self.world.ref(m), self.world.user(m.author), m.text, m.at)
            accused_mod = self.world.is_moderator(self.here, m.author)
        ev = ReportEvent(community=self.here, reporter=self.world.user(self.me), text=text, locale=self.locale,
                         message=snapshot, accused_is_moderator=accused_mod,
                         source="message" if snapshot else "member")
        out = await self.app.service.report(ev)
        await self.finish(out, private_reply=True)

    async def moderator(self, line: str) -> bool:
        parsed = cmdparse.parse(line, t=self.app.service.team_text)  # the team's texts, configured locale
        if isinstance(parsed, cmdparse.ParseError):
            self.say(parsed.message)
            return True
        resolved = Resolved()
        allow_unknown = parsed.name in ("ban", "unban", "strikes")
        for token in parsed.targets:
            user = self.resolve_user(token, allow_unknown=allow_unknown)
            if user is None:
                self.say(self.t("no_member", name=inert_plain(token[:40])))
                return True
            resolved.targets.append(user)
            if self.world.holds_power(user.id):
                resolved.moderators.add(user.key)
        if parsed.message:
            m = self.world.find(parsed.message)
            if m is not None:
                resolved.message = self.world.ref(m)
                resolved.message_author = self.world.user(m.author)
                if self.world.holds_power(m.author):
                    resolved.moderators.add(resolved.message_author.key)
        ctx = ModContext(actor=self.world.user(self.me), community=self.here,
                         is_moderator=self.world.is_moderator(self.here, self.me), locale=self.app.config.locale,
                         via_escalation=self.world.is_escalation(self.here, self.me))
        out = await self.app.service.moderate(ctx, parsed, resolved)
        await self.finish(out)
        return True

    async def wait(self, minutes: str) -> None:
        try:
            n = float(minutes)
        except ValueError:
            self.say(self.t("usage", usage="wait <minutes>"))
            return
        if not 0 < n <= 60 * 24 * 30:
            self.say(self.t("usage", usage="wait <minutes> (up to 30 days)"))
            return
        self.offset[0] += n * 60
        self.write(self.t("minutes_pass", minutes=f"{n:g}"))
        await self.app.runtime.run(await self.app.service.tick())

    # ---------------------------------------------------------------- the loop
    def _times_for_the_team(self) -> None:
        TIME_STYLE.set(self.app.config.locale)  # case times in the configured locale's format, like the team's texts

    async def run_lines(self, lines) -> None:
        self._times_for_the_team()
        for line in lines:
            if not await self.handle(line):
                break

    async def run_stdin(self) -> None:
        interactive = sys.stdin.isatty()
        self.echo = not interactive
        self._times_for_the_team()
        if interactive:
            self.write(self.t("welcome"))
            self.write(self.t("you_are_in", me=self.me, here=self.here))
        while True:
            if interactive:
                sys.stdout.write(f"{self.me}@{self.here}> ")
                sys.stdout.flush()
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            if not await self.handle(line):
                break
