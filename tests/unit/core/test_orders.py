from __future__ import annotations

import itertools

import pytest

from trader.core.orders import (
    BROKER_STATUS_MAP,
    TERMINAL_STATUSES,
    TRANSITIONS,
    IllegalTransitionError,
    OrderStatus,
    UnknownBrokerStatusError,
    can_transition,
    status_from_broker,
    transition,
)

ALPACA_STATUSES = [
    "new",
    "partially_filled",
    "filled",
    "done_for_day",
    "canceled",
    "expired",
    "replaced",
    "pending_cancel",
    "pending_replace",
    "accepted",
    "pending_new",
    "accepted_for_bidding",
    "stopped",
    "rejected",
    "suspended",
    "calculated",
    "held",
    "pending_review",
]


def test_every_status_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_terminal_statuses_have_no_way_out(status: OrderStatus) -> None:
    for target in OrderStatus:
        with pytest.raises(IllegalTransitionError, match=f"{status.value} -> {target.value}"):
            transition(status, target, order_ref="c-1")


def test_the_normal_life_of_an_order() -> None:
    path = [
        OrderStatus.PENDING,
        OrderStatus.SUBMITTED,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
    ]
    for current, following in itertools.pairwise(path):
        assert transition(current, following) is following


def test_a_fill_cannot_be_undone() -> None:
    assert not can_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.ACCEPTED)
    assert not can_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.SUBMITTED)
    assert not can_transition(OrderStatus.ACCEPTED, OrderStatus.PENDING)


def test_reconciliation_may_find_a_pending_intent_in_any_broker_state() -> None:
    # After a crash between persisting the intent and hearing back, the broker's truth wins.
    for status in (
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.REJECTED,
    ):
        assert can_transition(OrderStatus.PENDING, status)


@pytest.mark.parametrize("broker_status", ALPACA_STATUSES)
def test_every_alpaca_status_maps_onto_ours(broker_status: str) -> None:
    assert isinstance(status_from_broker(broker_status), OrderStatus)
    assert status_from_broker(broker_status.upper()) is status_from_broker(broker_status)


def test_alpaca_statuses_are_all_known_and_nothing_else() -> None:
    assert set(BROKER_STATUS_MAP) == set(ALPACA_STATUSES)


def test_an_unknown_broker_status_is_refused_loudly() -> None:
    with pytest.raises(UnknownBrokerStatusError, match="teleported"):
        status_from_broker("teleported")


def test_the_guide_status_values() -> None:
    assert {"pending", "submitted", "rejected", "filled", "partially_filled", "canceled"} <= {
        status.value for status in OrderStatus
    }
