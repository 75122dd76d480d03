"""Discord members read the locale files' texts in their client's language: the slash command and menu
texts (as Discord localizations), the report form, the buttons of a question."""

from __future__ import annotations

from tests.discord.conftest import custom_ids


async def test_commands_form_and_buttons_follow_the_members_language(fake, world, bot):
    texts = bot.app.service.texts
    commands = fake.commands[world.haven]
    assert commands["report"]["description"] == texts.t("discord.report_command", "en")
    assert commands["report"]["description_localizations"]["de"] == texts.t("discord.report_command", "de")
    assert commands["resources"]["description_localizations"]["de"] == "Stellen, die helfen können, privat an dich geschickt"
    menu = commands["Report message"]
    assert menu["name_localizations"]["de"] == "Nachricht melden"
    # the report form and the first question's buttons, in German
    it = await fake.send_slash_command(world.haven, world.general, world.alice, "report", locale="de")
    await it.wait_response()
    assert it.modal["title"] == "Vertraulich an das Sicherheitsteam melden"
    assert [f["label"] for row in it.modal["components"] for f in row["components"]] == [
        "Was ist passiert?", "Link zu einer Nachricht (freiwillig)", "Noch etwas für das Team? (freiwillig)"]
    sub = await fake.submit_modal(it, {"what": "er droht, meine Bilder zu posten"})
    await sub.wait_messages(2)
    question = sub.messages[-1]
    assert "Ist gerade jemand in unmittelbarer Gefahr?" in question["content"]
    labels = [c["label"] for row in question["components"] for c in row["components"]]
    assert labels == ["Ja", "Nein", "Überspringen"]
    assert custom_ids(question)[-1] == "safety:answer:danger:skip"
