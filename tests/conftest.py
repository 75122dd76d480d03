import pytest

from safety_bot.crypto import new_key_text

from tests.harness import make_harness
from tests.postgres_server import fresh_database, start_server


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on a Unix socket in a temporary folder, for the whole session."""
    with start_server() as server:
        yield server


@pytest.fixture
async def postgres_dsn(postgres_server):
    """The DSN of a new, empty database on the session's server."""
    return await fresh_database(postgres_server)


@pytest.fixture
async def h(tmp_path):
    """A console community on the in-memory store."""
    harness = await make_harness(tmp_path)
    yield harness
    await harness.app.__aexit__(None, None, None)


@pytest.fixture
async def hs(tmp_path):
    """A console community on a real SQLite database."""
    harness = await make_harness(tmp_path, sqlite=True)
    yield harness
    await harness.app.__aexit__(None, None, None)


@pytest.fixture(params=["sqlite", "postgres"])
async def hdb(request, tmp_path):
    """A console community on a real database: SQLite, then PostgreSQL (the session's server)."""
    if request.param == "sqlite":
        harness = await make_harness(tmp_path, sqlite=True)
    else:
        dsn = await fresh_database(request.getfixturevalue("postgres_server"))
        storage = {"backend": "postgres", "dsn": "${DATABASE_URL}", "key": "${SAFETY_BOT_KEY}"}
        harness = await make_harness(tmp_path, {"storage": storage}, sqlite=True,
                                     env={"DATABASE_URL": dsn, "SAFETY_BOT_KEY": new_key_text()})
    yield harness
    await harness.app.__aexit__(None, None, None)
