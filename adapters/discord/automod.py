"""Discord AutoMod: threats stopped before they land. With `discord.automod: true` the bot keeps one keyword
rule per guild ("safety-bot: sextortion threats") holding the threat phrasings of every locale file
(`threats:`; safety_bot/threat_phrases.py): created or brought up to date at start, with two actions, block
the message (the author sees a neutral notice) and an alert in the safety channel. Each block of the rule
comes back as AUTO_MODERATION_ACTION_EXECUTION and becomes a case on the author (safety_bot/blocked.py). A
rule someone deletes is reported to the safety team at once, and recreated at the next start.
A mixin of :class:`DiscordAdapter`."""

import logging
import re

import discord

from safety_bot import blocked
from safety_bot.threat_phrases import ThreatPhrases

from .render import PLATFORM, user_ref

log = logging.getLogger(__name__)

RULE_NAME = "safety-bot: sextortion threats"
KEYWORD, MESSAGE_SEND = 1, 1  # trigger type, event type
BLOCK_MESSAGE, SEND_ALERT_MESSAGE = 1, 2  # action types
_KEY = "automod_rule."  # + guild id: the rule's id, to tell a deleted rule from a first start
_MENTION = re.compile(r"<@!?(\d{15,21})>")


def wanted_rule(phrases: ThreatPhrases, notice: str, g, *, alert: bool = True) -> dict:
    """The rule's payload as Discord takes it (and answers it). The safety team and its channels are exempt:
    the team quotes threats when it discusses a case. `alert`: Discord's copy of a blocked message goes to
    the safety channel, only when @everyone cannot read it (the copy may name the member it threatens)."""
    actions = [{"type": BLOCK_MESSAGE, "metadata": {"custom_message": notice[:150]}}]
    if alert:
        actions.append({"type": SEND_ALERT_MESSAGE, "metadata": {"channel_id": str(g.safety_channel)}})
    return {"name": RULE_NAME, "event_type": MESSAGE_SEND, "trigger_type": KEYWORD,
            "trigger_metadata": {"keyword_filter": list(phrases.keywords), "regex_patterns": list(phrases.patterns),
                                 "allow_list": []},
            "actions": actions,
            "enabled": True, "exempt_roles": [str(g.safety_role)] if g.safety_role else [],
            "exempt_channels": [str(c) for c in (g.safety_channel, g.escalation_channel) if c]}


def rule_differs(have: dict, want: dict) -> bool:
    tm, wm = have.get("trigger_metadata") or {}, want["trigger_metadata"]
    if sorted(tm.get("keyword_filter") or []) != sorted(wm["keyword_filter"]) or \
            list(tm.get("regex_patterns") or []) != wm["regex_patterns"]:
        return True
    acts = sorted((int(a.get("type", 0)), str((a.get("metadata") or {}).get("custom_message") or ""),
                   str((a.get("metadata") or {}).get("channel_id") or "")) for a in have.get("actions") or [])
    wanted = sorted((a["type"], str(a["metadata"].get("custom_message") or ""), str(a["metadata"].get("channel_id") or ""))
                    for a in want["actions"])
    exempt = (sorted(map(str, have.get("exempt_roles") or [])), sorted(map(str, have.get("exempt_channels") or [])))
    return acts != wanted or not have.get("enabled") or exempt != (sorted(want["exempt_roles"]),
                                                                   sorted(want["exempt_channels"]))


class DiscordAutoMod:
    def automod_notice(self) -> str:
        return self.app.service.t("discord.automod_notice", self.app.config.locale)

    async def sync_automod(self) -> None:
        """At start: create or update the rule in every guild this process runs."""
        if not self.cfg.automod:
            return
        self._automod_rules = getattr(self, "_automod_rules", {})
        state = self.app.platform_state(PLATFORM)
        phrases = ThreatPhrases.from_texts(self.app.service.texts)
        for g in self.guilds.values():
            if not self.cfg.owns(g.id) or self.client.get_guild(g.id) is None:
                continue
            http = self.client.http
            try:
                want = wanted_rule(phrases, self.automod_notice(), g, alert=await self._alert_channel_private(g))
                rules = await http.get_auto_moderation_rules(g.id)
                mine = [r for r in rules if r.get("name") == RULE_NAME and int(r.get("creator_id") or 0) == self.client.user.id]
                known = await state.get(_KEY + str(g.id))
                if mine:
                    rule = mine[0]
                    if rule_differs(rule, want):
                        rule = await http.edit_auto_moderation_rule(
                            g.id, rule["id"], reason="safety-bot: threat phrasings updated",
                            **{k: v for k, v in want.items() if k != "trigger_type"})
                        log.info("AutoMod rule updated in guild %s (%d keywords, %d patterns)", g.id,
                                 len(phrases.keywords), len(phrases.patterns))
                else:
                    rule = await http.create_auto_moderation_rule(g.id, reason="safety-bot: stop sextortion threats",
                                                                  **want)
                    log.info("AutoMod rule created in guild %s", g.id)
                    if known:  # it existed at the last start: someone deleted it since
                        await self._automod_lost(g, "at_start")
            except discord.HTTPException as exc:
                log.warning("the AutoMod rule could not be set up in guild %s (HTTP %s): the bot needs Manage Server",
                            g.id, exc.status)
                continue
            self._automod_rules[g.id] = int(rule["id"])
            await state.set(_KEY + str(g.id), str(rule["id"]))

    async def _alert_channel_private(self, g) -> bool:
        """Whether the safety channel exists and @everyone cannot read it (else AutoMod sends no alert there)."""
        channel = self.client.get_channel(g.safety_channel)
        try:
            channel = channel or await self.client.fetch_channel(g.safety_channel)
            return await self.platform._private(channel)
        except (discord.HTTPException, ValueError, TypeError):
            return False

    async def on_automod_action(self, execution: discord.AutoModAction) -> None:
        """A message our rule blocked: a case on its author (the alert action's copy is ignored)."""
        rules = getattr(self, "_automod_rules", {})
        if rules.get(execution.guild_id) != execution.rule_id or execution.action.type != discord.AutoModRuleActionType.block_message:
            return
        g = self.guilds.get(execution.guild_id)
        if g is None:
            return
        guild = self.client.get_guild(g.id)
        member = guild.get_member(execution.user_id) if guild else None
        author = user_ref(member or discord.Object(id=execution.user_id))
        target = None
        for m in _MENTION.finditer(execution.content or ""):
            if int(m.group(1)) != execution.user_id:
                who = guild.get_member(int(m.group(1))) if guild else None
                target = user_ref(who or discord.Object(id=int(m.group(1))))
                break
        try:
            out = await blocked.threat_blocked(
                self.app.service, str(g.id), author, execution.content or "", via="Discord AutoMod",
                where=f"<#{execution.channel_id}>" if execution.channel_id else "",
                matched=execution.matched_content or execution.matched_keyword or "", target=target)
            await self.app.runtime.run(out)
        except Exception as exc:
            log.error("an AutoMod block could not be turned into a case (%s)", exc.__class__.__name__)

    async def on_automod_rule_delete(self, rule: discord.AutoModRule) -> None:
        rules = getattr(self, "_automod_rules", {})
        if rules.get(rule.guild.id) != rule.id:
            return
        rules.pop(rule.guild.id, None)
        await self.app.platform_state(PLATFORM).set(_KEY + str(rule.guild.id), "")  # told now, not again at start
        g = self.guilds.get(rule.guild.id)
        if g is not None:
            await self._automod_lost(g, "deleted")

    async def _automod_lost(self, g, when: str) -> None:
        log.warning("the bot's AutoMod rule in guild %s was deleted (%s)", g.id, when)
        await self.app.runtime.run(blocked.protection_lost(self.app.service, str(g.id), "automod_rule_" + when))
