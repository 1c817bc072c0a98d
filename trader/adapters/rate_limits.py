"""Sliding-window rate limits: Redis sorted sets `rate_limit:{rule}:{client}`, or in-process.

Each hit is a member scored by its time; the window is the members newer than now - window.
The Redis check-and-add is one Lua script, so concurrent workers cannot overshoot the limit.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

KEY_PREFIX = "rate_limit"


def rate_limit_key(rule: str, client: str) -> str:
    return f"{KEY_PREFIX}:{rule}:{client}"


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    current: int
    limit: int
    retry_after_seconds: int


@dataclass(frozen=True, slots=True)
class ClientUsage:
    client: str
    current: int


class RateLimiter(Protocol):
    async def hit(self, rule: str, client: str, *, limit: int, window_seconds: int) -> RateDecision: ...

    async def usage(self, rule: str, *, window_seconds: int, top: int = 10) -> list[ClientUsage]: ...


class InProcessRateLimiter:
    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}

    async def hit(self, rule: str, client: str, *, limit: int, window_seconds: int) -> RateDecision:
        now = time.time()
        hits = self._hits.setdefault(rate_limit_key(rule, client), deque())
        while hits and hits[0] <= now - window_seconds:
            hits.popleft()
        if len(hits) >= limit:
            retry = max(1, math.ceil(hits[0] + window_seconds - now))
            return RateDecision(False, len(hits), limit, retry)
        hits.append(now)
        return RateDecision(True, len(hits), limit, 0)

    async def usage(self, rule: str, *, window_seconds: int, top: int = 10) -> list[ClientUsage]:
        cutoff = time.time() - window_seconds
        prefix = f"{KEY_PREFIX}:{rule}:"
        counts = [
            ClientUsage(key.removeprefix(prefix), sum(1 for stamp in hits if stamp > cutoff))
            for key, hits in self._hits.items()
            if key.startswith(prefix)
        ]
        return sorted((c for c in counts if c.current), key=lambda usage: -usage.current)[:top]


# KEYS[1] = key; ARGV = now, window, limit, member. Returns {allowed, count, oldest score}.
_SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
if count < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
  return {1, count + 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, count, tostring(oldest[2])}
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(_SLIDING_WINDOW)

    async def hit(self, rule: str, client: str, *, limit: int, window_seconds: int) -> RateDecision:
        now = time.time()
        allowed, count, oldest = await self._script(
            keys=[rate_limit_key(rule, client)],
            args=[f"{now:.6f}", window_seconds, limit, f"{now:.6f}-{uuid.uuid4().hex[:8]}"],
        )
        if allowed:
            return RateDecision(True, int(count), limit, 0)
        retry = max(1, math.ceil(float(oldest) + window_seconds - now))
        return RateDecision(False, int(count), limit, retry)

    async def usage(self, rule: str, *, window_seconds: int, top: int = 10) -> list[ClientUsage]:
        prefix = f"{KEY_PREFIX}:{rule}:"
        cutoff = time.time() - window_seconds
        result = []
        async for raw_key in self._redis.scan_iter(match=f"{prefix}*", count=500):
            key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
            current = await self._redis.zcount(key, f"({cutoff:.6f}", "+inf")
            if current:
                result.append(ClientUsage(key.removeprefix(prefix), int(current)))
        return sorted(result, key=lambda usage: -usage.current)[:top]
