"""Reading Alpaca trade updates (pure: no socket) and the reconnect backoff."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from trader.adapters.alpaca.trading_stream import UnusableMessageError, update_from
from trader.adapters.backoff import ReconnectBackoff
from trader.core.orders import OrderStatus

AT = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
# The documented example (Alpaca's "Websocket Streaming" page), for a stock.
FILL: dict[str, Any] = {
    "event": "fill",
    "execution_id": "2f63ea93-423d-4169-b3f6-3fdafc10c418",
    "order": {
        "id": "a5be8f5e-fdfa-41f5-a644-7a74fe947a8f",
        "client_order_id": "4642fd68-d59a-47d7-a9ac-e22f536828d1",
        "created_at": "2022-04-19T13:45:04.981350886-04:00",
        "filled_at": "2022-04-19T17:45:05.024916716Z",
        "filled_avg_price": "105.8988475",
        "filled_qty": "1790.86",
        "order_class": "",
        "order_type": "market",
        "qty": "1790.86",
        "side": "sell",
        "status": "filled",
        "submitted_at": "2022-04-19T13:45:04.980944666-04:00",
        "symbol": "AAPL",
        "time_in_force": "gtc",
        "type": "market",
        "updated_at": "2022-04-19T13:45:05.027690731-04:00",
    },
    "position_qty": "0",
    "price": "105.8988475",
    "qty": "1790.86",
    "timestamp": "2022-04-19T17:45:05.024916716Z",
}


def test_the_documented_fill_reads_as_an_update_with_its_execution() -> None:
    update = update_from(FILL, received_at=AT)
    assert (update.event, update.order.status) == ("fill", OrderStatus.FILLED)
    assert update.fill is not None
    assert update.fill.price == Decimal("105.8988475") and update.fill.quantity == Decimal("1790.86")
    assert update.fill.cumulative_quantity == Decimal("1790.86")
    assert update.fill.execution_id == FILL["execution_id"]
    assert update.fill.broker_order_id == FILL["order"]["id"]
    assert update.position_quantity == 0
    assert update.at.tzinfo is not None and update.at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event": "teleported"}, "unknown event"),
        ({"price": "0"}, "impossible fill"),
        ({"qty": "2000"}, "impossible fill"),
        ({"price": "NaN"}, "cannot be read"),
        ({"execution_id": None}, "without execution_id"),
        ({"order": {**FILL["order"], "status": "vaporised"}}, "cannot be read"),
        ({"order": "not an order"}, "cannot be read"),
        ({"timestamp": "yesterday"}, "cannot be read"),
    ],
)
def test_an_update_that_does_not_add_up_is_refused_with_the_reason(
    change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(UnusableMessageError, match=reason):
        update_from({**FILL, **change}, received_at=AT)


def test_backoff_grows_to_its_cap_with_jitter_and_refusals_wait_longer() -> None:
    low = ReconnectBackoff(first_seconds=1, most_seconds=30, refused_seconds=60, uniform=lambda: 0.0)
    high = ReconnectBackoff(first_seconds=1, most_seconds=30, refused_seconds=60, uniform=lambda: 1.0)
    assert [low.delay(n) for n in (1, 2, 3, 6, 20)] == [0.5, 1.0, 2.0, 15.0, 15.0]
    assert [high.delay(n) for n in (1, 2, 3, 6, 20)] == [1.0, 2.0, 4.0, 30.0, 30.0]
    assert [high.delay(n, refused=True) for n in (1, 2, 5, 20)] == [60.0, 120.0, 600.0, 600.0]
    with pytest.raises(ValueError, match="first_seconds"):
        ReconnectBackoff(first_seconds=5, most_seconds=1)
