"""Build the broker that settings name: the simulated broker (default) or Alpaca."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.alpaca.broker import AlpacaBroker
from trader.adapters.alpaca.trading_stream import AlpacaOrderUpdates, stream_url_for
from trader.adapters.backoff import ReconnectBackoff
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.db.stores.orders import OrderStore
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.sim_broker import RestoredOrder, SimulatedBroker
from trader.core.broker import Broker, BrokerOrder
from trader.core.order_updates import OrderUpdateStream
from trader.core.ports import Clock
from trader.settings import BrokerKind, Settings


class BrokerSettingsError(ValueError):
    pass


def build_broker(settings: Settings, clock: Clock) -> Broker:
    if settings.broker is BrokerKind.ALPACA:
        if settings.alpaca_api_key is None or settings.alpaca_secret_key is None:
            raise BrokerSettingsError("BROKER=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
        return AlpacaBroker(
            settings.alpaca_api_key.get_secret_value(),
            settings.alpaca_secret_key.get_secret_value(),
            base_url=settings.alpaca_base_url,
            read_timeout_seconds=settings.executor_broker_timeout_seconds,
        )
    return SimulatedBroker(
        clock,
        XNYSCalendar(),
        starting_cash=settings.simulated_starting_cash,
        fill_model=settings.fill_model(),
        participation_rate=settings.simulated_participation_rate,
        fractionable=settings.simulated_fractionable,
    )


def build_order_stream(settings: Settings, clock: Clock) -> OrderUpdateStream | None:
    """The broker's order-update stream, when it has one and it is not switched off: Alpaca's
    trade_updates websocket. The simulated broker has none: its fills come from the price feed
    inside the executor, which takes them into the books itself."""
    if settings.broker is not BrokerKind.ALPACA or not settings.executor_order_stream:
        return None
    if settings.alpaca_api_key is None or settings.alpaca_secret_key is None:
        raise BrokerSettingsError("BROKER=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
    return AlpacaOrderUpdates(
        settings.alpaca_api_key.get_secret_value(),
        settings.alpaca_secret_key.get_secret_value(),
        url=settings.alpaca_trading_stream_url or stream_url_for(settings.alpaca_base_url),
        clock=clock,
        backoff=ReconnectBackoff(
            first_seconds=settings.executor_stream_backoff_first_seconds,
            most_seconds=settings.executor_stream_backoff_most_seconds,
            refused_seconds=settings.executor_stream_refused_seconds,
        ),
    )


async def restore_simulated_broker(
    broker: SimulatedBroker, engine: AsyncEngine, starting_cash: Decimal
) -> None:
    """The simulated account lives in memory: rebuild it from the books before reconciling,
    or reconciliation would 'repair' the books to an empty account after every restart."""
    orders = OrderStore(engine)
    cash = starting_cash + await orders.cash_flow_of_fills()
    positions = [stored.position for stored in await PositionStore(engine).all()]
    live = []
    open_orders = [
        order
        for order in await orders.open_orders()
        if order.broker_order_id is not None and order.broker == broker.name
    ]
    # A bracket's legs name their entry (filled, so no longer open, once the legs work).
    parents: dict[int, str | None] = {}
    for parent_id in {order.parent_trade_id for order in open_orders if order.parent_trade_id is not None}:
        parent = await orders.get(parent_id)
        parents[parent_id] = None if parent is None else parent.broker_order_id
    for order in open_orders:
        assert order.broker_order_id is not None
        live.append(
            RestoredOrder(
                broker_order=BrokerOrder(
                    broker_order_id=order.broker_order_id,
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    side=order.side,
                    quantity=order.quantity,
                    order_type=order.order_type,
                    time_in_force=order.time_in_force,
                    status=order.status,
                    broker_status=order.broker_status or order.status.value,
                    filled_quantity=order.filled_quantity,
                    average_fill_price=order.average_fill_price,
                    submitted_at=order.submitted_at,
                    parent_broker_order_id=None
                    if order.parent_trade_id is None
                    else parents.get(order.parent_trade_id),
                ),
                request=order.to_request(),
            )
        )
    used_ids = await orders.identifiers_of_broker(broker.name)
    broker.restore(cash=cash, positions=positions, orders=live, used_ids=used_ids)
