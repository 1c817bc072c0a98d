from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from trader.core.events import (
    BarClosed,
    EventCodecError,
    OrderApproved,
    OrderDenied,
    SignalEmitted,
    decode_event,
    encode_event,
    registered_event_types,
)
from trader.core.market import Timeframe

MOMENT = datetime(2024, 11, 29, 17, 59, tzinfo=UTC)


def test_decimals_and_times_survive_exactly() -> None:
    event = OrderApproved(
        occurred_at=MOMENT,
        signal_event_id="s",
        decision_id="d",
        symbol="AAPL",
        side="buy",
        quantity=Decimal("0.000000001"),
        order_type="limit",
        limit_price=Decimal("189.990000"),
    )
    text = encode_event(event)
    payload = json.loads(text)
    assert payload["quantity"] == "0.000000001"  # a string: no float on the wire
    assert payload["limit_price"] == "189.990000"
    assert payload["occurred_at"] == "2024-11-29T17:59:00+00:00"
    decoded = decode_event(text)
    assert decoded == event
    assert decoded.limit_price == Decimal("189.990000")  # type: ignore[attr-defined]


def test_optional_and_tuple_fields() -> None:
    denied = OrderDenied(
        occurred_at=MOMENT,
        signal_event_id="s",
        decision_id="d",
        symbol="AAPL",
        side="sell",
        reasons=("A: x", "B: y"),
    )
    assert decode_event(encode_event(denied)) == denied
    approved = OrderApproved(
        occurred_at=MOMENT,
        signal_event_id="s",
        decision_id="d",
        symbol="AAPL",
        side="buy",
        quantity=Decimal(1),
        order_type="market",
    )
    assert decode_event(encode_event(approved)).limit_price is None  # type: ignore[attr-defined]


def test_events_need_aware_utc_times() -> None:
    with pytest.raises(ValueError, match="aware UTC"):
        SignalEmitted(
            occurred_at=datetime(2024, 1, 2, 15, 0),
            strategy_name="x",
            symbol="AAPL",
            timeframe=Timeframe.DAY1,
            bar_at=MOMENT,
            direction="buy",
            strength=Decimal(1),
            price=Decimal(1),
        )
    eastern = timezone(timedelta(hours=-5))
    with pytest.raises(ValueError, match="aware UTC"):
        BarClosed(
            occurred_at=datetime(2024, 1, 2, 10, 0, tzinfo=eastern),
            symbol="A",
            timeframe=Timeframe.DAY1,
            bar_at=MOMENT,
            open=Decimal(1),
            high=Decimal(1),
            low=Decimal(1),
            close=Decimal(1),
            volume=Decimal(1),
            source="t",
        )


def test_every_event_has_its_own_id() -> None:
    first = OrderDenied(
        occurred_at=MOMENT, signal_event_id="s", decision_id="d", symbol="A", side="buy", reasons=()
    )
    second = OrderDenied(
        occurred_at=MOMENT, signal_event_id="s", decision_id="d", symbol="A", side="buy", reasons=()
    )
    assert first.event_id != second.event_id


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"event_type": "Nope"}', "unknown event type"),
        ('{"event_type": "OrderDenied", "occurred_at": "2024-01-01T00:00:00"}', "time zone"),
        ('{"event_type": "OrderDenied", "occurred_at": "2024-01-01T00:00:00+00:00"}', "cannot decode"),
    ],
)
def test_bad_payloads_are_refused_with_a_reason(payload: str, message: str) -> None:
    with pytest.raises(EventCodecError, match=message):
        decode_event(payload)


def test_the_core_events_are_registered() -> None:
    assert {
        "BarClosed",
        "SignalEmitted",
        "OrderApproved",
        "OrderDenied",
        "OrderStatusChanged",
        "TradingStateChanged",
    } <= set(registered_event_types())
