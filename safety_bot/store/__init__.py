"""Storage behind one repository interface: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) for several
processes, in-memory fakes for tests."""

from .base import BankEntry, Store, StoreError, StoreUnavailable
from .list_types import ListItem, SharedList
from .memory import MemoryStore

__all__ = ["BankEntry", "ListItem", "SharedList", "Store", "StoreError", "StoreUnavailable", "MemoryStore", "open_store"]


async def open_store(config) -> Store:
    """The store the operator configured: the embedded SQLite database, or PostgreSQL shared by processes."""
    if config.storage.backend == "postgres":
        from .postgres import PostgresStore

        return await PostgresStore.open(config.storage.dsn, key=config.storage.key,
                                        synchronous=config.storage.synchronous,
                                        lease_seconds=config.storage.lease_seconds,
                                        audit_key=config.storage.audit_key)
    from .sqlite import SqliteStore

    path = config.path(config.storage.database)
    return await SqliteStore.open(path, synchronous=config.storage.synchronous, key=config.storage.key,
                                  audit_key=config.storage.audit_key)
