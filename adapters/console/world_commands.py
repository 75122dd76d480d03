"""The console's pretend community itself, changed by typed commands: who you are (`as`), who is on the
safety team (`promote`, `demote`), posting (`say`) and reading a channel (`show`). Nothing here reaches the
core: the bot notices these changes only as a platform would (a posted message, the roles it reads)."""

from __future__ import annotations

from safety_bot.text import inert_plain

from .world import Msg


class WorldCommands:
    """Mixed into ConsoleAdapter (its `world`, `me`, `here`, `t`, `say`, `write`, `now`)."""

    def switch(self, args: list[str]) -> None:
        if not args:
            self.say(self.t("usage", usage="as <name> [community]"))
            return
        name = args[0].lstrip("@")
        cid = args[1] if len(args) > 1 else None
        options = [c for c in self.world.communities if name in self.world.people(c)]
        if not options:
            self.say(self.t("nobody_called", name=inert_plain(name[:40])))
            return
        if cid and cid not in options:
            self.say(self.t("not_in", name=name, community=inert_plain(cid[:40])))
            return
        self.me = name
        self.here = cid or options[0]  # their own (first) community unless one is named
        self.write(self.t("now_you_are", me=self.me, role=self._role(), here=self.here))

    def _role(self) -> str:
        return self.t("role_moderator" if self.world.is_moderator(self.here, self.me) else "role_member")

    def set_role(self, head: str, args: list[str]) -> None:
        """The community's owner gives or takes the safety-team role (the world changes; the bot reads it)."""
        if not args:
            self.say(self.t("usage", usage=f"{head} <name>"))
            return
        name = args[0].lstrip("@")
        c = self.world.communities[self.here]
        if name not in self.world.people(self.here):
            self.say(self.t("nobody_called", name=inert_plain(name[:40])))
            return
        if head == "promote" and name not in c.moderators:
            c.moderators.append(name)
        elif head == "demote" and name in c.moderators:
            c.moderators.remove(name)
        self.write(self.t("promoted" if head == "promote" else "demoted", name=name, here=self.here))

    def post(self, words: list[str], rest: str) -> None:
        if len(words) < 2:
            self.say(self.t("usage", usage="say <channel> <text>"))
            return
        channel = words[0].lstrip("#")
        c = self.world.communities[self.here]
        if channel not in c.channels:
            self.say(self.t("no_channel", channel=inert_plain(channel[:40]), here=self.here))
            return
        if self.me in self.world.bans.get(self.here, {}):
            self.say(self.t("banned_here"))
            return
        text = rest[len(words[0]):].strip()
        self.world.counter += 1
        m = Msg(f"m{self.world.counter}", self.here, channel, self.me, text, self.now())
        self.world.messages[m.id] = m
        self.write(f"[#{channel} @ {self.here}] {self.me}: {inert_plain(text)}   ({m.id})")

    def show(self, channel: str) -> None:
        channel = channel.lstrip("#")
        msgs = [m for m in self.world.messages.values() if m.community == self.here and m.channel == channel and not m.deleted]
        self.write(f"#{channel}: " + (self.t("channel_empty") if not msgs else ""))
        for m in msgs:
            self.write(f"  {m.id} {m.author}: {inert_plain(m.text)}")
