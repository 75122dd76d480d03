"""Issue 13 items 1 and 5: `alt N <member or id> [--remove]` links an alternate account of a case's accused
(hash-bank bans then cover it, and the account cannot see the case). Guarded like a ban, audited, and every
bad input answered with nothing changed."""

from tests.core.test_guard import GENERIC


async def _linked(h, number=1):
    return (await h.store.get_case("cafe", number)).flags.get("linked_accounts", [])


async def test_linking_an_alternate_account_of_the_accused(h):
    await h.run("as bob", "say general pay me or else", "as alice", "report-message m1 bob wants money", "stop")
    out = await h.run("as mia", "alt 1 @dave")
    assert "dave is linked to case 1 as an account of the accused" in h.replies("mia", out)
    assert await _linked(h) == ["console:dave"]
    # nobody but the team hears of it
    assert h.private("dave", out) == "" and h.private("alice", out) == "" and h.private("bob", out) == ""
    assert h.channel("general", lines=out) == ""
    [entry] = [a for a in await h.store.audit_entries() if a.action == "case.alt_linked"]
    assert entry.actor == "console:mia" and entry.detail == {"account": "console:dave"}
    out = await h.run("case 1")
    assert "note by mia: Linked the account console:dave" in h.replies("mia", out)
    # unlink
    out = await h.run("alt 1 @dave --remove")
    assert "dave is no longer linked to case 1" in h.replies("mia", out)
    assert await _linked(h) == []
    assert [a.detail for a in await h.store.audit_entries() if a.action == "case.alt_unlinked"] == [
        {"account": "console:dave"}]


async def test_every_bad_alt_command_is_answered_and_changes_nothing(h):
    await h.run("as bob", "say general pay me or else", "as alice", "report-message m1 bob wants money", "stop")
    await h.run("as mia", "alt 1 @dave")
    before = len(await h.store.audit_entries())
    out = await h.run("alt", "alt 1", "alt x @erin", "alt 1 @erin @carol", "alt 9 @erin", "alt 1 @bob", "alt 1 @dave",
                      "alt 1 @alice", "alt 1 @mia", "alt 1 @max", "alt 1 @erin --remove")
    seen = h.replies("mia", out).split("\n[bot to mia] ")
    assert seen[0].endswith("Usage: alt N <member or id> [--remove]") and all(
        "Usage: alt N <member or id> [--remove]" in s for s in seen[1:4])
    assert "There is no case 9 here." in seen[4]
    assert "bob is the accused in case 1 already. Nothing changed." in seen[5]
    assert "dave is already linked to case 1. Nothing changed." in seen[6]
    assert "cannot be linked to them. Nothing changed." in seen[7]  # the reporter
    assert GENERIC in seen[8]  # yourself
    assert "can only be taken from the escalation destination" in seen[9]  # a team member
    assert "erin is not linked to case 1. Nothing changed." in seen[10]
    assert await _linked(h) == ["console:dave"]
    assert not [a for a in (await h.store.audit_entries())[before:] if a.action.startswith("case.alt")]
    # a closed case takes no new links
    out = await h.run("close 1 actioned", "alt 1 @erin")
    assert "Case 1 is closed. Nothing changed." in h.replies("mia", out)
    assert await _linked(h) == ["console:dave"]


async def test_a_linked_team_account_cannot_see_the_case_and_only_escalation_links_it(h):
    await h.run("as bob", "say general pay me or else", "as alice", "report-message m1 bob wants money", "stop")
    out = await h.run("as olivia", "alt 1 @max")
    assert "max is linked to case 1" in h.replies("olivia", out)
    # max is now treated as the accused's account: the case does not exist for him
    out = await h.run("as max", "case 1", "cases", "ban @alice --confirm")
    seen = h.replies("max", out)
    assert "There is no case 1 here." in seen and "#1" not in seen and "bob wants money" not in seen
    assert GENERIC in seen and await h.store.active_ban("friends", "console:alice") is None
    assert "Refused: max (max) tried 'ban' on case 1 (linked in it)" in h.escalation(out)
    # the other account cannot unlink itself either
    out = await h.run("alt 1 @max --remove")
    assert await _linked(h) == ["console:max"]
