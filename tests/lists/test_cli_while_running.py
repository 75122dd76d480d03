"""The `safety-bot` command line writes to the same SQLite database as the running bot (bank import, bans
follow, ...): each audits what it did. The bot's cached head of the audit chain must notice the other
process's entries, or its next entry would collide with theirs."""

from __future__ import annotations

from safety_bot.domain import AuditEntry
from safety_bot.store.base import verify_chain
from safety_bot.store.sqlite import SqliteStore


async def test_the_bot_continues_the_chain_after_the_command_line_wrote_to_it(tmp_path):
    path = tmp_path / "db.sqlite3"
    bot = await SqliteStore.open(path)
    await bot.append_audit(AuditEntry(at=1.0, actor="bot", action="a", community="c", case_id=None, detail={}))
    cli = await SqliteStore.open(path)
    await cli.append_audit(AuditEntry(at=2.0, actor="operator:cli", action="list.synced", community="", case_id=None,
                                      detail={"added": 1}))
    await cli.close()
    await bot.append_audit(AuditEntry(at=3.0, actor="bot", action="b", community="c", case_id=None, detail={}))
    entries = await bot.audit_entries()
    assert [e.seq for e in entries] == [1, 2, 3] and [e.action for e in entries] == ["a", "list.synced", "b"]
    assert verify_chain(entries, bot.audit_chain.keys) is None
    await bot.close()
