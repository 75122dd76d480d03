import pytest

from tests.harness import make_harness


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
