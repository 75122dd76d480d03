"""`!protect` in a Matrix DM (real Synapse): the offer and a one-time link, for the member's case."""

from __future__ import annotations

import re

from tests.browser.conftest import PUBLIC_URL
from tests.matrix.test_adapter_dm import (body_has, dm_with_bot, harness_factory, send_text,  # noqa: F401
                                          wait_message)


async def test_protect_in_a_dm_sends_a_one_time_link(synapse, harness_factory) -> None:
    h = await harness_factory(e2ee=False, config_extra={"http": {"listen": "127.0.0.1:0", "public_url": PUBLIC_URL}})
    member = await synapse.aregister()
    dm = await dm_with_bot(synapse, member, h.bot)
    await send_text(synapse, member, dm, "!protect")
    ev = await wait_message(synapse, member, dm, body_has(PUBLIC_URL + "/protect?lang="), sender=h.bot.user_id)
    body = ev["content"]["body"]
    assert "never the pictures" in body and "30 minutes" in body
    token = re.search(r"#(\S+)", body).group(1)
    [case] = await h.app.store.list_cases("matrix")
    assert case.reporter.id == member.user_id and token.split(".")[0] == str(case.id)
    assert token.split(".")[1] not in str(case.flags)  # kept as a digest only
