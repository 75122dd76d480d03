"""`safety-bot doctor`: every check the bot's set-up needs, as a checklist with a fix for each failure.
`run` performs the same checks at start and posts the failures (once) to the safety destinations."""

from __future__ import annotations

import asyncio
import hashlib
import logging

from .checks import Check
from .doctor_storage import storage_checks

log = logging.getLogger(__name__)
POSTED_KEY = "ops.doctor_posted"


async def all_checks(config) -> list[Check]:
    checks = list(storage_checks(config).items)
    if config.discord:
        from .doctor_discord import discord_checks

        threats = None
        if config.discord.automod:
            from ..locales import load_locales
            from ..threat_phrases import ThreatPhrases

            texts, _ = load_locales(config.path(config.playbooks), [])
            threats = ThreatPhrases.from_texts(texts) if texts is not None else None
        checks += (await discord_checks(config.discord, threats=threats)).items
    if config.matrix:
        from .doctor_matrix import matrix_checks

        checks += (await matrix_checks(config.matrix, config.path("."))).items
        if config.matrix.synapse_module_secret and config.http.listen is not None:
            from .doctor_module import module_checks

            checks += (await module_checks(config)).items
    return checks


def failure_text(failures: list[Check], texts, locale: str | None = "en") -> str:
    """The post to the safety team: its words are team texts (playbooks/locales, `team_texts:`)."""
    lines = [texts.t("startup_failures_intro", locale)]
    lines += [texts.t("startup_failure_item", locale, name=c.name, fix=c.fix) for c in failures]
    lines.append(texts.t("startup_failures_outro", locale))
    return "\n".join(lines)


async def post_failures(app, checks: list[Check]) -> int:
    """Post the failures to each community's safety destination (storage problems everywhere, platform
    problems on their platform). The same failures are posted once, not at every restart."""
    from ..actions import Outcome, PostToTeam

    failures = [c for c in checks if c.failed]
    digest = hashlib.sha256("\n".join(f"{c.section}|{c.name}" for c in failures).encode()).hexdigest()
    if not failures:
        if await app.store.get_value(POSTED_KEY):
            async with app.store.transaction():
                await app.store.set_value(POSTED_KEY, "")
        return 0
    if await app.store.get_value(POSTED_KEY) == digest:
        return 0
    actions = []
    for community in app.service.communities.values():
        mine = [c for c in failures if c.section == "storage"
                or (c.section == community.platform and c.scope in (None, community.id))]
        if mine:
            text = failure_text(mine, app.service.texts, app.config.locale)
            actions.append(PostToTeam(community=community.id, text=text))
    out = Outcome(actions=actions)
    await app.runtime.run(out)
    async with app.store.transaction():
        await app.store.set_value(POSTED_KEY, digest)
    return len(actions)


async def preflight(app, wait: float = 120.0) -> None:
    """At start (in the background): wait for the platforms to connect (commands are registered by
    then), check, log each failure, and tell the safety teams once."""
    try:
        ready = [event for event, _ in app.connections.values()]
        if ready:
            try:
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), wait)
            except TimeoutError:
                pass  # check anyway: the checks say what is wrong
        checks = await all_checks(app.config)
        for c in checks:
            if c.failed:
                log.warning("preflight: %s: %s (fix: %s)", c.section, c.name, c.fix, extra={"event": "preflight.failed"})
        posted = await post_failures(app, checks)
        log.info("preflight done: %d check(s) failed, %d team(s) told", sum(c.failed for c in checks), posted,
                 extra={"event": "preflight.done"})
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("preflight checks could not run")
