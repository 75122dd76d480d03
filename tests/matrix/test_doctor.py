"""`safety-bot doctor` against the real Synapse: a correct set-up passes; each item broken in turn fails
with its own fix (login, membership, power, admin API, encryption keys)."""

import shutil

import pytest

from safety_bot.config import load_config
from safety_bot.ops.doctor_matrix import matrix_checks
from tests.matrix.test_adapter_dm import BotHarness, call, q


@pytest.fixture
async def set_up(synapse, tmp_path):
    """The bot has run once: it joined its rooms (power 100 in each), made and published its keys."""
    h = await BotHarness(synapse, tmp_path, admin_api=True, policy=True, escalation=True, e2ee=True).setup()
    await h.start()
    await h.stop()
    return h


def config(h, **matrix):
    cfg = load_config(h.write_config(), env={"BOT_PASSWORD": h.bot.password, "BOT_STORE_KEY": h.store_key})
    if matrix:
        cfg = cfg.model_copy(update={"matrix": cfg.matrix.model_copy(update=matrix)})
    return cfg


async def failures(cfg):
    checks = (await matrix_checks(cfg.matrix, cfg.path("."))).items
    return {c.name: c.fix for c in checks if c.failed}, checks


async def devices(synapse, user):
    return (await call(synapse, "GET", "/_matrix/client/v3/devices", user))["devices"]


async def test_a_correct_set_up_passes_and_leaves_no_device(set_up, synapse):
    h = set_up
    before = len(await devices(synapse, h.bot))
    failed, checks = await failures(config(h))
    assert failed == {}, failed
    names = " | ".join(c.name for c in checks)
    for item in ("login as", "management room", "protected room", "policy room", "escalation room",
                 "power it needs", "admin API", "encryption keys"):
        assert item in names, item
    assert len(await devices(synapse, h.bot)) == before  # the doctor's password login was logged out


async def set_power(synapse, h, room, **changes):
    path = f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.power_levels"
    pl = await call(synapse, "GET", path, h.mod)
    for key, value in changes.items():
        if key == "bot":
            pl["users"][h.bot.user_id] = value
        else:
            pl.setdefault("events", {})[key.replace("_", ".")] = value
    await call(synapse, "PUT", path, h.mod, pl)


@pytest.mark.parametrize("broken", ["password", "left protected room", "no ban power", "no state power",
                                    "not admin", "keys lost", "bad token"])
async def test_each_item_broken_in_turn(broken, set_up, synapse):
    h = set_up
    cfg = config(h)
    if broken == "password":
        cfg = config(h, password="not-the-password")
        expected = f"login as {h.bot.user_id} works"
    elif broken == "bad token":
        cfg = config(h, password=None, access_token="syt_not_a_token")
        expected = f"login as {h.bot.user_id} works"
    elif broken == "left protected room":
        await call(synapse, "POST", f"/_matrix/client/v3/rooms/{q(h.rooms[0])}/leave", h.bot, {})
        expected = f"the bot is in the protected room {h.rooms[0]}"
    elif broken == "no ban power":
        await set_power(synapse, h, h.rooms[0], bot=10)
        expected = f"the bot has the power it needs in the protected room {h.rooms[0]} (level 10)"
    elif broken == "no state power":
        await set_power(synapse, h, h.policy_room, m_policy_rule_user=100, bot=99)
        expected = f"the bot has the power it needs in the policy room {h.policy_room} (level 99)"
    elif broken == "not admin":
        await synapse.arequest("PUT", f"/_synapse/admin/v2/users/{q(h.bot.user_id)}",
                               token=(await synapse.aregister(admin=True)).access_token, json_body={"admin": False})
        expected = "the Synapse admin API answers (quarantine, reports)"
    elif broken == "keys lost":
        shutil.rmtree(h.tmp / "matrix-store")
        expected = "the bot's encryption keys are present (key store and published keys)"
    failed, _ = await failures(cfg)
    assert list(failed) == [expected], failed
    assert failed[expected]
