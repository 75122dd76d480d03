"""Pure helpers for the Discord adapter: message links, snapshots, text chunks and case embeds.

Nothing here decides anything about cases; it only translates between Discord objects and the core's
plain data. User text is made inert again for Discord markdown (the core made it inert for plain text).
"""

from __future__ import annotations

import re

import discord

from safety_bot.domain import AttachmentMeta, MessageRef, MessageSnapshot, UserRef
from safety_bot.text import inert_plain

PLATFORM = "discord"
MESSAGE_LIMIT = 1900  # Discord allows 2000 characters; leave room for a prefix
# Snowflakes are ASCII digits, at most 20 of them (re's \d would also take other scripts' digits).
LINK_RE = re.compile(r"^<?https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/channels/([0-9]{1,20}|@me)/([0-9]{1,20})/([0-9]{1,20})/?>?$")
ID_PAIR_RE = re.compile(r"^([0-9]{15,21})-([0-9]{15,21})$")  # "Copy ID" with Shift: channel-message


def user_ref(user: discord.abc.User | discord.Object, name: str | None = None) -> UserRef:
    display = name if name is not None else getattr(user, "display_name", None) or getattr(user, "name", "") or ""
    return UserRef(PLATFORM, str(user.id), display)


def permalink(guild_id: int | str, channel_id: int | str, message_id: int | str) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def parse_link(text: str | None) -> tuple[int | None, int, int] | None:
    """`https://discord.com/channels/G/C/M` -> (G, C, M); `C-M` -> (None, C, M); else None."""
    text = (text or "").strip()
    m = LINK_RE.match(text)
    if m:
        guild = None if m.group(1) == "@me" else int(m.group(1))
        return guild, int(m.group(2)), int(m.group(3))
    m = ID_PAIR_RE.match(text)
    if m:
        return None, int(m.group(1)), int(m.group(2))
    return None


def message_ref(guild_id: int, channel_id: int, message_id: int) -> MessageRef:
    return MessageRef(PLATFORM, str(guild_id), str(channel_id), str(message_id),
                      permalink(guild_id, channel_id, message_id))


def snapshot_of(message: discord.Message, guild_id: int | None = None) -> MessageSnapshot:
    """What the message shows now. Attachments: metadata only (never bytes, URL or filename)."""
    gid = guild_id if guild_id is not None else (message.guild.id if message.guild else 0)
    ref = message_ref(gid, message.channel.id, message.id)
    atts = tuple(AttachmentMeta(content_type=a.content_type or "", size=a.size or 0, width=a.width, height=a.height)
                 for a in message.attachments)
    return MessageSnapshot(ref=ref, author=user_ref(message.author), text=message.content or "",
                           created_at=message.created_at.timestamp(), attachments=atts,
                           edited_at=message.edited_at.timestamp() if message.edited_at else None)


def chunks(text: str, size: int = MESSAGE_LIMIT) -> list[str]:
    """Split at line breaks into pieces Discord accepts."""
    text = (text or "").strip()
    if not text:
        return []
    out: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > size:
            if current:
                out.append(current)
                current = ""
            out.append(line[:size])
            line = line[size:]
        if current and len(current) + 1 + len(line) > size:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text: str, limit: int) -> str:
    """User-derived text for an embed: no markdown, mentions, masked links or previews."""
    text = discord.utils.escape_markdown(inert_plain(text) or "-")
    return _cut(text.replace("[", "\\[").replace("]", "\\]"), limit)


def team_text(text: str) -> str:
    """A plain team notice that carries member text (a reporter's follow-up, a bank notice): no live
    markdown, masked links, headings, subtext or quotes; bare links stay as text."""
    text = re.sub(r"(?<!\\)([\[\]])", r"\\\1", discord.utils.escape_markdown(text or ""))
    return re.sub(r"(?m)^(\s*)(#|-#|>)", r"\1\\\2", text)


def card_embed(card: dict) -> discord.Embed:
    """The core's structured case view as an embed (title, fields, statement, answers, evidence links)."""
    urgent = bool(card.get("urgent"))
    labels = card.get("labels") or {}  # the card's words, from the locale files (views.card)
    embed = discord.Embed(title=_cut(card.get("title") or f"Case {card.get('case_number')}", 256),
                          colour=discord.Colour.red() if urgent else discord.Colour.orange())
    if card.get("statements"):
        embed.description = _md(" / ".join(card["statements"]), 1500)
    for name, value in card.get("fields", []):
        embed.add_field(name=_cut(str(name), 256), value=_md(str(value), 1024), inline=True)
    if card.get("answers"):
        embed.add_field(name=labels.get("answers", "Answers"), value=_md("\n".join(card["answers"]), 1024), inline=False)
    if card.get("evidence_links"):
        # Our own permalinks (message links, never CDN URLs); shown as links on purpose.
        links = [link for link in card["evidence_links"] if link.startswith("https://discord.com/channels/")]
        others = [link for link in card["evidence_links"] if link not in links]
        value = "\n".join(links + [_md(o, 200) for o in others])
        embed.add_field(name=labels.get("evidence", "Evidence"), value=_cut(value, 1024), inline=False)
    if card.get("flags"):
        embed.add_field(name=labels.get("flags", "Flags"), value=_md("\n".join(card["flags"]), 1024), inline=False)
    guidance = card.get("guidance") or ""
    if guidance and len(embed) + len(guidance) < 5800:
        embed.add_field(name=labels.get("guidance", "Guidance"), value=_cut(guidance, 800), inline=False)
    n = card.get("case_number")
    embed.set_footer(text=labels.get("footer") or f"Case {n} - use the buttons or /safety case case:{n}")
    return embed


def channel_is_private(channel) -> bool:
    """True when @everyone cannot view the channel."""
    guild = getattr(channel, "guild", None)
    if guild is None:
        return True  # a DM
    return not channel.permissions_for(guild.default_role).view_channel


def modal_values(data: dict) -> dict[str, str]:
    """custom_id -> value of the text inputs in a modal submission (action rows and labels nest them)."""
    found: dict[str, str] = {}

    def walk(items):
        for c in items or []:
            if c.get("type") == 4 and "custom_id" in c:
                found[c["custom_id"]] = c.get("value") or ""
            walk(c.get("components"))
            if isinstance(c.get("component"), dict):
                walk([c["component"]])

    walk(data.get("components"))
    return found
