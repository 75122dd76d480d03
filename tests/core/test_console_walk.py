"""Found walking the README's console flows as a member and as the team (QA)."""

import pytest

from safety_bot.domain import Status
from safety_bot.playbooks import load_library
from safety_bot.reply_guard import ReplyGuard
from tests.harness import ROOT


async def test_withdraw_works_while_a_follow_up_question_is_waiting(h):
    await h.run("as bob", "say general pay me or I post your pictures", "as alice")
    out = await h.run("report-message m1 he wants money for my pictures")
    assert "Is anyone in immediate danger" in h.private("alice", out)  # a question is waiting
    out = await h.run("withdraw")
    seen = h.private("alice", out)
    assert "did not understand" not in seen
    case = await h.store.get_case("cafe", 1)
    assert case.status == Status.CLOSED and case.flags["withdrawn"]
    assert await h.store.get_intake("console", "alice") is None  # no question left waiting on a closed case
    assert "was withdrawn by the reporter" in h.team(lines=out)
    out = await h.run("dm hello again")
    assert "did not understand" not in h.private("alice", out)


async def test_resources_for_the_accused_is_refused_in_its_own_words(h):
    await h.run("as bob", "say general pay me or I post your pictures", "as alice",
                "report-message m1 he wants money for my pictures", "stop")
    out = await h.run("as mia", "resources @bob")
    seen = h.replies("mia", out)
    assert "Warnings are not used here" not in seen
    assert "case 1 is a sextortion or child-safety case" in seen and "resources" in seen
    assert "Nothing was changed" in seen and h.private("bob", out) == ""
    out = await h.run("warn @bob stop it")  # the warning's refusal is unchanged
    assert "Warnings are not used here: case 1" in h.replies("mia", out)


async def test_the_two_person_code_counts_one_action_in_the_singular(tmp_path):
    from tests.harness import make_harness

    h = await make_harness(tmp_path, {"limits": {"mod_actions_per_hour": 1}})
    try:
        out = await h.run("as mia", "ban @carol --confirm spam", "ban @dave --confirm spam")
        seen = h.replies("mia", out)
        assert "Not done yet: 1 ban, removal, warning or reveal in the last hour (the limit is 1)" in seen
        assert "1 bans" not in seen + h.escalation(out)
    finally:
        await h.app.__aexit__(None, None, None)


@pytest.mark.parametrize("text,kind", [
    ("am einfachsten zahlst du ihm einfach", "payment"),
    ("Du bezahlst ihn am besten und dann ist Ruhe", "payment"),
    ("du solltest ihm das Geld überweisen", "payment"),
    ("Überweist du es ihm einfach?", "payment"),
    ("Du zahlst ihm nichts, okay?", None),
    ("Du musst nichts überweisen.", None),
])
def test_german_advice_to_pay_is_caught_in_the_du_form_too(text, kind):
    guard = ReplyGuard(load_library(ROOT / "playbooks").reply_guard_lists)
    verdict = guard.check(text)
    assert (verdict.kind if verdict else None) == kind


async def test_an_accused_moderator_removing_the_reported_message_is_reported_to_the_escalation_contact(h):
    await h.run("as max", "say general hey", "as alice", "report-message m1 max threatens to post my nudes", "stop")
    out = await h.run("as max", "remove m1")
    assert "That is not something you can do" in h.replies("max", out)
    assert "Refused: max (max) tried 'remove' on case 1 (accused in it)" in h.escalation(out)
    assert "There is no case" not in h.replies("max", out) and "case 1" not in h.replies("max", out)
    out = await h.run("say general just me", "remove m2")  # one's own message outside any case: refused quietly
    assert "That is not something you can do" in h.replies("max", out) and h.escalation(out) == ""


async def test_a_case_opened_to_protect_pictures_keeps_the_member_anonymous_to_the_team(tmp_path):
    from tests.harness import make_harness

    h = await make_harness(tmp_path, {"http": {"listen": "127.0.0.1:0", "public_url": "https://safety.example.org/bot"}})
    try:
        out = await h.run("as carol", "protect")
        assert "/protect?lang=en#1." in h.private("carol", out)
        team = h.team(lines=out)
        assert "New case 1: a member asked to protect their pictures" in team
        assert "carol" not in team and "Reporter: reporter-" in team
        out = await h.run("as mia", "case 1")
        seen = h.replies("mia", out)
        assert "Reporter: reporter-" in seen and "(anonymous; 'reveal 1 <reason>' is audited)" in seen
        assert "carol" not in seen
        out = await h.run("reply 1 We are here if you need us. Please do not pay anyone.")
        assert "We are here if you need us" in h.private("carol", out)  # the team can still write to them
    finally:
        await h.app.__aexit__(None, None, None)


@pytest.mark.parametrize("text,kind", [
    ("Kannst du uns die Bilder schicken?", "images"),
    ("Schickst du uns die Fotos?", "images"),
    ("Bitte schick mir die Bilder", "images"),
    ("Schick uns keine Bilder.", None),
    ("Bitte schick ihm keine Fotos mehr", None),
    ("Du musst uns keine Bilder schicken.", None),
    ("Du musst uns die Bilder nicht schicken.", None),
    ("you shouldn't have sent them", "blame"),
    ("could you send us the pictures he has", "images"),
])
def test_asking_for_pictures_in_german_word_order_is_caught_and_a_negation_inside_the_phrase_passes(text, kind):
    guard = ReplyGuard(load_library(ROOT / "playbooks").reply_guard_lists)
    verdict = guard.check(text)
    assert (verdict.kind if verdict else None) == kind


@pytest.mark.parametrize("text,kind", [
    ("Don't worry, just pay him", "payment"),
    ("Keine Sorge, zahl ihm einfach", "payment"),
    ("Could you DM me the photo so I can see how bad it is", "images"),
    ("No stress, just do what he asks", "payment"),
    ("Kein Stress, mach einfach, was er sagt", "payment"),
    ("Please do not pay him, and do not send anything", None),
    ("Bitte zahl nicht, und schick nichts", None),
    ("please do not pay him", None),
])
def test_a_negation_before_a_comma_does_not_cover_advice_after_it(text, kind):
    guard = ReplyGuard(load_library(ROOT / "playbooks").reply_guard_lists)
    verdict = guard.check(text)
    assert (verdict.kind if verdict else None) == kind


async def test_the_escalation_notice_of_a_ban_of_many_accounts_reads_plainly(h):
    out = await h.run("as mia", "ban @bob @carol @dave @erin @ghost1 @ghost2 --confirm raid")
    notice = h.escalation(out)
    assert "Two-person rule: mia (mia) asked for a ban of 6 accounts at once. It runs only when" in notice
    assert "asked for ban after" not in notice


async def test_the_console_help_names_e_only_where_protect_my_pictures_is_offered(h, tmp_path):
    from tests.harness import make_harness

    out = "\n".join(await h.run("help"))
    assert "a, b, c or d for more help" in out and "d or e" not in out
    (tmp_path / "p").mkdir()
    h2 = await make_harness(tmp_path / "p", {"http": {"listen": "127.0.0.1:0", "public_url": "https://safety.example.org/bot"}})
    try:
        out = "\n".join(await h2.run("help"))
        assert "a, b, c, d or e for more help" in out
        assert "E) Protect my pictures" in h2.private("carol", await h2.run("as carol", "report he threatens to post my photos"))
    finally:
        await h2.app.__aexit__(None, None, None)
