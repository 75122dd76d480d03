"""Discord checks over the REST API (the same calls discord.py makes, without starting a gateway
session): the token, guild membership, the bot's permissions, the safety channel's privacy, the safety
role, the registered commands and the escalation destination."""

from __future__ import annotations

import aiohttp

from .checks import Checklist

VIEW, SEND, EMBED = 1 << 10, 1 << 11, 1 << 14
BAN, MANAGE_MESSAGES, MODERATE, ADMIN = 1 << 2, 1 << 13, 1 << 40, 1 << 3
ALL = (1 << 53) - 1
GUILD_PERMS = {"Ban Members": BAN, "Manage Messages": MANAGE_MESSAGES, "Moderate Members": MODERATE}
CHANNEL_PERMS = {"View Channel": VIEW, "Send Messages": SEND, "Embed Links": EMBED}
COMMANDS = ("report", "resources", "Report message", "Remove & block media", "safety")


class _Api:
    def __init__(self, session: aiohttp.ClientSession, base: str, token: str):
        self.session, self.base, self.headers = session, base, {"Authorization": f"Bot {token}"}

    async def get(self, path: str):
        """(status, JSON or None)."""
        async with self.session.get(self.base + path, headers=self.headers) as resp:
            data = await resp.json(content_type=None) if resp.status < 300 else None
            return resp.status, data


def base_permissions(roles: dict[int, dict], guild_id: int, role_ids: list[int], owner: bool) -> int:
    if owner:
        return ALL
    perms = int(roles.get(guild_id, {}).get("permissions", 0))
    for rid in role_ids:
        perms |= int(roles.get(rid, {}).get("permissions", 0))
    return ALL if perms & ADMIN else perms


def channel_permissions(base: int, channel: dict, guild_id: int, role_ids: list[int], user_id: int | None) -> int:
    """Discord's overwrite order: @everyone, then the roles together, then the member."""
    if base & ADMIN or base == ALL:
        return ALL
    ow = {int(o["id"]): (int(o["allow"]), int(o["deny"])) for o in channel.get("permission_overwrites") or []}
    allow, deny = ow.get(guild_id, (0, 0))
    perms = (base & ~deny) | allow
    allow = deny = 0
    for rid in role_ids:
        a, d = ow.get(rid, (0, 0))
        allow, deny = allow | a, deny | d
    perms = (perms & ~deny) | allow
    if user_id is not None:
        allow, deny = ow.get(user_id, (0, 0))
        perms = (perms & ~deny) | allow
    return perms if perms & VIEW else 0


def _missing(perms: int, wanted: dict[str, int]) -> list[str]:
    return [name for name, bit in wanted.items() if not perms & bit]


async def discord_checks(cfg, *, timeout: float = 15.0, threats=None) -> Checklist:
    """`threats`: the threat phrasings (safety_bot/threat_phrases.py) the AutoMod rule must hold, when
    `discord.automod` is on."""
    c = Checklist("discord")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        api = _Api(session, cfg.api_base_url, cfg.token)
        try:
            status, me = await api.get("/users/@me")
        except (aiohttp.ClientError, TimeoutError) as exc:
            c.fail("Discord answers", f"could not reach {cfg.api_base_url} ({exc.__class__.__name__}); check the "
                                      "network and discord.api_base_url")
            return c
        if not c.check(status == 200, "the bot token works",
                       "Discord refused the token: in the Developer Portal (Bot > Reset Token) make a new one and "
                       "set the environment variable discord.token names"):
            return c
        bot_id = int(me["id"])
        app_status, app = await api.get("/oauth2/applications/@me")
        app_id = int(app["id"]) if app_status == 200 and app else bot_id
        for g in cfg.guilds:
            c.scope = str(g.id)  # the community id of that guild: its failures go to its own team
            await _guild_checks(c, api, g, bot_id, app_id)
            if cfg.automod:
                await _automod(c, api, g, bot_id, threats)
        c.scope = None
    return c


async def _guild_checks(c: Checklist, api: _Api, g, bot_id: int, app_id: int) -> None:
    gid = g.id
    status, guild = await api.get(f"/guilds/{gid}")
    if not c.check(status == 200, f"the bot is in guild {gid}",
                   "invite the bot to that server (Developer Portal > OAuth2 > URL Generator, scopes bot and "
                   "applications.commands), or fix the guild id in discord.guilds"):
        return
    roles = {int(r["id"]): r for r in guild.get("roles", [])}
    owner = int(guild.get("owner_id") or 0) == bot_id
    status, member = await api.get(f"/guilds/{gid}/members/{bot_id}")
    bot_roles = [int(r) for r in (member or {}).get("roles", [])]
    perms = base_permissions(roles, gid, bot_roles, owner)
    for name, bit in GUILD_PERMS.items():
        c.check(bool(perms & bit), f"the bot has {name} in guild {gid}",
                f"Server Settings > Roles: give the bot's role {name} (or add that permission to the invite)")
    if g.safety_role is not None:
        c.check(g.safety_role in roles, f"the safety role {g.safety_role} exists in guild {gid}",
                "create the safety team's role and put its id in safety_role (Developer Mode > right-click > "
                "Copy Role ID)")
    status, channel = await api.get(f"/channels/{g.safety_channel}")
    if not c.check(status == 200 and str(channel.get("guild_id")) == str(gid),
                   f"the safety channel {g.safety_channel} exists in guild {gid}",
                   "the bot cannot see that channel: check safety_channel's id, and let the bot's role view it "
                   "(channel settings > Permissions)"):
        return
    here = channel_permissions(perms, channel, gid, bot_roles, bot_id)
    missing = _missing(here, CHANNEL_PERMS)
    c.check(not missing, f"the bot can view, send and embed in the safety channel of guild {gid}",
            "in the safety channel's Permissions, allow the bot's role: " + ", ".join(missing))
    everyone = channel_permissions(base_permissions(roles, gid, [], False), channel, gid, [], None)
    c.check(not everyone & VIEW, f"the safety channel of guild {gid} is hidden from @everyone",
            "in the safety channel's Permissions, deny View Channel to @everyone: case posts must reach only "
            "the safety team")
    if g.safety_role is not None and g.safety_role in roles:
        team = channel_permissions(base_permissions(roles, gid, [g.safety_role], False), channel, gid,
                                   [g.safety_role], None)
        c.check(bool(team & VIEW), f"the safety role can see the safety channel of guild {gid}",
                "in the safety channel's Permissions, allow View Channel to the safety role")
    status, commands = await api.get(f"/applications/{app_id}/guilds/{gid}/commands")
    names = {cmd.get("name") for cmd in commands or []}
    missing = [n for n in COMMANDS if n not in names]
    c.check(status == 200 and not missing, f"the bot's commands are registered in guild {gid}",
            "start the bot once (safety-bot run) so it registers them; if that does not help, re-invite it "
            "with the applications.commands scope" + (f" (missing: {', '.join(missing)})" if missing else ""))
    await _escalation(c, api, g, perms, bot_roles, bot_id)


async def _escalation(c: Checklist, api: _Api, g, perms: int, bot_roles: list[int], bot_id: int) -> None:
    gid = g.id
    if g.escalation_channel is None and g.escalation_user is None:
        c.warn(f"an escalation destination for guild {gid}",
               "set escalation_channel or escalation_user: without one, a report about a moderator reaches no one "
               "outside the safety team")
        return
    if g.escalation_channel is not None:
        status, ch = await api.get(f"/channels/{g.escalation_channel}")
        ok = status == 200 and str(ch.get("guild_id")) == str(gid) and \
            not _missing(channel_permissions(perms, ch, gid, bot_roles, bot_id), {"View": VIEW, "Send": SEND})
        c.check(ok, f"the escalation channel {g.escalation_channel} exists and the bot can post there",
                "check escalation_channel's id and let the bot's role view and send messages in it")
    if g.escalation_user is not None:
        status, _ = await api.get(f"/guilds/{gid}/members/{g.escalation_user}")
        c.check(status == 200, f"the escalation contact {g.escalation_user} is a member of guild {gid}",
                "check escalation_user's id (Developer Mode > right-click the person > Copy User ID)")


async def _automod(c: Checklist, api: _Api, g, bot_id: int, threats) -> None:
    """The bot's AutoMod rule (adapters/discord/automod.py): there, enabled, blocking, with today's phrasings."""
    gid = g.id
    status, rules = await api.get(f"/guilds/{gid}/auto-moderation/rules")
    if not c.check(status == 200, f"the bot can manage AutoMod rules in guild {gid}",
                   "Server Settings > Roles: give the bot's role Manage Server (AutoMod rules need it), or set "
                   "discord.automod: false"):
        return
    name = "safety-bot: sextortion threats"
    mine = [r for r in rules or [] if r.get("name") == name and int(r.get("creator_id") or 0) == bot_id]
    if not c.check(bool(mine), f"the AutoMod rule '{name}' exists in guild {gid}",
                   "it was deleted (maybe by a server admin): start the bot (safety-bot run) to create it again, or "
                   "set discord.automod: false"):
        return
    rule = mine[0]
    blocks = any(int(a.get("type", 0)) == 1 for a in rule.get("actions") or [])
    c.check(bool(rule.get("enabled")) and blocks, f"the AutoMod rule in guild {gid} is enabled and blocks messages",
            "Server Settings > AutoMod: turn the rule on and keep its 'Block message' response, or restart the bot "
            "so it sets the rule up again")
    if threats is not None:
        meta = rule.get("trigger_metadata") or {}
        current = sorted(meta.get("keyword_filter") or []) == sorted(threats.keywords) and \
            list(meta.get("regex_patterns") or []) == list(threats.patterns)
        c.check(current, f"the AutoMod rule in guild {gid} holds the threat phrasings of the locale files",
                "restart the bot (safety-bot run) so it updates the rule")
