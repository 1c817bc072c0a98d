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
# Signals judged together on one reading of the books (a 500-symbol minute is a few hundred).
BATCH_SIZE = 500
# Topping a batch up takes what has arrived, without waiting (Redis reads 0 as "block for ever").
TOP_UP_BLOCK_MS = 1


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
            await self.bus.claim_stale(
                SIGNALS, GROUP, self.consumer, min_idle_ms=STALE_AFTER_MS, count=BATCH_SIZE
            )
        )
        if not deliveries:
            deliveries = list(
                await self.bus.read(SIGNALS, GROUP, self.consumer, count=BATCH_SIZE, block_ms=block_ms)
            )
        deliveries += await self._arrived_meanwhile(deliveries)
        done = await self._judge_together(deliveries)
        if done is None:
            # Something in the batch failed: judge one by one, so only the failing signal is
            # retried (the ones already decided find their stored decision and are republished).
            done = [delivery.message_id for delivery in deliveries if await self.handle(delivery)]
        if done:
            await self.bus.ack(SIGNALS, GROUP, done)
        return len(done)

    async def _arrived_meanwhile(self, deliveries: list[Delivery]) -> list[Delivery]:
        """The signals published while the batch waited for the executor. The strategy engine is
        still publishing a minute's signals when the first reach us; judged with the batch, they
        share its reading of the books instead of each small batch paying for its own."""
        signals = _signals(deliveries)
        room = BATCH_SIZE - len(deliveries)
        if not signals or room <= 0:
            return []
        try:
            await self.manager.wait_for_executor(signals)
            more = await self.bus.read(SIGNALS, GROUP, self.consumer, count=room, block_ms=TOP_UP_BLOCK_MS)
        except Exception:
            # Judging the batch read so far meets the same failure and deals with it.
            log.warning("could not top up the batch of %d signals", len(signals), exc_info=True)
            return []
        # A consumer's first read hands back what it holds unacknowledged, which includes what it
        # has just claimed from a stale consumer: those are in the batch already.
        have = {delivery.message_id for delivery in deliveries}
        return [delivery for delivery in more if delivery.message_id not in have]

    async def _judge_together(self, deliveries: list[Delivery]) -> list[str] | None:
        """Judge the batch's signals on one reading of the books; None when that failed."""
        signals = _signals(deliveries)
        if not signals:
            return None
        try:
            await self.manager.judge_batch(signals)
        except Exception:
            log.warning(
                "judging %d signals together failed; judging them one by one", len(signals), exc_info=True
            )
            return None
        for delivery in deliveries:
            if not isinstance(delivery.event, SignalEmitted):
                await self.handle(delivery)  # logs what it ignores
        return [delivery.message_id for delivery in deliveries]

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


def _signals(deliveries: list[Delivery]) -> list[SignalEmitted]:
    return [delivery.event for delivery in deliveries if isinstance(delivery.event, SignalEmitted)]
