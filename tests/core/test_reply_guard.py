"""Issue 13 item 3: what the team sends to a member is checked (safety_bot/reply_guard.py), and names are
compared the way people read them (safety_bot/names.py)."""

import pytest

from safety_bot.domain import UserRef
from safety_bot.names import fold, names
from safety_bot.playbooks import load_library
from safety_bot.reply_guard import ReplyGuard
from tests.harness import ROOT


async def test_pay_him_and_send_us_the_pictures_are_refused_while_do_not_pay_passes(h):
    await h.run("report someone threatens to post my photos", "stop")
    out = await h.run("as mia", "reply 1 honestly it might be easiest to just pay him",
                      "reply 1 could you send us the pictures he has",
                      "reply 1 you should not have sent them, that was stupid")
    seen = h.replies("mia", out)
    assert "Not sent: this could read as advice to pay" in seen and "Please do not pay or send anything" in seen
    assert "the team never asks for the pictures" in seen and "You do not need to send us any pictures" in seen
    assert "could make the member feel blamed" in seen and "This is not your fault" in seen
    assert seen.count("Nothing was sent.") == 3
    assert h.private("alice", out) == ""
    case = await h.store.get_case("cafe", 1)
    assert [n for n in await h.store.notes_for(case.id) if n.kind == "reply_out"] == []
    refused = [a for a in await h.store.audit_entries() if a.action == "member_text.refused"]
    assert [a.detail["kind"] for a in refused] == ["payment", "images", "blame"]
    assert all("pay him" not in str(a.detail) for a in refused)  # the kind, never the text
    out = await h.run("reply 1 please do not pay him. This is not your fault, and you do not need to send us any pictures.")
    assert "please do not pay him" in h.private("alice", out)


async def test_tricks_in_the_text_do_not_get_past_the_guard(h):
    await h.run("report someone threatens to post my photos", "stop")
    for text in ("p\u200bay him", "раy him", "ＰＡＹ him", "Just Pay Him!", "send\u202e us the pics"):
        out = await h.run("as mia", f"reply 1 {text}")
        assert "Not sent" in h.replies("mia", out), text
        assert h.private("alice", out) == ""


@pytest.mark.parametrize("text,kind", [
    ("honestly it might be easiest to just pay him", "payment"),
    ("give him what he wants and it stops", "payment"),
    ("could you send us the pictures he has", "images"),
    ("send me the photos so we can check", "images"),
    ("it is your own fault", "blame"),
    ("zahl ihm einfach", "payment"),
    ("Bitte schick uns die Bilder", "images"),
    ("das ist deine eigene Schuld", "blame"),
    ("it's easier to just hand over the cash", "payment"),
    ("just hand it over and move on", "payment"),
    ("maybe send them the bitcoin", "payment"),
    ("give in to his demands, it is quicker", "payment"),
    ("gib ihm einfach das Bargeld", "payment"),
    ("geh besser auf seine Forderungen ein", "payment"),
    ("you could pay him off", "payment"),
    ("please do not hand over any money", None),
    ("We will hand the evidence over to the police if you want.", None),
    ("Never give in to his demands.", None),
    ("Bitte gib ihm kein Geld und geh nicht auf seine Forderungen ein.", None),
    ("please do not pay him", None),
    ("Don\u2019t pay and don't send anything", None),
    ("This is not your fault.", None),
    ("You do not need to send us any pictures", None),
    ("We removed the pictures and banned him; he pays for this", None),
    ("Bitte zahl nicht.", None),
    ("Das ist nicht deine Schuld.", None),
])
def test_word_lists_from_the_locale_files(text, kind):
    guard = ReplyGuard(load_library(ROOT / "playbooks").reply_guard_lists)
    verdict = guard.check(text)
    assert (verdict.kind if verdict else None) == kind


def test_names_are_compared_after_folding():
    rita = UserRef("discord", "1234567890123", "Rita Meyer")
    for text in ("R\u200bita told us", "Rіta told us", "ｒｉｔａ told us", "RI\u2066TA said", "meyer complained",
                 "Rita\u00ad said"):
        assert names(text, rita), text
    assert not names("insulting members is not allowed", rita)
    assert fold("Аlice") == fold("alice")  # Cyrillic А


async def test_a_warning_with_a_zero_width_or_cyrillic_reporter_name_is_not_sent(h):
    await h.run("as alice", "report dave keeps insulting me", "stop")
    case = await h.store.get_case("cafe", 1)
    case.accused, case.category = [h.console.world.user("dave")], "harassment"
    await h.store.save_case(case)
    for reason in ("al\u200bice told us what you did", "аlice told us what you did", "ALİCE told us"):
        out = await h.run("as mia", f"warn @dave {reason}")
        assert "would name the reporter" in h.replies("mia", out), reason
        assert h.private("dave", out) == ""


@pytest.mark.parametrize("text,kind", [
    ("give him the 200", "payment"),
    ("send him the $200", "payment"),
    ("Give her 500 euros and it ends", "payment"),
    ("just send the 200", "payment"),
    ("paying might be the fastest way out", "payment"),
    ("Paying is probably the easiest option", "payment"),
    ("share the nudes with us", "images"),
    ("can you share the pictures with me", "images"),
    ("No stress, just do what he asks", "payment"),
    ("no stress, just do whatever he asks", "payment"),
    ("Just do what he's asking", "payment"),
    ("gib ihm die 200", "payment"),
    ("schick ihm die 200 Euro", "payment"),
    ("Zahlen ist vielleicht der schnellste Ausweg", "payment"),
    ("teil die Nacktbilder mit uns", "images"),
    ("Kannst du die Bilder mit uns teilen?", "images"),
    ("schick uns die Nacktbilder", "images"),
    ("Kein Stress, mach einfach, was er sagt", "payment"),
    ("Mach einfach alles, was er verlangt", "payment"),
    ("Paying rarely ends it", None),
    ("Paying him rarely ends it", None),
    ("Paying is never the way out", None),
    ("Do not send him money", None),
    ("Don't do what he asks", None),
    ("He asked for payment, the fastest thing is to block him", None),
    ("He might share the pictures with others; if he does, we remove them", None),
    ("We will never share your pictures with anyone", None),
    ("Give it 2 days and tell us if he comes back", None),
    ("Zahlen beendet es selten", None),
    ("Zahlen ist nicht der Ausweg", None),
    ("Gib ihm kein Geld", None),
    ("Gib ihm keine 200", None),
    ("Du musst uns keine Nacktbilder schicken", None),
    ("Er könnte die Bilder teilen, wir entfernen sie dann", None),
    ("Mach dir keine Sorgen, was er sagt ist gelogen", None),
])
def test_amounts_paying_as_the_way_out_sharing_and_doing_what_he_asks_are_caught(text, kind):
    guard = ReplyGuard(load_library(ROOT / "playbooks").reply_guard_lists)
    verdict = guard.check(text)
    assert (verdict.kind if verdict else None) == kind
