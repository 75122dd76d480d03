"""The console's simulated platform: communities, channels, members and messages (`World`), and the
`Platform` port carried out on it (`ConsolePlatform`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from safety_bot.actions import BanUser, PostToTeam, RemoveMessage, SendPrivate, TimeoutUser, UnbanUser, WarnUser
from safety_bot.config import ConsoleCommunity
from safety_bot.domain import MessageRef, MessageSnapshot, UserRef
from safety_bot.ports import ALREADY, NOT_FOUND, OK, BeforePurge, Result

PLATFORM = "console"
WEEK = 7 * 86400


@dataclass
class Msg:
    id: str
    community: str
    channel: str
    author: str
    text: str
    at: float
    deleted: bool = False


@dataclass
class World:
    """The simulated platform: communities, channels, members, messages, bans."""

    communities: dict[str, ConsoleCommunity]
    messages: dict[str, Msg] = field(default_factory=dict)
    bans: dict[str, dict[str, str]] = field(default_factory=dict)  # community -> member -> reason
    timeouts: dict[str, dict[str, int]] = field(default_factory=dict)
    counter: int = 0
    # message id -> the file a `picture` message showed, as a platform holds an attachment: memory only (the
    # world file never keeps it), read again only for `remove --block`
    files: dict[str, str] = field(default_factory=dict)

    def people(self, cid: str) -> list[str]:
        c = self.communities[cid]
        return list(dict.fromkeys([*c.members, *c.moderators, *([c.escalation] if c.escalation else [])]))

    def is_moderator(self, cid: str, name: str) -> bool:
        return name in self.communities[cid].moderators

    def is_escalation(self, cid: str, name: str) -> bool:
        return bool(self.communities[cid].escalation) and name == self.communities[cid].escalation

    def holds_power(self, name: str) -> bool:
        """On the safety team, or the escalation contact, of any community (read now: roles can change)."""
        return any(self.is_moderator(c, name) or self.is_escalation(c, name) for c in self.communities)

    def user(self, name: str) -> UserRef:
        return UserRef(PLATFORM, name, name)

    def link(self, m: Msg) -> str:
        return f"console://{m.community}/{m.channel}/{m.id}"

    def ref(self, m: Msg) -> MessageRef:
        return MessageRef(PLATFORM, m.community, m.channel, m.id, self.link(m))

    def find(self, token: str) -> Msg | None:
        token = token.strip()
        if token.startswith("console://"):
            token = token.rstrip("/").split("/")[-1]
        return self.messages.get(token)


class ConsolePlatform:
    """Carries out actions by printing what each person would see and changing the world."""

    name = PLATFORM
    captures_before_purge = True  # `ban` takes `before_purge` (safety_bot/ports.py)

    def __init__(self, world: World, write, texts=None, locale: str = "en", team_locale: str = "en"):
        self.world = world
        self.write = write
        self.texts, self.locale = texts, locale  # the locale files: the choices hint
        self.team_locale = team_locale  # the configured locale: what the team reads (a result's detail)
        self.closed_dms: set[str] = set()
        self.bank = None  # the app's MediaBank, for remove --block

    async def send_private(self, a: SendPrivate) -> Result:
        if a.to.id in self.closed_dms:
            return Result("forbidden", self.texts.t("console_result_dms_closed", self.team_locale))
        text = a.text
        if a.prompt is not None:  # a question sent on its own (as Discord and Matrix show it: text, then choices)
            text += "\n" + a.prompt.text
            if a.prompt.choices:
                text += ("\n  " + "   ".join(f"{i}) {c.label}" for i, c in enumerate(a.prompt.choices, 1)) + "   "
                         + self.texts.t("console.choices_hint", self.locale))
        self.write(f"[private to {a.to.id}] " + text.replace("\n", f"\n[private to {a.to.id}] "))
        return Result(OK)

    async def post_to_team(self, a: PostToTeam) -> Result:
        c = self.world.communities[a.community]
        if a.destination == "escalation":
            if not c.escalation:
                return Result("failed", self.texts.t("console_result_no_escalation", self.team_locale))
            prefix = f"[escalation to {c.escalation} @ {a.community}]"
        else:
            prefix = f"[#{c.safety_channel} @ {a.community}]"
        ping = "@safety-team " if a.ping else ""
        self.write(prefix + " " + ping + a.text.replace("\n", "\n" + prefix + " "))
        return Result(OK)

    async def fetch_message(self, ref: MessageRef) -> MessageSnapshot | None:
        m = self.world.messages.get(ref.message_id)
        if m is None or m.deleted:
            return None
        return MessageSnapshot(ref=self.world.ref(m), author=self.world.user(m.author), text=m.text, created_at=m.at)

    async def remove_message(self, a: RemoveMessage) -> Result:
        m = self.world.messages.get(a.ref.message_id)
        if m is None or m.deleted:
            return Result(NOT_FOUND, self.texts.t("result_message_gone", self.team_locale))
        detail = ""
        if a.block_media and self.bank is not None:  # before the deletion, as Discord and Matrix do
            detail = await self.bank.bank_removed_images(a, PLATFORM, lambda: self._read_file(m.id))
        m.deleted = True
        self.write(f"[#{m.channel} @ {m.community}] " + self.texts.t("console.removed_by_moderators", self.locale))
        return Result(OK, detail)

    async def _read_file(self, message_id: str) -> list:
        """The picture or video a `picture` message showed, read into memory ([] for a text message, [None]
        when the file cannot be read any more)."""
        path = self.world.files.get(message_id)
        if path is None:
            return []
        media = self.bank.service.config.media
        try:
            with open(path, "rb") as fh:
                return [fh.read(max(media.max_bytes, media.max_video_bytes) + 1)]
        except OSError:
            return [None]

    async def ban(self, a: BanUser, *, before_purge: BeforePurge | None = None) -> Result:
        bans = self.world.bans.setdefault(a.community, {})
        if a.user.id in bans:
            return Result(ALREADY)
        bans[a.user.id] = a.reason
        now = max((m.at for m in self.world.messages.values()), default=0)
        doomed = [m for m in self.world.messages.values()
                  if m.community == a.community and m.author == a.user.id and not m.deleted
                  and now - m.at <= a.delete_message_seconds] if a.delete_message_seconds else []
        kept = ""
        if before_purge is not None and doomed:
            # Evidence first, as on Matrix: the messages are on the case before they are deleted. If they
            # could not be stored, they stay up (the ban stands).
            try:
                await before_purge([MessageSnapshot(self.world.ref(m), self.world.user(m.author), m.text, m.at) for m in doomed])
            except Exception:
                doomed, kept = [], " (recent messages kept: they could not be stored as evidence first)"
        for m in doomed:
            m.deleted = True
        purged = len(doomed)
        self.write(f"[audit log @ {a.community}] ban {a.user.id}: {a.reason}" + (f" ({purged} recent message(s) removed)" if purged else "") + kept)
        return Result(OK)

    async def is_done(self, a) -> bool | None:
        """For `Runtime.resume()`: a ban or removal left pending by a crash, already carried out?"""
        if isinstance(a, BanUser):
            return a.user.id in self.world.bans.get(a.community, {})
        if isinstance(a, RemoveMessage):
            m = self.world.messages.get(a.ref.message_id)
            return m is None or m.deleted
        return None

    async def unban(self, a: UnbanUser) -> Result:
        bans = self.world.bans.setdefault(a.community, {})
        if a.user.id not in bans:
            return Result(ALREADY)
        del bans[a.user.id]
        self.write(f"[audit log @ {a.community}] unban {a.user.id}: {a.reason}")
        return Result(OK)

    async def timeout(self, a: TimeoutUser) -> Result:
        self.world.timeouts.setdefault(a.community, {})[a.user.id] = a.seconds
        self.write(f"[audit log @ {a.community}] timeout {a.user.id} for {a.seconds // 60} minutes: {a.reason}")
        return Result(OK)

    async def warn(self, a: WarnUser) -> Result:
        if a.user.id in self.closed_dms:
            return Result("forbidden", self.texts.t("console_result_dms_closed", self.team_locale))
        self.write(f"[private to {a.user.id}] {a.text}")
        return Result(OK)
