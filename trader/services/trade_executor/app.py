"""Trade Executor service (port 8004).

Two workers: one consumes `OrderApproved` from the decisions topic (consumer group
"trade_executor") and submits each exactly once; the other reconciles with the broker at start-up
(before any new order is taken) and then every `executor_reconcile_interval_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from fastapi import FastAPI

from trader.adapters.db.stores.orders import OrderStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.system_flags import BarsAppliedStore, MaintenanceGate, SystemFlagsStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.adapters.sim_broker import SimulatedBroker
from trader.core.broker import Broker, BrokerError
from trader.core.events import BarClosed, Event, OrderApproved, bar_from_event
from trader.core.topics import BARS, DECISIONS
from trader.runtime.brokers import build_broker, restore_simulated_broker
from trader.services.common.app_factory import build_service_app
from trader.services.common.consumers import consume, consumer_name
from trader.services.common.metrics import notification_metrics, order_metrics
from trader.services.common.notifications import dispatcher_from_settings, reconciliation_drift
from trader.services.common.resources import Resources
from trader.services.trade_executor.handlers import ExecutorConfig, ReconciliationReport, TradeExecutor
from trader.services.trade_executor.routes import build_router

SERVICE = "trade_executor"
CONSUMER_GROUP = "trade_executor"
PRICE_GROUP = "trade_executor_prices"
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

    async def handle_approval(event: Event) -> None:
        if not isinstance(event, OrderApproved):
            return
        try:
            await executor.execute_approved(event)
        except BrokerError as error:
            # Left pending: redelivered, and the persisted intent makes the retry safe.
            executor.last_error = f"{type(error).__name__}: {error}"
            raise

    async def approved_orders() -> None:
        await ready.wait()
        await consume(
            resources.bus,
            DECISIONS,
            CONSUMER_GROUP,
            handle_approval,
            consumer=consumer_name(SERVICE),
            batch=10,
            stale_after_ms=STALE_DELIVERY_MS,
        )

    workers = [reconciliation, approved_orders]
    if isinstance(broker, SimulatedBroker):
        simulated = broker
        bars_applied = BarsAppliedStore(resources.engine)

        async def apply_bar(event: BarClosed) -> None:
            # The simulated broker fills against the same bars the strategies saw, as the backtester does.
            # Bars come session by session; expiry follows the bars (on_bar), not the wall of the
            # replay clock, which has usually moved past the close before a session's bars are in.
            open_before = simulated.open_order_ids()
            fills = simulated.on_bar(bar_from_event(event))
            open_after = simulated.open_order_ids()
            # Only the orders this bar filled, expired or closed: one bar of 500 must not cost a
            # full reconciliation each (the periodic one still runs).
            touched = (open_before - open_after) | {fill.broker_order_id for fill in fills}
            if touched and not await executor.sync_broker_orders(touched):
                await executor.reconcile()

        async def price_feed() -> None:
            await ready.wait()
            await consume_bars(resources, apply_bar, bars_applied)

        workers.append(price_feed)

    app = build_service_app(
        SERVICE,
        resources,
        title="Trade Executor",
        routers=[build_router()],
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
    return app


async def consume_bars(
    resources: Resources,
    apply_bar: Callable[[BarClosed], Awaitable[None]],
    bars_applied: BarsAppliedStore,
    *,
    batch: int = 500,
    max_deliveries: int = 10,
) -> None:
    """The price feed: each read batch of bars applied one by one, then the bars applied recorded in
    one transaction (the risk manager judges a session's signals only once its fills are in the
    books), then acknowledged. A bar that fails stays pending for a retry, as with `consume`,
    and is dropped with an error after `max_deliveries`."""
    bus = resources.bus
    consumer = consumer_name(SERVICE)
    await bus.ensure_group(BARS, PRICE_GROUP)
    while True:
        try:
            stale = await bus.claim_stale(BARS, PRICE_GROUP, consumer, min_idle_ms=60_000, count=batch)
            deliveries = [*stale, *await bus.read(BARS, PRICE_GROUP, consumer, count=batch, block_ms=1000)]
        except asyncio.CancelledError:
            raise
        except Exception:  # the bus is down: say so and try again, never spin
            log.exception("cannot read %s for %s; retrying in 1s", BARS, PRICE_GROUP)
            await asyncio.sleep(1.0)
            continue
        done: list[str] = []
        applied: dict[str, datetime] = {}
        for delivery in deliveries:
            event = delivery.event
            if isinstance(event, BarClosed):
                try:
                    await apply_bar(event)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if delivery.delivery_count < max_deliveries:
                        log.exception(
                            "bar %s on %s failed; it stays pending for a retry", event.event_id, BARS
                        )
                        continue
                    log.error("dropping bar %s after %d failed deliveries", event.event_id, max_deliveries)
                else:
                    applied[event.symbol] = max(event.bar_at, applied.get(event.symbol, event.bar_at))
            done.append(delivery.message_id)
        try:
            await bars_applied.record_many(applied, resources.clock.now())
            if done:
                await bus.ack(BARS, PRICE_GROUP, done)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recording %d applied bars failed; they stay pending", len(applied))
            await asyncio.sleep(1.0)
