"""The one consumer loop every service uses to take events off the bus.

Messages are acknowledged only after the handler returns; a handler that raises leaves the
message pending, and it comes back (to this worker after `claim_stale`, or to a sibling in the
same consumer group). A message that keeps failing is dropped after `max_deliveries` with an
error in the log, so one poison event cannot stall a topic forever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence

from trader.core.events import Event
from trader.core.ports import Delivery, MessageBus

log = logging.getLogger(__name__)

EventHandler = Callable[[Event], Awaitable[None]]
BatchHandler = Callable[[Sequence[Event]], Awaitable[None]]


def consumer_name(service: str) -> str:
    """Unique per process, stable for its lifetime: Redis keeps pending messages per consumer."""
    return f"{service}-{socket.gethostname()}-{os.getpid()}"


async def consume(
    bus: MessageBus,
    topic: str,
    group: str,
    handler: EventHandler,
    *,
    consumer: str,
    batch: int = 50,
    block_ms: int = 1000,
    stale_after_ms: int = 60_000,
    max_deliveries: int = 10,
    retry_pause_seconds: float = 1.0,
    batch_handler: BatchHandler | None = None,
) -> None:
    """Run until cancelled.

    With `batch_handler`, each read is handled by one call of it and acknowledged together; if
    that call fails, the read's messages are handled one by one with `handler`, so only a
    failing message stays pending (a handler must therefore be safe to run again on the same
    event, as every handler here is: each finds what an earlier attempt recorded)."""
    await bus.ensure_group(topic, group)
    while True:
        deliveries = await next_deliveries(
            bus,
            topic,
            group,
            consumer,
            count=batch,
            block_ms=block_ms,
            stale_after_ms=stale_after_ms,
            retry_pause_seconds=retry_pause_seconds,
        )
        if batch_handler is not None and deliveries:
            try:
                await batch_handler([delivery.event for delivery in deliveries])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "handling %d messages of %s together failed; handling them one by one",
                    len(deliveries),
                    topic,
                    exc_info=True,
                )
            else:
                await bus.ack(topic, group, [delivery.message_id for delivery in deliveries])
                continue
        for delivery in deliveries:
            await _handle(bus, topic, group, handler, delivery, max_deliveries)


async def next_deliveries(
    bus: MessageBus,
    topic: str,
    group: str,
    consumer: str,
    *,
    count: int,
    block_ms: int = 1000,
    stale_after_ms: int = 60_000,
    retry_pause_seconds: float = 1.0,
) -> list[Delivery]:
    """What a consumer handles next: messages a silent consumer left pending for `stale_after_ms`
    first, then new ones. When the bus cannot be read this says so, pauses and answers nothing,
    so a consumer loop never spins."""
    try:
        stale = await bus.claim_stale(topic, group, consumer, min_idle_ms=stale_after_ms, count=count)
        return [*stale, *await bus.read(topic, group, consumer, count=count, block_ms=block_ms)]
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("cannot read %s for %s; retrying in %ss", topic, group, retry_pause_seconds)
        await asyncio.sleep(retry_pause_seconds)
        return []


async def _handle(
    bus: MessageBus, topic: str, group: str, handler: EventHandler, delivery: Delivery, max_deliveries: int
) -> None:
    try:
        await handler(delivery.event)
    except asyncio.CancelledError:
        raise
    except Exception:
        if delivery.delivery_count >= max_deliveries:
            log.error(
                "dropping %s %s on %s after %d failed deliveries",
                delivery.event.event_type,
                delivery.event.event_id,
                topic,
                delivery.delivery_count,
                exc_info=True,
            )
            await bus.ack(topic, group, [delivery.message_id])
        else:
            log.exception(
                "%s %s on %s failed (delivery %d); it stays pending for a retry",
                delivery.event.event_type,
                delivery.event.event_id,
                topic,
                delivery.delivery_count,
            )
        return
    await bus.ack(topic, group, [delivery.message_id])
