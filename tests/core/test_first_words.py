"""Short first words and length budgets for every member text (issue 14, item 7)."""

import pytest

from safety_bot.first_words import FIRST_DM_BUDGET, first_short
from safety_bot.playbooks import load_library
from tests.harness import ROOT

LIB = load_library(ROOT / "playbooks")
LANGS = ("en", "de")

# Longest a member text may be, in characters. Everything else a member reads: DEFAULT.
DEFAULT = 400
BUDGETS = {
    "menu_block": 700, "bystander_first": 650, "report_too_long": 250,
    "console.help": 1600,  # the console's command reference for the operator, not a message on a phone
}
TEAM_ONLY = {"not_moderator", "store_unavailable_mod", "unknown_case", "note_too_long", "message_not_found_ref",
             "message_other_community", "ban_reminder", "warn_refused", "warn_names_reporter", "export_needs_consent"}
PLAYBOOK_BUDGETS = {"first_reply": 1000, "first_short": FIRST_DM_BUDGET}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("category", sorted(LIB.playbooks))
def test_the_first_dm_fits_one_phone_screen(category, lang):
    dm = LIB.texts.t("dm_header", lang) + "\n" + first_short(LIB, category, lang)
    assert len(dm) <= FIRST_DM_BUDGET, (category, lang, len(dm))
    assert "first_short" in LIB.playbooks[category].texts
    assert set(LIB.playbooks[category].texts["first_short"]) >= set(LANGS)


@pytest.mark.parametrize("lang", LANGS)
def test_no_member_text_exceeds_its_budget(lang):
    over = []
    for key, text in LIB.texts.by_lang[lang].items():
        if key in TEAM_ONLY:
            continue
        if len(text) > BUDGETS.get(key, DEFAULT):
            over.append((key, len(text)))
    for pb in LIB.playbooks.values():
        for key, budget in PLAYBOOK_BUDGETS.items():
            if key in pb.texts and len(pb.texts[key].get(lang, "")) > budget:
                over.append((f"{pb.id}.{key}", len(pb.texts[key][lang])))
    for qid, q in LIB.questions.items():
        for text in (q.text, q.bystander_text or {}):
            if len(text.get(lang, "")) > 300:
                over.append((f"question {qid}", len(text[lang])))
    for r in LIB.resources:
        if len(r.description.get(lang, "")) > 200:
            over.append((f"resource {r.id}", len(r.description[lang])))
    for a in LIB.apps:
        if len(a.how.get(lang, "")) > 300:
            over.append((f"app {a.id}", len(a.how[lang])))
    assert over == []


@pytest.mark.parametrize("lang", LANGS)
def test_every_member_text_exists_in_english_and_german(lang):
    missing = [k for k in LIB.texts.by_lang["en"] if k not in LIB.texts.by_lang[lang] and k not in TEAM_ONLY]
    assert missing == []


async def test_before_the_first_question_a_member_reads_one_short_dm(h):
    out = await h.run("report he wants 200 or he posts my pics")
    before_question = []
    for line in out:
        if "immediate danger" in line:
            break
        if line.startswith("[private to alice]"):
            before_question.append(line.removeprefix("[private to alice] "))
    assert len("\n".join(before_question)) < 800  # was about 2,300 characters in three DMs
    alice = h.private("alice", out)
    assert alice.count("A message from the community safety team.") == 1


async def test_the_choices_send_the_rest_and_the_question_stays_open(h):
    await h.run("report he wants 200 or he posts my pics")
    out = await h.run("a")
    alice = h.private("alice", out)
    assert "two-factor" in alice and "We will never ask you for pictures" in alice  # the full first text
    assert "immediate danger" in alice  # the waiting question is shown again
    out = await h.run("B")
    assert "places that can help" in h.private("alice", out)
    out = await h.run("c")
    alice = h.private("alice", out)
    assert "Block" in alice and "Ignore" in alice and "Report Message" in alice
    out = await h.run("d")
    alice = h.private("alice", out)
    for app in ("Snapchat", "Instagram", "TikTok", "Telegram", "WhatsApp", "Discord"):
        assert app in alice
    out = await h.run("no")  # the question was never answered by a letter
    assert (await h.store.get_case("cafe", 1)).answers["danger"] == "no"


async def test_the_choices_in_german(h):
    await h.run("locale de", "report er will 200 Euro oder er zeigt meine Bilder")
    out = await h.run("b")
    assert "Stellen, die helfen" in h.private("alice", out)
    out = await h.run("c")
    assert "Ignorieren" in h.private("alice", out)
