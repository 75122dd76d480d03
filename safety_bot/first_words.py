"""Short first words: the first DM fits one phone screen, the rest comes when the member asks for it.

The first DM is the playbook's `first_short` text (neutral first line, safe to talk here, not your fault,
do not pay or send more, keep the messages) followed by lettered choices. Letters, not numbers: the
intake question that follows is numbered, and a member in panic must never answer one with the other.
  A) What should I do now?       -> the playbook's full `first_reply`
  B) Who can help?               -> the resource list that fits their answers so far
  C) How do I block and report?  -> `menu_block`
  D) They moved me to another app -> how to report and block on other apps (resources.yaml `apps`)
  E) Protect my pictures          -> the offer and a one-time link (safety_bot/protect, when it is set up)
"""

from __future__ import annotations

from . import care
from .domain import Case
from .playbooks import Library

FIRST_DM_BUDGET = 500
MENU = {"a": "now", "b": "help", "c": "block", "d": "app", "e": "protect"}


def menu_choice(text: str) -> str | None:
    word = (text or "").strip().lower().rstrip(".)")
    return MENU.get(word)


def first_short(lib: Library, category: str, locale: str, *, protect: bool = False) -> str:
    """`protect`: the bot offers "protect my pictures" here (E); never in the child-safety first words,
    which stay as short as they can (the letter E and the protect command still work there)."""
    memo = lib.__dict__.setdefault("_first_short", {})  # the texts never change: one per category, language, offer
    found = memo.get((category, locale, protect))
    if found is None:
        pb = lib.playbook(category)
        body = pb.text("first_short", locale) if "first_short" in pb.texts else pb.text("first_reply", locale)
        menu = lib.texts.t("menu_choices", locale)
        if protect and category != "child_safety":
            menu += "\n" + lib.texts.t("menu_choice_protect", locale)
        found = body.strip() + "\n" + menu
        if len(memo) < 1000:
            memo[category, locale, protect] = found
    return found


def menu_text(svc, case: Case | None, choice: str, locale: str) -> str:
    lib: Library = svc.lib
    if choice == "now":
        return lib.playbook(case.category if case else "sextortion").text("first_reply", locale).strip()
    if choice == "help":
        return svc.t("resources_intro", locale) + "\n" + svc.resources_text(case, locale)
    if choice == "block":
        return svc.t("menu_block", locale)
    return care.apps_text(lib, [], locale)
