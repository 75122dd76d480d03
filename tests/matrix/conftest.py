"""Fixtures for tests that run against a real Synapse homeserver (see tests/fakes/synapse.py).

* ``synapse`` (session): one real Synapse for the whole test session, stopped and deleted at the end.
  Tests must not assume an empty server: make fresh users with ``make_user`` and fresh rooms.
* ``make_user`` (function): ``make_user(admin=False, localpart=None, password=None, **kw)`` returns a
  new ``SynapseUser`` (``user_id``, ``access_token``, ``password``, ``device_id``, ``localpart``).
* ``make_nio_client`` (function, async): ``await make_nio_client(user, encryption=True)`` returns a
  logged-in ``nio.AsyncClient`` (restored from the registration token and device) with a real
  on-disk store under ``tmp_path`` and an explicit pickle key; closed after the test.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.synapse import SynapseServer, SynapseUser


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    server = SynapseServer(tmp_path_factory.mktemp("synapse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_user(synapse: SynapseServer) -> Callable[..., SynapseUser]:
    def _make(
        admin: bool = False,
        localpart: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> SynapseUser:
        return synapse.register(localpart=localpart, admin=admin, password=password, **kwargs)

    return _make


@pytest.fixture
async def make_nio_client(
    synapse: SynapseServer, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    from nio import AsyncClient, AsyncClientConfig

    clients: list[AsyncClient] = []

    async def _make(
        user: SynapseUser, encryption: bool = True, pickle_key: str | None = None
    ) -> AsyncClient:
        store_path = tmp_path / "nio" / user.localpart / user.device_id
        store_path.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(
            encryption_enabled=encryption,
            pickle_key=pickle_key or secrets.token_hex(16),
            max_timeouts=2,
            request_timeout=30,
        )
        client = AsyncClient(
            synapse.base_url,
            user.user_id,
            device_id=user.device_id,
            store_path=str(store_path),
            config=config,
        )
        client.restore_login(user.user_id, user.device_id, user.access_token)
        if encryption:
            # Without a store path nio silently runs without Olm: make that loud.
            assert client.olm is not None, "nio did not load its encryption store"
        clients.append(client)
        return client

    yield _make
    for client in clients:
        await client.close()
