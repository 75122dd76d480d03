import pytest

from tests.lists.listserver import ListServer


@pytest.fixture
def listserver():
    s = ListServer()
    yield s
    s.close()
