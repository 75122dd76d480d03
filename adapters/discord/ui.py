"""Buttons and modals. Buttons are persistent dynamic items: their state lives in a fixed custom_id
(`safety:ban:<guild>:<case>`), they are registered at start and keep working after a restart."""

from __future__ import annotations

import discord

from safety_bot.case_buttons import BUTTONS

# Labels are the locale files' team texts `discord_button_<op>`.
CASE_OPS = {
    "remove": discord.ButtonStyle.secondary,  # capture evidence, then delete; banks nothing
    "removeblock": discord.ButtonStyle.secondary,  # also banks the images: an explicit choice
    "ban": discord.ButtonStyle.danger,
    "assign": discord.ButtonStyle.primary,
    "close": discord.ButtonStyle.secondary,
    "banconfirm": discord.ButtonStyle.danger,
}


class CaseButton(discord.ui.DynamicItem[discord.ui.Button],
                 template=r"safety:(?P<op>remove|removeblock|ban|assign|close|banconfirm):(?P<guild>\d+):(?P<case>\d+)"):
    def __init__(self, op: str, guild_id: int | str, case: int | str, label: str = ""):
        super().__init__(discord.ui.Button(label=(label or op)[:80], style=CASE_OPS[op],
                                           custom_id=f"safety:{op}:{guild_id}:{case}"))
        self.op, self.guild_id, self.case = op, int(guild_id), int(case)

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(match["op"], match["guild"], match["case"], item.label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.client.adapter.on_case_button(interaction, self.op, self.guild_id, self.case)


class AnswerButton(discord.ui.DynamicItem[discord.ui.Button],
                   template=r"safety:answer:(?P<q>[A-Za-z0-9_]{1,40}):(?P<v>\d{1,2}|skip|text)"):
    """One choice of a follow-up question (its number, which the core accepts as the answer), Skip, or
    Answer (opens a small modal for free text)."""

    def __init__(self, question: str, value: str, label: str = ""):
        style = discord.ButtonStyle.secondary if value in ("skip", "text") else discord.ButtonStyle.primary
        super().__init__(discord.ui.Button(label=(label or value)[:80], style=style,
                                           custom_id=f"safety:answer:{question}:{value}"))
        self.question, self.value = question, value

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(match["q"], match["v"], item.label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.client.adapter.on_answer_button(interaction, self.question, self.value, self.item.label or "")


class ConfirmButton(discord.ui.DynamicItem[discord.ui.Button], template=r"safety:confirm:(?P<token>[0-9a-f]{8,32})"):
    """Confirms a slash command the core asked to confirm (kept in memory for a few minutes)."""

    def __init__(self, token: str, label: str = ""):
        super().__init__(discord.ui.Button(label=(label or "OK")[:80], style=discord.ButtonStyle.danger,
                                           custom_id=f"safety:confirm:{token}"))
        self.token = token

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(match["token"], item.label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.client.adapter.on_confirm_button(interaction, self.token)


class UploaderBanButton(discord.ui.DynamicItem[discord.ui.Button],
                        template=r"safety:banuploader:(?P<guild>\d+):(?P<case>\d+):(?P<user>\d+)"):
    """The one-press ban the core offers on the alert about another uploader of a banked picture."""

    def __init__(self, guild_id: int | str, case: int | str, user_id: int | str, label: str = ""):
        super().__init__(discord.ui.Button(label=(label or "Ban")[:80], style=discord.ButtonStyle.danger,
                                           custom_id=f"safety:banuploader:{guild_id}:{case}:{user_id}"))
        self.guild_id, self.case, self.user_id = int(guild_id), int(case), int(user_id)

    @classmethod
    async def from_custom_id(cls, interaction, item, match):
        return cls(match["guild"], match["case"], match["user"], item.label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.client.adapter.on_uploader_ban_button(interaction, self.guild_id, self.case, self.user_id)


def offered_view(guild_id: int, buttons, texts, locale: str = "en") -> discord.ui.View | None:
    """The one-press actions the core put on a notice (PostToTeam.buttons), rendered as buttons (labels: team
    texts in `locale`, the configured one)."""
    items = [UploaderBanButton(guild_id, b["case"], b["user"], texts.t(b.get("label", ""), locale))
             for b in buttons or () if b.get("op") == "banuploader" and str(b.get("user", "")).isdigit()]
    if not items:
        return None
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


DYNAMIC_ITEMS = (CaseButton, AnswerButton, ConfirmButton, UploaderBanButton)


class LocaleTranslator(discord.app_commands.Translator):
    """Slash command and menu texts in every language of the locale files (Discord localizations).
    Strings carry their locale key as `locale_str(..., key="discord.report_command")`."""

    def __init__(self, texts):
        self.texts = texts

    async def translate(self, string, locale, context):
        key = string.extras.get("key")
        lang = str(locale.value).split("-")[0].lower()
        if not key or lang == "en":
            return None
        return self.texts.by_lang.get(lang, {}).get(key)


class SilentModal(discord.ui.Modal):
    """Submissions are handled by the adapter's interaction listener (by custom_id), so they also work
    when the modal was opened before a restart."""

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        return None


def report_modal(custom_id: str, t, *, with_message: bool, what_max: int = 4000, more_max: int = 1000) -> discord.ui.Modal:
    """The report form, in the member's language: `t(key)` is the locale text `discord.<key>`. `what_max` and
    `more_max`: how much each box takes (Discord stops the typing there), so the report is never too long."""
    modal = SilentModal(title=t("report_title")[:45], custom_id=custom_id, timeout=900)
    modal.add_item(discord.ui.TextInput(
        label=t("what_happened")[:45], custom_id="what", style=discord.TextStyle.long, max_length=what_max,
        required=not with_message,
        placeholder=(t("only_team_sees") + (" " + t("message_attached") if with_message else ""))[:100]))
    if not with_message:
        modal.add_item(discord.ui.TextInput(label=t("link_label")[:45], custom_id="link", required=False,
                                            max_length=200, placeholder="https://discord.com/channels/..."))
    modal.add_item(discord.ui.TextInput(label=t("more_label")[:45], custom_id="more",
                                        style=discord.TextStyle.long, required=False, max_length=more_max))
    return modal


def answer_modal(question: str, title: str, label: str) -> discord.ui.Modal:
    modal = SilentModal(title=title[:45], custom_id=f"safety:answertext:{question}", timeout=900)
    modal.add_item(discord.ui.TextInput(label=label[:45], custom_id="answer", style=discord.TextStyle.long,
                                        max_length=4000))
    return modal


def prompt_view(prompt, texts, locale: str) -> discord.ui.View:
    """A question's choices as buttons, then "Answer" (free text) and "Skip", in the member's language."""
    view = discord.ui.View(timeout=None)
    for i, choice in enumerate(prompt.choices[:22], 1):
        view.add_item(AnswerButton(prompt.question, str(i), choice.label))
    if prompt.free_text:
        view.add_item(AnswerButton(prompt.question, "text", texts.t("discord.answer_button", locale)))
    view.add_item(AnswerButton(prompt.question, "skip", texts.t("discord.skip_button", locale)))
    return view


def case_view(guild_id: int, card: dict, texts, locale: str = "en") -> discord.ui.View | None:
    """The case card's buttons; none on closed cards."""
    if card.get("closed") or card.get("case_number") is None:
        return None
    view = discord.ui.View(timeout=None)
    for op in BUTTONS:
        view.add_item(CaseButton(op, guild_id, card["case_number"], texts.t(f"discord_button_{op}", locale)))
    return view
