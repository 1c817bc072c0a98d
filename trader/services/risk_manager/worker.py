"""The risk manager's consumer: signals in, one recorded decision each, acknowledged only after.

A signal is acknowledged once its decision is stored and published; if the process dies before
that, the bus hands it out again and the stored decision (found by the signal's event id) is
published again instead of judging twice. A signal that keeps failing is set aside after
MAX_DELIVERIES attempts, with the error logged, so one bad message cannot stall the queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from trader.core.events import SignalEmitted
from trader.core.ports import Delivery, MessageBus
from trader.core.topics import SIGNALS
from trader.services.risk_manager.handlers import RiskManager

log = logging.getLogger(__name__)

GROUP = "risk_manager"
MAX_DELIVERIES = 5
# A signal read by a worker that then went silent this long is taken over by another.
STALE_AFTER_MS = 60_000
RETRY_PAUSE_SECONDS = 1.0


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class SignalWorker:
    def __init__(self, manager: RiskManager, bus: MessageBus, consumer: str | None = None) -> None:
        self.manager = manager
        self.bus = bus
        self.consumer = consumer or consumer_name()

    async def handle(self, delivery: Delivery) -> bool:
        """Judge one delivery; True when it may be acknowledged."""
        event = delivery.event
        if not isinstance(event, SignalEmitted):
            log.warning(
                "ignoring %s %s on %s: the risk manager judges SignalEmitted only",
                type(event).__name__,
                event.event_id,
                delivery.topic,
            )
            return True
        try:
            await self.manager.judge(event)
        except Exception:
            if delivery.delivery_count >= MAX_DELIVERIES:
                log.exception(
                    "signal %s (%s %s) failed %d times; set aside without a decision, no order sent",
                    event.event_id,
                    event.strategy_name,
                    event.symbol,
                    delivery.delivery_count,
                )
                return True
            log.exception(
                "signal %s (%s %s) failed on delivery %d; it will be retried",
                event.event_id,
                event.strategy_name,
                event.symbol,
                delivery.delivery_count,
            )
            return False
        return True

    async def run_once(self, block_ms: int = 1000) -> int:
        """Read and judge one batch (stale ones first); returns how many were acknowledged."""
        deliveries = list(
            await self.bus.claim_stale(SIGNALS, GROUP, self.consumer, min_idle_ms=STALE_AFTER_MS, count=20)
        )
        if not deliveries:
            deliveries = list(await self.bus.read(SIGNALS, GROUP, self.consumer, count=20, block_ms=block_ms))
        done = []
        for delivery in deliveries:
            if await self.handle(delivery):
                done.append(delivery.message_id)
        if done:
            await self.bus.ack(SIGNALS, GROUP, done)
        return len(done)

    async def run(self) -> None:
        await self.bus.ensure_group(SIGNALS, GROUP)
        log.info("risk manager consuming %s as %s/%s", SIGNALS, GROUP, self.consumer)
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the bus or database is down: say so, wait, carry on
                log.exception("risk manager consumer loop failed; retrying in %.0fs", RETRY_PAUSE_SECONDS)
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                await self._ensure_group()

    async def _ensure_group(self) -> None:
        # The stream may have been deleted (Redis flushed or restored): recreate the group.
        try:
            await self.bus.ensure_group(SIGNALS, GROUP)
        except Exception:
            log.warning("cannot create consumer group %s on %s yet", GROUP, SIGNALS, exc_info=True)
