"""AutoMod for the fake Discord (a mixin of :class:`FakeDiscord`), behaving like Discord's
(docs: resources/auto-moderation; /work/shared/reference/discord.md):

* REST: list, get, create, modify and delete a guild's rules; every call needs Manage Server (403/50013).
  Bodies are checked like Discord (400/50035 Invalid Form Body): a name of 1-100 characters, event type 1,
  keyword rules with at most 1,000 keywords of at most 60 characters, 10 regular expressions of at most
  260 characters, 100 allow-list entries; actions given; a block action's custom message at most 150
  characters; an alert action's channel a text channel of the guild; at most 20 exempt roles and 50
  exempt channels; at most 6 keyword rules per guild (400/30037); the trigger type cannot be changed.
  A rule's creator is whoever made it (the bot, or a server admin with ``add_automod_rule``).
* Gateway: AUTO_MODERATION_RULE_CREATE / UPDATE / DELETE (intent AUTO_MODERATION_CONFIGURATION) and
  AUTO_MODERATION_ACTION_EXECUTION (intent AUTO_MODERATION_EXECUTION), one per action of the rule; the
  content and matched content are empty unless the client asked for MESSAGE_CONTENT.
* ``member_posts(channel, author, content)``: a member sends a message. Enabled keyword rules of the guild
  (minus exempt roles and channels) are applied with Discord's matching (keywords: whole words, case
  insensitive, ``*`` at either end for part of a word; patterns searched anywhere). A rule with a block
  action stops the message (it never exists, no MESSAGE_CREATE); an alert action posts an
  AUTO_MODERATION_ACTION system message (type 24) in its channel. Returns the message id, or None.
* ``admin_delete_automod_rule(gid, rid)``: a server admin deletes a rule in the client (event only).
"""

from __future__ import annotations

import re
from typing import Any, Optional

KEYWORD, SPAM, KEYWORD_PRESET, MENTION_SPAM, MEMBER_PROFILE = 1, 3, 4, 5, 6
BLOCK_MESSAGE, SEND_ALERT_MESSAGE, TIMEOUT = 1, 2, 3
INTENT_AUTOMOD_CONFIGURATION, INTENT_AUTOMOD_EXECUTION = 1 << 20, 1 << 21
_INTENT_MESSAGE_CONTENT = 1 << 15
_MANAGE_GUILD = 1 << 5


def _keyword_rx(word: str) -> str:
    w = word.lower()
    core = re.escape(w.strip("*"))
    return ("" if w.startswith("*") else r"(?<!\w)") + core + ("" if w.endswith("*") else r"(?!\w)")


class AutoModFake:
    def _automod_init(self) -> None:
        self.automod_rules: dict[int, dict[int, dict]] = {}  # guild id -> rule id -> rule payload
        self.blocked_messages: list[dict] = []  # what member_posts refused: {"guild_id", "channel_id", "author_id", "content", "rule_id"}

    def _automod_routes(self) -> list:
        G = r"/guilds/(?P<gid>\d+)/auto-moderation/rules"
        return [("GET POST", G, self._automod_rules_route), ("GET PATCH DELETE", G + r"/(?P<rid>\d+)", self._automod_rule_route)]

    # ------------------------------------------------------------------ REST
    def _automod_check(self, gid: int, body: dict, *, creating: bool, old: Optional[dict] = None) -> dict:
        from tests.fakes.discord_server import ApiError

        def bad(why: str):
            raise ApiError(400, 50035, f"Invalid Form Body: {why}")

        if not isinstance(body, dict):
            bad("body")
        rule = dict(old or {})
        for key in ("name", "event_type", "trigger_type", "trigger_metadata", "actions", "enabled", "exempt_roles",
                    "exempt_channels"):
            if key in body:
                rule[key] = body[key]
        if not creating and "trigger_type" in body and body["trigger_type"] != old["trigger_type"]:
            bad("trigger_type cannot be changed")
        for key in ("name", "event_type", "trigger_type", "actions"):
            if key not in rule:
                bad(f"{key}: This field is required")
        if not isinstance(rule["name"], str) or not 1 <= len(rule["name"]) <= 100:
            bad("name: must be 1 to 100 characters")
        if rule["event_type"] not in (1,):
            bad("event_type")
        if rule["trigger_type"] not in (KEYWORD, SPAM, KEYWORD_PRESET, MENTION_SPAM, MEMBER_PROFILE):
            bad("trigger_type")
        meta = rule.get("trigger_metadata") or {}
        kws, pats, allow = meta.get("keyword_filter") or [], meta.get("regex_patterns") or [], meta.get("allow_list") or []
        if len(kws) > 1000 or any(not isinstance(k, str) or not k or len(k) > 60 for k in kws):
            bad("trigger_metadata.keyword_filter: at most 1000 keywords of at most 60 characters")
        if len(pats) > 10 or any(not isinstance(p, str) or not p or len(p) > 260 for p in pats):
            bad("trigger_metadata.regex_patterns: at most 10 patterns of at most 260 characters")
        for p in pats:
            try:
                re.compile(p)
            except re.error:
                bad("trigger_metadata.regex_patterns: invalid regex")
        if len(allow) > 100 or any(not isinstance(a, str) or len(a) > 60 for a in allow):
            bad("trigger_metadata.allow_list: at most 100 entries of at most 60 characters")
        acts = rule["actions"]
        if not isinstance(acts, list) or not acts:
            bad("actions: at least one action")
        for a in acts:
            t, md = a.get("type"), a.get("metadata") or {}
            if t not in (BLOCK_MESSAGE, SEND_ALERT_MESSAGE, TIMEOUT):
                bad("actions.type")
            if t == BLOCK_MESSAGE and len(md.get("custom_message") or "") > 150:
                bad("actions.metadata.custom_message: at most 150 characters")
            if t == SEND_ALERT_MESSAGE:
                ch = self.channels.get(int(md.get("channel_id") or 0))
                if ch is None or ch.get("guild_id") != str(gid) or ch.get("type") != 0:
                    bad("actions.metadata.channel_id: not a text channel of this guild")
        if len(rule.get("exempt_roles") or []) > 20 or len(rule.get("exempt_channels") or []) > 50:
            bad("exempt_roles / exempt_channels: too many")
        rule["trigger_metadata"] = {"keyword_filter": list(kws), "regex_patterns": list(pats), "allow_list": list(allow),
                                    **{k: v for k, v in meta.items() if k not in ("keyword_filter", "regex_patterns", "allow_list")}}
        rule["actions"] = [{"type": a["type"], "metadata": {k: str(v) if k == "channel_id" else v
                                                          for k, v in (a.get("metadata") or {}).items()}} for a in acts]
        rule["enabled"] = bool(rule.get("enabled", False))
        rule["exempt_roles"] = [str(r) for r in rule.get("exempt_roles") or []]
        rule["exempt_channels"] = [str(c) for c in rule.get("exempt_channels") or []]
        return rule

    async def _automod_rules_route(self, rec, gid: int) -> Any:
        from tests.fakes.discord_server import ApiError

        self._bot_guild(gid)
        self._require(gid, _MANAGE_GUILD)
        rules = self.automod_rules.setdefault(gid, {})
        if rec.method == "GET":
            return list(rules.values())
        rule = self._automod_check(gid, rec.json, creating=True)
        if rule["trigger_type"] == KEYWORD and sum(r["trigger_type"] == KEYWORD for r in rules.values()) >= 6:
            raise ApiError(400, 30037, "Maximum number of rules of this trigger type reached")
        return await self.add_automod_rule(gid, rule, creator_id=self.bot_id)

    async def _automod_rule_route(self, rec, gid: int, rid: int) -> Any:
        from tests.fakes.discord_server import ApiError

        self._bot_guild(gid)
        self._require(gid, _MANAGE_GUILD)
        rules = self.automod_rules.setdefault(gid, {})
        if rid not in rules:
            raise ApiError(404, 10066, "Unknown Auto Moderation Rule")
        if rec.method == "GET":
            return rules[rid]
        if rec.method == "DELETE":
            rule = rules.pop(rid)
            await self._dispatch("AUTO_MODERATION_RULE_DELETE", rule, intent=INTENT_AUTOMOD_CONFIGURATION)
            return None
        rules[rid] = self._automod_check(gid, rec.json, creating=False, old=rules[rid])
        await self._dispatch("AUTO_MODERATION_RULE_UPDATE", rules[rid], intent=INTENT_AUTOMOD_CONFIGURATION)
        return rules[rid]

    # ------------------------------------------------------------------ what people do in the client
    async def add_automod_rule(self, gid: int, rule: dict, *, creator_id: Optional[int] = None) -> dict:
        """A rule made by ``creator_id`` (default: the guild's owner, as a server admin would in the client)."""
        rid = self.snowflake()
        rule = {**rule, "id": str(rid), "guild_id": str(gid),
                "creator_id": str(creator_id or self.guilds[gid]["owner_id"])}
        rule.setdefault("enabled", False)
        self.automod_rules.setdefault(gid, {})[rid] = rule
        await self._dispatch("AUTO_MODERATION_RULE_CREATE", rule, intent=INTENT_AUTOMOD_CONFIGURATION)
        return rule

    async def admin_delete_automod_rule(self, gid: int, rid: int) -> None:
        rule = self.automod_rules[gid].pop(int(rid))
        await self._dispatch("AUTO_MODERATION_RULE_DELETE", rule, intent=INTENT_AUTOMOD_CONFIGURATION)

    @staticmethod
    def automod_match(rule: dict, content: str) -> Optional[tuple[Optional[str], str]]:
        """(matched keyword or None for a pattern, matched content) for a keyword rule, or None."""
        meta = rule.get("trigger_metadata") or {}
        text = content or ""
        allowed = [a.lower() for a in meta.get("allow_list") or []]
        for kw in meta.get("keyword_filter") or []:
            m = re.search(_keyword_rx(kw), text, re.IGNORECASE)
            if m and m.group(0).lower() not in allowed:
                return kw, m.group(0)
        for p in meta.get("regex_patterns") or []:
            m = re.search(p, text)
            if m and m.group(0).lower() not in allowed:
                return None, m.group(0)
        return None

    async def member_posts(self, channel_id: int, author_id: int, content: str) -> Optional[int]:
        """A member sends a message: AutoMod first (see the module's doc), then MESSAGE_CREATE."""
        ch = self.channels[channel_id]
        gid = int(ch["guild_id"]) if "guild_id" in ch else None
        if gid is not None:
            roles = {str(r) for r in self.guilds[gid]["members"].get(author_id, {}).get("roles", []) or []}
            for rule in list(self.automod_rules.get(gid, {}).values()):
                if not rule["enabled"] or rule["trigger_type"] != KEYWORD or str(channel_id) in rule["exempt_channels"] \
                        or roles & set(rule["exempt_roles"]):
                    continue
                hit = self.automod_match(rule, content)
                if hit is None:
                    continue
                blocks = any(a["type"] == BLOCK_MESSAGE for a in rule["actions"])
                await self._automod_execute(gid, channel_id, author_id, content, rule, hit, blocks)
                if blocks:
                    self.blocked_messages.append({"guild_id": gid, "channel_id": channel_id, "author_id": author_id,
                                                  "content": content, "rule_id": int(rule["id"])})
                    return None
        return await self.dispatch_message_create(channel_id, author_id, content)

    async def _automod_execute(self, gid, channel_id, author_id, content, rule, hit, blocks) -> None:
        keyword, matched = hit
        session = self._session_for({"guild_id": str(gid)})
        sees_content = bool(session and session.intents & _INTENT_MESSAGE_CONTENT)
        for action in rule["actions"]:
            data = {"guild_id": str(gid), "action": action, "rule_id": rule["id"], "rule_trigger_type": rule["trigger_type"],
                    "user_id": str(author_id), "channel_id": str(channel_id),
                    "content": content if sees_content else "", "matched_keyword": keyword,
                    "matched_content": matched if sees_content else ""}
            if action["type"] == SEND_ALERT_MESSAGE:
                alert = self.add_message(int(action["metadata"]["channel_id"]), author_id, "", type=24,
                                         embeds=[{"type": "auto_moderation_message", "description": content,
                                                  "fields": [{"name": "rule_name", "value": rule["name"]},
                                                             {"name": "channel_id", "value": str(channel_id)},
                                                             {"name": "keyword", "value": keyword or ""}]}])
                data["alert_system_message_id"] = str(alert)
            if not blocks:
                data["message_id"] = None
            await self._dispatch("AUTO_MODERATION_ACTION_EXECUTION", data, intent=INTENT_AUTOMOD_EXECUTION)
