"""A private PostgreSQL server for the test session.

`pgserver` (PyPI) bundles the PostgreSQL binaries in its wheel, so `make test` needs no system package and
no manual step. The server listens only on a Unix socket in a temporary folder (no TCP port), is started
once per session and stopped (its folder deleted) at the end. As root, pgserver runs the server as an
unprivileged `pgserver` user, since PostgreSQL refuses to run as root. Each test gets a fresh database.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
import uuid
from pathlib import Path

import asyncpg

_counter = itertools.count(1)


@contextlib.contextmanager
def start_server():
    """Start a server in a new folder under the system's temporary folder; stop it and delete the folder after.

    Not under pytest's own temporary folders: those are private to root (the server runs as another user
    when the suite runs as root) and pytest prunes them while other runs are going on.
    """
    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="safety-bot-pg-"))
    folder.chmod(0o755)
    server = pgserver.get_server(folder / "data", cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def dsn_for(server, database: str = "postgres") -> str:
    return server.get_uri(database)


async def fresh_database(server) -> str:
    """Create an empty database and return its DSN."""
    name = f"t{next(_counter)}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn_for(server))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return dsn_for(server, name)
