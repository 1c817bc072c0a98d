"""Leadership: exactly one scheduler runs jobs when several instances are up.

Redis: a key set with NX and a TTL, renewed by its owner and released only by its owner (Lua
compare-and-set), so a crashed leader's lock expires and another instance takes over.
PostgreSQL without Redis: a session advisory lock held on a dedicated connection.
Embedded (one process): always the leader.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class LeaderLock(Protocol):
    owner: str

    async def acquire(self) -> bool:
        """Take or renew leadership; True while this instance leads."""
        ...

    async def release(self) -> None: ...


class SoleLeader:
    """One process, one scheduler: nothing to contend for."""

    def __init__(self) -> None:
        self.owner = f"local-{uuid.uuid4().hex[:8]}"

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLeaderLock:
    def __init__(self, redis: Redis, name: str = "scheduler", *, ttl_seconds: float = 15.0) -> None:
        self._redis = redis
        self.key = f"leader:{name}"
        self.owner = f"{name}-{uuid.uuid4().hex[:12]}"
        self._ttl_ms = int(ttl_seconds * 1000)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        if await self._redis.set(self.key, self.owner, nx=True, px=self._ttl_ms):
            return True
        return bool(await self._renew(keys=[self.key], args=[self.owner, self._ttl_ms]))

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.owner])


class PostgresAdvisoryLock:
    """pg_try_advisory_lock on a connection kept open while leading; closing it releases the lock."""

    def __init__(self, engine: AsyncEngine, key: int = 0x7472616465) -> None:
        self._engine = engine
        self._key = key
        self._connection: AsyncConnection | None = None
        self.owner = f"pg-{uuid.uuid4().hex[:12]}"

    async def acquire(self) -> bool:
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                return True
            except Exception:  # the connection died, and the lock with it
                await self._drop()
        connection = await self._engine.connect()
        got: Any = (
            await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key})
        ).scalar()
        if got:
            self._connection = connection
            return True
        await connection.close()
        return False

    async def _drop(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.close()
            finally:
                self._connection = None

    async def release(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            finally:
                await self._drop()
