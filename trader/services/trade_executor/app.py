"""Trade Executor service (port 8004).

Two workers: one consumes `OrderApproved` from the decisions topic (consumer group
"trade_executor") and submits each exactly once; the other reconciles with the broker at start-up
(before any new order is taken) and then every `executor_reconcile_interval_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import timedelta

from fastapi import FastAPI

from trader.adapters.db.stores.orders import OrderStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.adapters.sim_broker import SimulatedBroker
from trader.core.broker import Broker, BrokerError
from trader.core.events import OrderApproved
from trader.core.topics import DECISIONS
from trader.runtime.brokers import build_broker, restore_simulated_broker
from trader.services.common.app_factory import build_service_app
from trader.services.common.resources import Resources
from trader.services.trade_executor.handlers import ExecutorConfig, TradeExecutor
from trader.services.trade_executor.routes import build_router

SERVICE = "trade_executor"
CONSUMER_GROUP = "trade_executor"
STALE_DELIVERY_MS = 60_000
log = logging.getLogger(f"trader.services.{SERVICE}")


def create_app(resources: Resources, *, broker: Broker | None = None) -> FastAPI:
    settings = resources.settings
    broker = broker or build_broker(settings, resources.clock)
    executor = TradeExecutor(
        broker=broker,
        orders=OrderStore(resources.engine),
        positions=PositionStore(resources.engine),
        trading_state=TradingStateStore(resources.engine),
        clock=resources.clock,
        bus=resources.bus,
        config=ExecutorConfig(
            stuck_after=timedelta(seconds=settings.executor_stuck_order_seconds),
            drift_threshold=settings.executor_drift_threshold_usd,
            submit_attempts=settings.executor_submit_attempts,
        ),
    )
    ready = asyncio.Event()

    async def reconciliation() -> None:
        try:
            if isinstance(broker, SimulatedBroker):
                await restore_simulated_broker(broker, resources.engine, settings.simulated_starting_cash)
            report = await executor.reconcile(startup=True)
            log.info("start-up reconciliation: %s", report.as_dict())
        except Exception:  # the service still answers; the next pass tries again
            log.exception("start-up reconciliation failed")
        finally:
            ready.set()
        while True:
            await asyncio.sleep(settings.executor_reconcile_interval_seconds)
            try:
                await executor.reconcile()
            except Exception:
                log.exception(
                    "reconciliation failed; retrying in %ss", settings.executor_reconcile_interval_seconds
                )

    async def approved_orders() -> None:
        await ready.wait()
        consumer = f"{SERVICE}-{socket.gethostname()}-{os.getpid()}"
        await resources.bus.ensure_group(DECISIONS, CONSUMER_GROUP)
        while True:
            try:
                stale = await resources.bus.claim_stale(
                    DECISIONS, CONSUMER_GROUP, consumer, min_idle_ms=STALE_DELIVERY_MS, count=10
                )
                deliveries = [
                    *stale,
                    *await resources.bus.read(DECISIONS, CONSUMER_GROUP, consumer, count=10),
                ]
            except Exception:
                log.exception("cannot read %s; retrying", DECISIONS)
                await asyncio.sleep(1)
                continue
            for delivery in deliveries:
                if isinstance(delivery.event, OrderApproved):
                    try:
                        await executor.execute_approved(delivery.event)
                    except BrokerError as error:
                        # Left unacknowledged: redelivered, and the intent row makes that safe.
                        executor.last_error = f"{type(error).__name__}: {error}"
                        log.warning("order for %s not finished: %s", delivery.event.symbol, error)
                        continue
                    except Exception:
                        log.exception("order for %s failed", delivery.event.symbol)
                        continue
                await resources.bus.ack(DECISIONS, CONSUMER_GROUP, [delivery.message_id])

    app = build_service_app(
        SERVICE,
        resources,
        title="Trade Executor",
        routers=[build_router()],
        workers=[reconciliation, approved_orders],
    )
    app.state.executor = executor
    return app
