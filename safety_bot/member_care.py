"""The service's side of member care (a part of SafetyService): turning what `care.scan()` found in a
member's words into the messages for the member and the ping for the team."""

from __future__ import annotations

from . import care, first_words
from .domain import Case


class MemberCare:
    """Mixed into SafetyService: uses its `lib`, `private`, `t`, `resources_text` and `team_post`."""

    def scan_text(self, case: Case, text: str) -> care.Scan:
        platform = case.reporter.platform if case.reporter else ""
        return care.scan(self.lib, case, text, platform, self.config.locale)

    def crisis_reply(self, case: Case | None, loc: str, intro_key: str, *, country: str | None = None) -> str:
        return care.crisis_text(self.lib, case, loc, intro_key, country=country)

    def too_long(self, text: str, loc: str, case: Case | None = None) -> str:
        """The member's text is over the length limit (nothing is saved): ask to shorten it, but words of
        danger in it get the crisis lines first all the same."""
        reply = self.t("report_too_long", loc, limit=self.config.limits.report_max_chars, length=len(text))
        found = self.lib.cues.find(text)
        if found.urgent:
            reply = self.crisis_reply(case, loc, care.found_intro_key(found)) + "\n\n" + reply
        return reply

    async def care_messages(self, case: Case, s: care.Scan, loc: str, *, moved_to_child: bool,
                            first_reply_sent: bool = False) -> tuple[str, list]:
        """(reply to show first, actions) for what a member's text changed. The child-safety first
        message goes out at once when the case has just become a child-safety case."""
        if not (s.new_cues or s.to_child or s.new_apps or moved_to_child):
            return "", []  # the text changed nothing: nothing to add (most reports)
        reply = self.crisis_reply(case, loc, care.cue_intro_key(s.new_cues)) if s.new_cues else ""
        actions: list = []
        to = case.reporter
        # the child's first words are for the child: a friend reporting for them keeps the bystander's texts
        if moved_to_child and to is not None and not first_reply_sent and case.answers.get("about") != "someone_else":
            actions.append(self.private(to, first_words.first_short(self.lib, case.category, loc), loc,
                                        case.community, "ack"))
        if s.new_apps and to is not None:
            actions.append(self.private(to, care.apps_text(self.lib, s.new_apps, loc), loc, case.community, "resources"))
        if s.new_cues or s.to_child:
            actions += await self.team_post(case, care.team_headline(self, case, s), ping=True)
        return reply, actions
