"""Evidence first for ban purges: a zero-tolerance ban with a case stores the accused's recent messages on
the case before the purge deletes them, and a message captured before is not stored twice."""

from safety_bot.store import StoreUnavailable

THREAT = "bob says he will post my pictures unless I pay 200"
UNREPORTED = "last chance: 500 by tonight or everyone sees them"


async def bob_threatens_and_alice_reports(h):
    await h.run("say general hi all", "as bob", "say general pay me 200 or I post your pictures", "as alice")
    await h.run("report-message m2 " + THREAT, "stop")
    await h.run("as bob", "say art " + UNREPORTED)  # m3: nobody reported it


def texts_by_message(evidence):
    out: dict[str, list[str]] = {}
    for e in evidence:
        out.setdefault(e.ref.message_id, []).append(e.text)
    return out


async def test_ban_purge_stores_the_unreported_message_before_deleting_it(h):
    await bob_threatens_and_alice_reports(h)
    out = await h.run("as mia", "ban @bob --case 1 --confirm")
    assert "(2 recent message(s) removed)" in "\n".join(out)
    assert h.console.world.messages["m2"].deleted and h.console.world.messages["m3"].deleted
    case = await h.store.get_case("cafe", 1)
    evidence = await h.store.evidence_for(case.id)
    by_message = texts_by_message(evidence)
    assert by_message["m3"] == [UNREPORTED]  # captured, although nobody reported it
    m3 = next(e for e in evidence if e.ref.message_id == "m3")
    assert m3.author.id == "bob" and m3.captured_by == "bot:console" and m3.ref.link == "console://cafe/art/m3"
    # the reported message was captured at the report; unchanged since, it is not stored again
    assert by_message["m2"] == ["pay me 200 or I post your pictures"]
    # stored before the purge deleted it
    audit = [a.action for a in await h.store.audit_entries(case.id)]
    assert "evidence.captured_before_purge" in audit
    assert audit.index("evidence.captured_before_purge") < audit.index("action.ban")


async def test_a_message_removed_before_the_ban_is_not_stored_twice(h):
    await bob_threatens_and_alice_reports(h)
    await h.run("as mia", "remove m2 --case 1")
    assert h.console.world.messages["m2"].deleted
    await h.run("ban @bob --case 1 --confirm")
    case = await h.store.get_case("cafe", 1)
    evidence = await h.store.evidence_for(case.id)
    by_message = texts_by_message(evidence)
    # one row for the reported message (the re-captures before the removal and the ban found nothing new) ...
    assert by_message["m2"] == ["pay me 200 or I post your pictures"]
    # ... and the unreported one, captured before the purge
    assert by_message["m3"] == [UNREPORTED]
    assert len(evidence) == 2
    notes = " ".join(n.text for n in await h.store.notes_for(case.id))
    assert "console://cafe/general/m2 was already gone" in notes


async def test_a_changed_message_is_captured_again(h):
    await bob_threatens_and_alice_reports(h)
    h.console.world.messages["m2"].text = "edited: nothing to see here"  # the accused edited it
    await h.run("as mia", "ban @bob --case 1 --confirm")
    case = await h.store.get_case("cafe", 1)
    by_message = texts_by_message(await h.store.evidence_for(case.id))
    assert by_message["m2"] == ["pay me 200 or I post your pictures", "edited: nothing to see here"]


async def test_when_the_messages_cannot_be_stored_the_ban_stands_and_nothing_is_purged(h, monkeypatch):
    await bob_threatens_and_alice_reports(h)

    async def store_down(*args, **kwargs):
        raise StoreUnavailable("database unavailable")

    monkeypatch.setattr(h.service, "record_captures", store_down)
    out = await h.run("as mia", "ban @bob --case 1 --confirm")
    assert "bob" in h.console.world.bans["cafe"]  # the ban itself is never lost
    assert not h.console.world.messages["m3"].deleted and not h.console.world.messages["m2"].deleted
    assert "could not be stored as evidence first" in "\n".join(out)
    assert await h.store.active_ban("friends", "console:bob") is not None


async def test_a_ban_without_a_case_bans_and_deletes_nothing_it_cannot_keep(h):
    """Evidence first: without a case there is nowhere to store the recent messages, so none are purged."""
    await h.run("as bob", "say general pay me or else", "as mia")
    out = await h.run("ban @bob --confirm")
    assert "bob" in h.console.world.bans["cafe"]
    assert not h.console.world.messages["m1"].deleted
    text = "\n".join(out)
    assert "recent message(s) removed" not in text and "recent messages stay up" in text and "--case N" in text
    from safety_bot.actions import BanUser
    from safety_bot.domain import UserRef

    # The rule is the action's own: a ban without a case carries no purge window, however it was made.
    assert BanUser(community="cafe", user=UserRef("console", "bob"), case_id=None, reason="x",
                   delete_message_seconds=604800).delete_message_seconds == 0
    assert BanUser(community="cafe", user=UserRef("console", "bob"), case_id=1, reason="x").delete_message_seconds == 604800
