"""The core of watched lists and ban pools (ban_lists.py, policy.py) on the in-memory store: which rules
count, globs, and the guards: more than 5 bans at once or the hourly limit are shown, never applied; the
team is never banned; many matches are summed up in one post; removals lift only the list's own bans."""

from __future__ import annotations

from safety_bot.actions import BanUser, PostToTeam, UnbanUser
from safety_bot.domain import Ban, UserRef
from safety_bot.events import Community
from safety_bot.lists.ban_lists import list_reason
from safety_bot.lists.policy import policy_lists

ROOM = "!policy:elsewhere.example"


def rule(entity, rec="m.ban", etype="m.policy.rule.user", key=None):
    return {"type": etype, "state_key": key or f"rule:{entity}", "content": {"entity": entity, "recommendation": rec,
                                                                             "reason": "spam @everyone"}}


def members(n, prefix="spam"):
    return [UserRef("matrix", f"@{prefix}{i}:evil.example", f"{prefix}{i}") for i in range(n)]


def kinds(out):
    return [type(a) for a in out.actions]


async def setup(h, apply=True, team=()):
    svc = h.app.service
    svc.add_community(Community("mx", "matrix", "friends", "Matrix", has_escalation=True))

    async def reader(community, user):
        return user.id in team

    svc.role_readers["matrix"] = reader
    pl = policy_lists(svc)
    await pl.watch("friends", ROOM, apply, "matrix:@mod:x")
    return pl


async def test_rule_shapes_and_globs(h):
    pl = await setup(h, apply=False)
    events = [rule("@a:evil.example"), rule("@b:evil.example", "org.matrix.mjolnir.ban", "org.matrix.mjolnir.rule.user"),
              rule("@c:evil.example", "org.matrix.mjolnir.ban", "m.room.rule.user"), rule("@d:evil.example", "m.mute"),
              rule("@g*:evil.example"), {"type": "m.policy.rule.server", "state_key": "s", "content": {
                  "entity": "evil.example", "recommendation": "m.ban"}}]
    people = [UserRef("matrix", u) for u in ("@a:evil.example", "@b:evil.example", "@c:evil.example",
                                              "@d:evil.example", "@glob:evil.example", "@x:good.example")]
    out = await pl.rules("mx", ROOM, events, people, full=True)
    texts = [a.text for a in out.actions if isinstance(a, PostToTeam)]
    named = sorted(u.id for u in people if any(u.id.replace("@", "@\u200b") in t or u.id in t for t in texts))
    assert named == ["@a:evil.example", "@b:evil.example", "@c:evil.example", "@glob:evil.example"]
    assert all("@everyone" not in t and "spam @\u200beveryone" in t for t in texts)  # inert: pings nobody
    assert not [a for a in out.actions if isinstance(a, BanUser)]
    assert (await h.store.get_shared_list(ROOM)).size == 4


async def test_more_than_five_bans_at_once_are_shown_not_applied_and_many_are_summed_up(h):
    pl = await setup(h)
    out = await pl.rules("mx", ROOM, [rule("@spam*:evil.example")], members(7), full=True)
    assert BanUser not in kinds(out)
    posts = [a for a in out.actions if isinstance(a, PostToTeam)]
    assert len(posts) == 7 and all("second team member" in p.text for p in posts)
    out = await pl.rules("mx", ROOM, [rule("@many*:evil.example")], members(30, "many"), full=False)
    [post] = out.actions
    assert "30 members" in post.text and "(and 10 more)" in post.text and BanUser not in kinds(out)


async def test_apply_bans_few_never_the_team_and_removal_lifts_only_the_lists_bans(h):
    team_member = "@mod2:evil.example"
    pl = await setup(h, team=(team_member,))
    people = [UserRef("matrix", "@one:evil.example"), UserRef("matrix", team_member)]
    out = await pl.rules("mx", ROOM, [rule("@one:evil.example"), rule(team_member)], people, full=True)
    bans = [a for a in out.actions if isinstance(a, BanUser)]
    assert [(b.user.id, b.community) for b in bans] == [("@one:evil.example", "mx")]
    assert bans[0].reason == list_reason(ROOM)
    [esc] = [a for a in out.actions if isinstance(a, PostToTeam) and a.destination == "escalation"]
    assert "never bans a team member" in esc.text
    # The ban went through (recorded as the platform confirmed it); someone else was banned by the team itself.
    await h.store.add_ban(Ban(network="friends", user_id="matrix:@one:evil.example", case_id=None, at=1.0,
                              by="safety-team", reason=list_reason(ROOM)))
    await h.store.add_ban(Ban(network="friends", user_id="matrix:@own:evil.example", case_id=None, at=1.0,
                              by="safety-team", reason="Zero-tolerance ban by the safety team"))
    out = await pl.rules("mx", ROOM, [rule("@own:evil.example")], [UserRef("matrix", "@own:evil.example")], full=False)
    assert BanUser not in kinds(out)  # already banned by the team
    out = await pl.rules("mx", ROOM, [{"type": "m.policy.rule.user", "state_key": "rule:@one:evil.example",
                                       "content": {}}, {"type": "m.policy.rule.user",
                                                        "state_key": "rule:@own:evil.example", "content": {}}],
                         [], full=False)
    assert [(a.user.id) for a in out.actions if isinstance(a, UnbanUser)] == ["@one:evil.example"]


async def test_the_hourly_limit_stops_list_bans(tmp_path):
    from tests.harness import make_harness

    h = await make_harness(tmp_path, {"limits": {"mod_actions_per_hour": 2}})
    try:
        pl = await setup(h)
        out = await pl.rules("mx", ROOM, [rule("@l*:evil.example")], members(2, "l"), full=True)
        assert kinds(out).count(BanUser) == 2
        out = await pl.rules("mx", ROOM, [rule("@m*:evil.example")], members(1, "m"), full=False)
        assert BanUser not in kinds(out) and "this hour's limit" in out.actions[0].text
    finally:
        await h.app.__aexit__(None, None, None)


async def test_in_notify_mode_too_a_team_member_is_only_told_to_the_escalation_destination(h):
    team_member = "@mod3:evil.example"
    pl = await setup(h, apply=False, team=(team_member,))
    out = await pl.rules("mx", ROOM, [rule(team_member)], [UserRef("matrix", team_member)], full=True)
    [post] = out.actions
    assert post.destination == "escalation" and "never bans a team member" in post.text
