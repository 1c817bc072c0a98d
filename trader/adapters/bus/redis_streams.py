"""Message bus on Redis Streams: one stream per topic, consumer groups, explicit acks.

A consumer that restarts under the same name first re-reads the messages it had not
acknowledged (XREADGROUP from id 0); messages left by a consumer that never comes back are taken
over with XAUTOCLAIM. Streams are capped (approximate MAXLEN) so Redis memory stays bounded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from trader.core.events import Event, EventCodecError, decode_event, encode_event
from trader.core.ports import Delivery

log = logging.getLogger(__name__)

STREAM_PREFIX = "stream:"
DEAD_LETTER_STREAM = "stream:dead_letter"
# Events per pipelined round trip: bounds the reply buffered in memory for a large backfill.
PUBLISH_CHUNK = 1000


class BusUnavailableError(RuntimeError):
    """Redis did not answer; the caller should back off and retry."""


class RedisStreamsBus:
    def __init__(self, redis: Redis, *, max_stream_length: int = 200_000) -> None:
        self._redis = redis
        self._max_stream_length = max_stream_length
        self._recovered: set[tuple[str, str, str]] = set()
        self._known_groups: set[tuple[str, str]] = set()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisStreamsBus:
        return cls(Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5), **kwargs)

    @staticmethod
    def _key(topic: str) -> str:
        return STREAM_PREFIX + topic

    async def publish(self, topic: str, event: Event) -> str:
        try:
            message_id = await self._redis.xadd(
                self._key(topic),
                {"event": encode_event(event)},
                maxlen=self._max_stream_length,
                approximate=True,
            )
        except RedisError as error:
            raise BusUnavailableError(f"cannot publish to {topic}: {error}") from error
        return _text(message_id)

    async def publish_many(self, topic: str, events: Sequence[Event]) -> list[str]:
        """One pipelined round trip per chunk instead of one per event. Not a transaction: when
        Redis fails midway some events may be out, as with `publish` in a loop, and the caller
        retries the batch (consumers are idempotent by event id)."""
        if not events:
            return []
        key = self._key(topic)
        ids: list[str] = []
        try:
            for start in range(0, len(events), PUBLISH_CHUNK):
                pipeline = self._redis.pipeline(transaction=False)
                for event in events[start : start + PUBLISH_CHUNK]:
                    pipeline.xadd(
                        key, {"event": encode_event(event)}, maxlen=self._max_stream_length, approximate=True
                    )
                ids.extend(_text(message_id) for message_id in await pipeline.execute())
        except RedisError as error:
            raise BusUnavailableError(f"cannot publish to {topic}: {error}") from error
        return ids

    async def ensure_group(self, topic: str, group: str) -> None:
        if (topic, group) in self._known_groups:
            return
        try:
            await self._redis.xgroup_create(self._key(topic), group, id="$", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._known_groups.add((topic, group))

    async def read(
        self, topic: str, group: str, consumer: str, *, count: int = 100, block_ms: int = 1000
    ) -> Sequence[Delivery]:
        await self.ensure_group(topic, group)
        key = self._key(topic)
        marker = (topic, group, consumer)
        try:
            if marker not in self._recovered:
                response = await self._redis.xreadgroup(group, consumer, {key: "0"}, count=count)
                entries = self._entries(response)
                if entries:
                    return await self._deliveries(topic, group, entries, redelivered=True)
                self._recovered.add(marker)
            response = await self._redis.xreadgroup(group, consumer, {key: ">"}, count=count, block=block_ms)
        except ResponseError as error:
            await self._recreate_group_if_lost(topic, group, error)
            return []
        except RedisError as error:
            raise BusUnavailableError(f"cannot read {topic}: {error}") from error
        return await self._deliveries(topic, group, self._entries(response), redelivered=False)

    async def _recreate_group_if_lost(self, topic: str, group: str, error: ResponseError) -> None:
        """The stream was deleted (e.g. FLUSHALL): recreate the group and carry on; else re-raise."""
        if "NOGROUP" not in str(error):
            raise error
        self._known_groups.discard((topic, group))
        await self.ensure_group(topic, group)

    @staticmethod
    def _entries(response: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
        if not response:
            return []
        _stream, entries = response[0]
        # A pending entry whose message was trimmed comes back with no fields.
        return [(mid, fields) for mid, fields in entries]

    async def _deliveries(
        self, topic: str, group: str, entries: list[tuple[bytes, dict[bytes, bytes]]], *, redelivered: bool
    ) -> list[Delivery]:
        counts: dict[str, int] = {}
        if redelivered and entries:
            first, last = entries[0][0], entries[-1][0]
            for item in await self._redis.xpending_range(
                self._key(topic), group, min=first, max=last, count=len(entries)
            ):
                counts[_text(item["message_id"])] = int(item["times_delivered"])  # type: ignore[arg-type]
        deliveries = []
        broken = []
        for raw_id, fields in entries:
            message_id = _text(raw_id)
            payload = fields.get(b"event") if fields else None
            if payload is None:
                broken.append(message_id)
                continue
            try:
                event = decode_event(payload)
            except EventCodecError as error:
                log.error(
                    "dropping undecodable message %s on %s to the dead-letter stream: %s",
                    message_id,
                    topic,
                    error,
                )
                await self._redis.xadd(
                    DEAD_LETTER_STREAM,
                    {"topic": topic, "message_id": message_id, "payload": payload, "error": str(error)},
                    maxlen=10_000,
                    approximate=True,
                )
                broken.append(message_id)
                continue
            deliveries.append(Delivery(topic, message_id, event, counts.get(message_id, 1)))
        if broken:
            await self.ack(topic, group, broken)
        return deliveries

    async def ack(self, topic: str, group: str, message_ids: Sequence[str]) -> None:
        if not message_ids:
            return
        try:
            await self._redis.xack(self._key(topic), group, *message_ids)
        except RedisError as error:
            raise BusUnavailableError(f"cannot acknowledge on {topic}: {error}") from error

    async def claim_stale(
        self, topic: str, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> Sequence[Delivery]:
        await self.ensure_group(topic, group)
        try:
            response = await self._redis.xautoclaim(
                self._key(topic), group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
            )
        except ResponseError as error:
            await self._recreate_group_if_lost(topic, group, error)
            return []
        except RedisError as error:
            raise BusUnavailableError(f"cannot claim on {topic}: {error}") from error
        entries = [(mid, fields) for mid, fields in response[1]]
        return await self._deliveries(topic, group, entries, redelivered=True)

    async def pending_count(self, topic: str, group: str) -> int:
        try:
            summary = await self._redis.xpending(self._key(topic), group)
        except ResponseError:
            return 0
        return int(summary["pending"])

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as error:
            raise BusUnavailableError(f"redis unavailable: {error}") from error

    async def close(self) -> None:
        await self._redis.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
