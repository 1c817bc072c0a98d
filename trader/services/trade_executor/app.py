"""Trade Executor service (port 8004).

Workers: one consumes `OrderApproved` from the decisions topic (consumer group "trade_executor")
and submits each exactly once; one reconciles with the broker at start-up (before any new order is
taken) and then every `executor_reconcile_interval_seconds`; the account recorder reads the broker's
account (at start, every minute in the session, after fills) and its assets; one acts on commands
(close everything when a breaker flattens). With Alpaca one more listens to the broker's order
updates (reconciling after every connect); with the simulated broker, a price feed fills its
orders from the bars.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from fastapi import FastAPI

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import WallClock
from trader.adapters.db.stores.audit import AuditStore
from trader.adapters.db.stores.orders import OrderStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.system_flags import BarsAppliedStore, MaintenanceGate, SystemFlagsStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.adapters.sim_broker import SimulatedBroker
from trader.core.broker import Broker, BrokerError
from trader.core.events import Event, OrderApproved
from trader.core.order_updates import OrderUpdateStream
from trader.core.topics import DECISIONS
from trader.runtime.brokers import build_broker, build_order_stream, restore_simulated_broker
from trader.services.common.app_factory import build_service_app
from trader.services.common.consumers import consume, consumer_name
from trader.services.common.health import ComponentCheck
from trader.services.common.metrics import notification_metrics, order_metrics
from trader.services.common.notifications import dispatcher_from_settings, reconciliation_drift
from trader.services.common.resources import Resources
from trader.services.common.timeframes import base_timeframe
from trader.services.trade_executor.account import AccountRecorder
from trader.services.trade_executor.commands import CommandHandler
from trader.services.trade_executor.handlers import ExecutorConfig, ReconciliationReport, TradeExecutor
from trader.services.trade_executor.order_updates import stream_health
from trader.services.trade_executor.price_feed import SimulatedPriceFeed, consume_bars
from trader.services.trade_executor.routes import build_router

SERVICE = "trade_executor"
CONSUMER_GROUP = "trade_executor"
STALE_DELIVERY_MS = 60_000
# Decisions submitted together: one reading of the books and one transaction of intents per read.
APPROVAL_BATCH = 200
log = logging.getLogger(f"trader.services.{SERVICE}")


def account_wall_gap_seconds(clock: object, broker: Broker, interval_seconds: float) -> float:
    """The least wall time between two periodic readings of the broker's account.

    On the replay clock a simulated minute lasts milliseconds: the simulated account changes only as
    bars are applied (each read then) and fills come (each read then), so the periodic reading keeps
    to one an interval of wall time, or the table would grow by one row a second. A live broker's
    account changes at the broker, and the risk manager refuses an order when the newest reading is
    older than RISK_ACCOUNT_MAX_AGE_SECONDS of the clock: on an accelerated live clock
    (LIVE_CLOCK_SPEED) the readings keep to the clock, or every order not right after a fill is
    refused as ACCOUNT_STALE."""
    if isinstance(clock, WallClock) or not isinstance(broker, SimulatedBroker):
        return 0.0
    return interval_seconds


def order_update_worker(
    executor: TradeExecutor, stream: OrderUpdateStream, ready: asyncio.Event
) -> Callable[[], Coroutine[Any, Any, None]]:
    """The worker that listens to the broker's order updates once start-up reconciliation is done."""

    async def order_updates() -> None:
        await ready.wait()
        try:
            await stream.run(executor.order_updates)
        finally:
            await executor.order_updates.close()

    return order_updates


def create_app(
    resources: Resources, *, broker: Broker | None = None, order_stream: OrderUpdateStream | None = None
) -> FastAPI:
    settings = resources.settings
    broker = broker or build_broker(settings, resources.clock)
    order_stream = order_stream or build_order_stream(settings, resources.clock)
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

    async def handle_approvals(events: Sequence[Event]) -> None:
        try:
            await executor.execute_approved_batch(
                [event for event in events if isinstance(event, OrderApproved)]
            )
        except BrokerError as error:
            # Left pending: redelivered, and the persisted intents make the retry safe.
            executor.last_error = f"{type(error).__name__}: {error}"
            raise

    async def handle_approval(event: Event) -> None:
        await handle_approvals([event])

    async def approved_orders() -> None:
        await ready.wait()
        await consume(
            resources.bus,
            DECISIONS,
            CONSUMER_GROUP,
            handle_approval,
            batch_handler=handle_approvals,
            consumer=consumer_name(SERVICE),
            batch=APPROVAL_BATCH,
            stale_after_ms=STALE_DELIVERY_MS,
        )

    recorder = AccountRecorder(
        broker=broker,
        engine=resources.engine,
        clock=resources.clock,
        calendar=XNYSCalendar(),
        interval=timedelta(seconds=settings.account_snapshot_seconds),
        idle_interval=timedelta(seconds=settings.account_snapshot_idle_seconds),
        default_symbols=[s.strip().upper() for s in settings.data_watchlist.split(",") if s.strip()],
        min_wall_gap_seconds=account_wall_gap_seconds(
            resources.clock, broker, settings.account_snapshot_seconds
        ),
    )
    commands = CommandHandler(
        executor, TradingStateStore(resources.engine), AuditStore(resources.engine), resources.clock
    )

    async def account_readings() -> None:
        await ready.wait()  # the simulated broker is restored from the books first
        await recorder.run_periodic()

    async def account_after_fills() -> None:
        await ready.wait()
        await recorder.consume_fills(resources.bus, consumer=consumer_name(SERVICE))

    async def executor_commands() -> None:
        await ready.wait()
        await commands.run(resources.bus, consumer=consumer_name(SERVICE))

    workers = [reconciliation, approved_orders, account_readings, account_after_fills, executor_commands]
    if isinstance(broker, SimulatedBroker):
        feed = SimulatedPriceFeed(broker, executor, base_timeframe(settings))
        bars_applied = BarsAppliedStore(resources.engine)

        async def price_feed() -> None:
            await ready.wait()
            await consume_bars(
                resources,
                feed,
                bars_applied,
                consumer=consumer_name(SERVICE),
                after_settle=lambda: recorder.record("bars applied"),
            )

        workers.append(price_feed)

    # Degraded, not down: without a fresh reading the risk manager refuses new risk by itself.
    components = [ComponentCheck("broker_account", recorder.health, critical=False)]
    if order_stream is not None:
        workers.append(order_update_worker(executor, order_stream, ready))
        # Not critical: reconciliation still brings the broker's truth, only later.
        components.append(
            ComponentCheck("order_updates", partial(stream_health, order_stream), critical=False)
        )
    executor.order_stream = order_stream

    app = build_service_app(
        SERVICE,
        resources,
        title="Trade Executor",
        routers=[build_router()],
        components=components,
        workers=workers,
    )
    executor.metrics = order_metrics(app.state.metrics)
    dispatcher = dispatcher_from_settings(
        settings, resources.http, metrics=notification_metrics(app.state.metrics)
    )

    async def notify_drift(report: ReconciliationReport) -> None:
        differences = {f"order {index + 1}": text for index, text in enumerate(report.order_drifts)}
        differences.update(
            {f"position {index + 1}": text for index, text in enumerate(report.position_drifts)}
        )
        await dispatcher.notify(reconciliation_drift(resources.clock.now(), differences=differences))

    executor.on_drift = notify_drift
    executor.maintenance = MaintenanceGate(SystemFlagsStore(resources.engine))
    app.state.executor = executor
    app.state.account_recorder = recorder
    return app
