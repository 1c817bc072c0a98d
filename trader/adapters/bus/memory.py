"""In-process message bus with the same consumer-group semantics as the Redis Streams adapter.

Used by the embedded default, where all seven services share one process. Acknowledged
messages that every group has passed are dropped, so memory stays flat on a long replay.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from trader.core.events import Event
from trader.core.ports import Delivery


@dataclass(slots=True)
class _Pending:
    consumer: str
    delivered_at: float
    delivery_count: int


@dataclass(slots=True)
class _Group:
    next_index: int  # index into the topic log of the first message not yet delivered
    pending: dict[str, _Pending] = field(default_factory=dict)
    recovered: set[str] = field(default_factory=set)  # consumers that already re-read their pending


@dataclass(slots=True)
class _Topic:
    base_index: int = 0  # log index of messages[0] (earlier ones were trimmed)
    messages: list[tuple[str, Event]] = field(default_factory=list)
    index_of: dict[str, int] = field(default_factory=dict)
    groups: dict[str, _Group] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class InMemoryBus:
    def __init__(self) -> None:
        self._topics: dict[str, _Topic] = {}
        self._sequence = itertools.count(1)
        self._closed = False

    def _topic(self, topic: str) -> _Topic:
        return self._topics.setdefault(topic, _Topic())

    async def publish(self, topic: str, event: Event) -> str:
        if self._closed:
            raise RuntimeError("bus is closed")
        state = self._topic(topic)
        message_id = f"{int(time.time() * 1000)}-{next(self._sequence)}"
        state.index_of[message_id] = state.base_index + len(state.messages)
        state.messages.append((message_id, event))
        state.arrived.set()
        return message_id

    async def publish_many(self, topic: str, events: Sequence[Event]) -> list[str]:
        return [await self.publish(topic, event) for event in events]

    async def ensure_group(self, topic: str, group: str) -> None:
        state = self._topic(topic)
        if group not in state.groups:
            state.groups[group] = _Group(next_index=state.base_index + len(state.messages))

    def _event_at(self, state: _Topic, message_id: str) -> Event | None:
        index = state.index_of.get(message_id)
        if index is None or index < state.base_index:
            return None
        return state.messages[index - state.base_index][1]

    async def read(
        self, topic: str, group: str, consumer: str, *, count: int = 100, block_ms: int = 1000
    ) -> Sequence[Delivery]:
        await self.ensure_group(topic, group)
        state = self._topic(topic)
        group_state = state.groups[group]
        if consumer not in group_state.recovered:
            # Like XREADGROUP with id 0: a consumer that comes back first gets what it had read
            # but never acknowledged.
            group_state.recovered.add(consumer)
            own = [mid for mid, pending in group_state.pending.items() if pending.consumer == consumer]
            if own:
                return self._redeliver(state, group_state, consumer, own[:count], topic)
        deadline = time.monotonic() + block_ms / 1000
        while True:
            available = state.base_index + len(state.messages) - group_state.next_index
            if available > 0:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed:
                return []
            state.arrived.clear()
            try:
                await asyncio.wait_for(state.arrived.wait(), timeout=remaining)
            except TimeoutError:
                return []
        deliveries = []
        now = time.monotonic()
        start = group_state.next_index - state.base_index
        for message_id, event in state.messages[start : start + count]:
            group_state.pending[message_id] = _Pending(consumer, now, 1)
            deliveries.append(Delivery(topic, message_id, event, 1))
        group_state.next_index += len(deliveries)
        return deliveries

    def _redeliver(
        self, state: _Topic, group_state: _Group, consumer: str, message_ids: list[str], topic: str
    ) -> list[Delivery]:
        deliveries = []
        now = time.monotonic()
        for message_id in message_ids:
            pending = group_state.pending[message_id]
            event = self._event_at(state, message_id)
            if event is None:
                del group_state.pending[message_id]
                continue
            pending.consumer = consumer
            pending.delivered_at = now
            pending.delivery_count += 1
            deliveries.append(Delivery(topic, message_id, event, pending.delivery_count))
        return deliveries

    async def ack(self, topic: str, group: str, message_ids: Sequence[str]) -> None:
        state = self._topic(topic)
        group_state = state.groups.get(group)
        if group_state is None:
            return
        for message_id in message_ids:
            group_state.pending.pop(message_id, None)
        self._trim(state)

    def _trim(self, state: _Topic) -> None:
        if not state.groups:
            return
        # Keep everything from the oldest message some group still needs.
        needed = min(group.next_index for group in state.groups.values())
        for group in state.groups.values():
            for message_id in group.pending:
                index = state.index_of.get(message_id)
                if index is not None:
                    needed = min(needed, index)
        drop = needed - state.base_index
        if drop <= 0:
            return
        for message_id, _event in state.messages[:drop]:
            state.index_of.pop(message_id, None)
        del state.messages[:drop]
        state.base_index = needed

    async def claim_stale(
        self, topic: str, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
    ) -> Sequence[Delivery]:
        await self.ensure_group(topic, group)
        state = self._topic(topic)
        group_state = state.groups[group]
        cutoff = time.monotonic() - min_idle_ms / 1000
        stale = [mid for mid, pending in group_state.pending.items() if pending.delivered_at <= cutoff]
        return self._redeliver(state, group_state, consumer, stale[:count], topic)

    async def pending_count(self, topic: str, group: str) -> int:
        group_state = self._topic(topic).groups.get(group)
        return len(group_state.pending) if group_state else 0

    async def ping(self) -> None:
        if self._closed:
            raise RuntimeError("in-process bus is closed")

    async def close(self) -> None:
        self._closed = True
        for state in self._topics.values():
            state.arrived.set()
