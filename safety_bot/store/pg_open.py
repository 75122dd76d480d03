"""What PostgresStore.open() does once, before anything else: the numbered migrations (one process at a
time, under an advisory lock; a newer schema is refused), the data-key check (a wrong key is refused with
nothing changed) and the audit chain's shared seed. A mixin of PostgresStore (see postgres.py)."""

from __future__ import annotations

import base64
import os
import time

from ..crypto import WrongKey
from .base import StoreError
from .pg_migrations import PG_LATEST, PG_MIGRATIONS

LOCK_MIGRATE = 0x5AFE_0001  # advisory lock key: one process migrates at a time (postgres.py lists the others)


class PgOpening:
    async def _migrate(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", LOCK_MIGRATE)  # one process migrates at a time
            try:
                await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                                   "description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
                current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                if current > PG_LATEST:
                    raise StoreError(
                        f"the database {self.path} has schema version {current}, newer than this safety-bot "
                        f"understands ({PG_LATEST}); upgrade safety-bot instead of downgrading the data")
                for version, description, sql in PG_MIGRATIONS:
                    if version <= current:
                        continue
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute("INSERT INTO schema_version VALUES ($1, $2, $3)", version, description,
                                           time.time())
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_MIGRATE)

    async def _shared_audit_seed(self) -> bytes:
        await self.pool.execute("INSERT INTO kv VALUES ('audit_seed', $1) ON CONFLICT (key) DO NOTHING",
                                self.cipher.encrypt(base64.b64encode(os.urandom(32)).decode()))
        return base64.b64decode(self.cipher.decrypt(await self.pool.fetchval("SELECT value FROM kv WHERE key='audit_seed'")))

    async def _check_key(self) -> None:
        await self.pool.execute("INSERT INTO kv VALUES ('key_check', $1) ON CONFLICT (key) DO NOTHING",
                                self.cipher.encrypt("safety-bot"))
        value = await self.pool.fetchval("SELECT value FROM kv WHERE key='key_check'")
        try:
            ok = self.cipher.decrypt(value) == "safety-bot"
        except WrongKey:
            ok = False
        if not ok:
            raise WrongKey(f"the database {self.path} was encrypted with a different key; check storage.key. "
                           "Nothing was changed.")

    async def schema_version(self) -> int:
        return await self.pool.fetchval("SELECT MAX(version) FROM schema_version")

