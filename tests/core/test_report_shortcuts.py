"""Work the report path does once instead of per report (issue 21, item 1) must never hand one report's,
locale's or case's result to another. Each test here fails if a shortcut is reused where it does not fit."""

import dataclasses

from safety_bot.actions import PostToTeam, action_from_json
from safety_bot.card_text import card_text


def a_card(number: int = 3, statement: str = "he threatens me") -> dict:
    return {"title": f"New case {number}", "case_number": number, "urgent": False, "category": "sextortion",
            "fields": [("Category", "Sextortion")], "statements": [f"\"{statement}\""], "answers": [],
            "evidence_links": [], "flags": [], "guidance": "Believe and reassure.", "closed": False,
            "labels": {"statement": "Statement", "answers": "Answers", "evidence": "Evidence", "flags": "Flags",
                       "guidance": "Guidance", "footer": f"Case {number}"},
            "commands": f"Commands: {{prefix}}case {number}"}


def test_a_post_of_its_card_is_stored_as_the_card_and_read_back_with_its_text():
    post = PostToTeam.of_card(a_card(), "/", community="cafe", case_number=3)
    assert post.text == card_text(a_card(), prefix="/")
    data = post.to_json()
    assert "text" not in data and data["card_prefix"] == "/"
    again = action_from_json(data)
    assert (again.text, again.card, again.case_number) == (post.text, post.card, 3)


def test_a_copy_of_a_card_post_with_other_values_keeps_its_own_text():
    """The post remembers that its text is its card's; a copy with another text, card or prefix must not
    be stored as if it still were."""
    post = PostToTeam.of_card(a_card(), "/", community="cafe", case_number=3)
    other_text = dataclasses.replace(post, text="a different notice")
    assert other_text.to_json()["text"] == "a different notice"
    assert action_from_json(other_text.to_json()).text == "a different notice"
    other_card = dataclasses.replace(post, card=a_card(4, "someone else"))
    assert action_from_json(other_card.to_json()).text == post.text  # the text decided, not the new card's
    other_prefix = dataclasses.replace(post, card_prefix="!")
    assert action_from_json(other_prefix.to_json()).text == post.text
    same = dataclasses.replace(post)  # a copy with the same values: its text is still its card's
    assert "text" not in same.to_json() and action_from_json(same.to_json()).text == post.text


# ---------------------------------------------------------------------------- a case card's words
def library_with_team_texts(**by_lang: dict):
    """The real library with some team texts changed or added (a copy: the loaded library stays as it is)."""
    from safety_bot.locales import Texts
    from safety_bot.playbooks import load_library
    from tests.harness import ROOT

    lib = load_library(ROOT / "playbooks")
    team = {lang: dict(texts) for lang, texts in lib.texts.team.items()}
    for lang, texts in by_lang.items():
        team.setdefault(lang, {}).update(texts)
    texts = Texts(lib.texts.by_lang, team=team, data=lib.texts.data, formats=lib.texts.formats)
    return dataclasses.replace(lib, texts=texts)


def new_case(number: int):
    from safety_bot.domain import Case, Report, Status, Urgency, UserRef

    who = UserRef("console", "m1", "Member One")
    case = Case(community="cafe", network="n", number=number, category="sextortion", urgency=Urgency.NORMAL,
                status=Status.OPEN, created_at=1.0, updated_at=1.0, reporter=who, alias="reporter-1a2b")
    return case, [Report(case_id=1, reporter=who, text="he threatens me", source="member", created_at=1.0)]


def test_card_words_are_each_languages_own_whatever_the_order():
    """The words a card keeps from one card to the next are per language: a card in one language never
    shows another's, whichever language was asked first."""
    from safety_bot.views import card

    lib = library_with_team_texts(xx={"card_commands": "Befehle: {prefix}fall {number}", "card_footer": "Fall {number}",
                                      "urgency_normal": "normal-xx", "card_status": "Stand", "status_open": "offen"})
    case, reports = new_case(5)
    for order in (("en", "xx", "en"), ("xx", "en", "xx")):
        lib.__dict__.pop("_card_words", None)
        for locale in order:
            c = card(lib, case, reports, [], [], locale=locale)
            if locale == "xx":
                assert c["commands"] == "Befehle: {prefix}fall 5" and c["labels"]["footer"] == "Fall 5"
                assert ("Stand", "offen") in c["fields"] and ("Urgency", "normal-xx") in c["fields"]
            else:
                assert c["commands"].startswith("Commands: {prefix}case 5 | {prefix}assign 5")
                assert c["labels"]["footer"].startswith("Case 5 - ")
                assert ("Status", "open") in c["fields"] and ("Urgency", "normal") in c["fields"]
    # the next case's card has its own number, and a card's labels are its own to change
    c6 = card(lib, new_case(6)[0], reports, [], [], locale="xx")
    assert c6["commands"] == "Befehle: {prefix}fall 6" and c6["labels"]["footer"] == "Fall 6"
    c6["labels"]["flags"] = "changed"
    assert card(lib, case, reports, [], [], locale="xx")["labels"]["flags"] != "changed"


def test_a_card_number_with_a_format_spec_is_formatted_as_written():
    from safety_bot.views import card

    lib = library_with_team_texts(en={"card_footer": "Case {number:04d} ({number})",
                                      "card_commands": "{prefix}case {number:>3}"})
    case, reports = new_case(12)
    c = card(lib, case, reports, [], [], locale="en")
    assert c["labels"]["footer"] == "Case 0012 (12)" and c["commands"] == "{prefix}case  12"
    assert card_text(c, prefix="!").endswith("!case  12")


def test_first_words_are_each_categorys_languages_and_offers_own():
    from safety_bot.first_words import first_short
    from safety_bot.playbooks import load_library
    from tests.harness import ROOT

    lib = dataclasses.replace(load_library(ROOT / "playbooks"))  # a copy: its own memo
    seen = {}
    for _ in range(2):  # asked again, each answer is the same as the first time
        for key in [(c, loc, p) for c in ("sextortion", "child_safety") for loc in ("en", "de") for p in (False, True)]:
            got = first_short(lib, *key[:2], protect=key[2])
            assert seen.setdefault(key, got) == got
    assert seen["sextortion", "en", False] != seen["sextortion", "de", False]
    assert seen["sextortion", "en", False] != seen["child_safety", "en", False]
    assert seen["sextortion", "en", True] != seen["sextortion", "en", False]
    assert seen["child_safety", "en", True] == seen["child_safety", "en", False]  # never offered there
    fresh = dataclasses.replace(load_library(ROOT / "playbooks"))
    fresh.__dict__.pop("_first_short", None)
    assert all(first_short(fresh, *k[:2], protect=k[2]) == v for k, v in seen.items())


# ---------------------------------------------------------------------------- the audit chain's detail MACs
def test_a_remembered_detail_mac_is_only_reused_for_the_same_detail():
    """Values equal in Python but written differently in JSON (True, 1, 1.0, "1") never share a MAC, and
    every MAC is the one a fresh key computes."""
    from safety_bot.audit_chain import AuditKeys
    from safety_bot.domain import AuditEntry

    keys = AuditKeys(bytes(range(32)))
    details = [{"source": "member", "with_message": False}, {"source": "member", "with_message": True},
               {"source": "member", "with_message": 0}, {"source": "member", "with_message": 1},
               {"source": "member", "with_message": 1.0}, {"source": "member", "with_message": "1"},
               {"source": "member", "with_message": None}, {"with_message": False, "source": "member"},
               {"source": "message", "with_message": False}, {}, {"n": 1, "list": [1, 2]}, {"n": -0.0}, {"n": 0.0}]
    for _ in range(2):  # the second time from memory
        macs = [keys.detail_mac(AuditEntry(at=1.0, actor="a", action="x", detail=d)) for d in details]
        fresh = [AuditKeys(bytes(range(32))).detail_mac(AuditEntry(at=1.0, actor="a", action="x", detail=d))
                 for d in details]
        assert macs == fresh
    assert len(set(macs)) == len(details) - 1  # only the same detail in another key order shares its MAC
    assert macs[0] == macs[7]
    other = AuditKeys(bytes(32))  # another key: its own MACs
    assert other.detail_mac(AuditEntry(at=1.0, actor="a", action="x", detail=details[0])) != macs[0]


# ---------------------------------------------------------------------------- actions as the outbox stores them
def test_every_action_is_stored_as_its_fields_in_order():
    """to_json's shortcuts (plain values as they are, a person through UserRef.to_dict) give exactly the JSON
    of all the action's fields in order (asdict), the card post's text left out only when it is its card's."""
    import json

    from safety_bot.actions import (BanUser, CaptureEvidence, Choice, LiftSuspension, Prompt, RemoveMessage,
                                    SendPrivate, TimeoutUser, UnbanUser, WarnUser)
    from safety_bot.domain import MessageRef, UserRef

    who = UserRef("console", "m1", "Member One")
    ref = MessageRef("console", "cafe", "general", "42", "console://cafe/general/42")
    prompt = Prompt("danger", "Is anyone in danger?", (Choice("yes", "Yes"), Choice("no", "No")), False)
    actions = [SendPrivate(who, "hello", "cafe", "question", prompt), SendPrivate(who, "hi"),
               PostToTeam("cafe", "a notice", 3, True, "escalation", None, (("ban", 1),)),
               CaptureEvidence(7, ref), RemoveMessage(7, ref, True, "case 3"), BanUser("cafe", who, None, "case 3"),
               UnbanUser("cafe", who, "lifted"), TimeoutUser("cafe", who, 60, "calm down"),
               WarnUser("cafe", who, "stop"), LiftSuspension("cafe", who)]
    for a in actions:
        assert json.dumps(a.to_json()) == json.dumps({"kind": a.kind, **dataclasses.asdict(a)})
        again = action_from_json(json.loads(json.dumps(a.to_json())))
        assert json.dumps(again.to_json()) == json.dumps(a.to_json())
    post = PostToTeam.of_card(a_card(), "/", community="cafe", case_number=3)
    expected = {"kind": post.kind, **dataclasses.asdict(post)}
    del expected["text"]
    assert json.dumps(post.to_json()) == json.dumps(expected)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(), st.text(), st.one_of(st.floats(), st.integers(-10**12, 10**12)),
       st.one_of(st.none(), st.integers(), st.booleans()), st.text())
def test_an_audit_link_covers_exactly_the_canonical_json_of_its_entry(actor, action, community, at, case_id, mac):
    """entry_body writes the usual entry out by hand: byte for byte what canonical() gives for its dict
    (any text, any float or int time, no case or any case number), so every link stays verifiable."""
    from safety_bot.audit_chain import canonical, entry_body
    from safety_bot.domain import AuditEntry

    entry = AuditEntry(at=at, actor=actor, action=action, community=community, case_id=case_id)
    expected = {"at": round(at, 6), "actor": actor, "action": action,
                "community": community, "case_id": case_id, "detail_mac": mac}
    assert entry_body(entry, mac) == canonical(expected)
