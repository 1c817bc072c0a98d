"""Fault injection on the Alpaca HTTP emulator: nothing lost, nothing doubled, books equal the broker."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.faults import Fault
from tests.emulators.server import EmulatorServer
from tests.integration.trade_executor.conftest import Books
from tests.integration.trade_executor.test_executor_contract import approval, assert_books_equal_broker
from tests.integration.trade_executor.venues import AlpacaVenue
from trader.adapters.clock import SimulatedClock
from trader.core.orders import OrderStatus


@pytest.fixture
def venue(alpaca: AlpacaEmulator, alpaca_server: EmulatorServer) -> AlpacaVenue:
    # Overrides the conftest's parametrised venue; its `books` fixture builds the executor over this one.
    return AlpacaVenue(alpaca, alpaca_server.base_url, read_timeout_seconds=0.3)


def order_posts(alpaca: AlpacaEmulator) -> int:
    return sum(1 for r in alpaca.requests if r.method == "POST" and r.path == "/v2/orders")


@pytest.mark.parametrize(
    ("fault", "posts"),
    [
        # accepted, then answered 500: found by client_order_id, never re-sent
        (Fault(status=500, after_processing=True, method="POST", path="/v2/orders"), 1),
        # accepted, answer held past the client's timeout: found, never re-sent
        (Fault(delay_seconds=1.0, after_processing=True, method="POST", path="/v2/orders"), 1),
        # 429 without processing: look-up finds nothing, so the same id is sent again
        (Fault(status=429, method="POST", path="/v2/orders"), 2),
        # 504 without processing, twice: two look-ups, the third send gets through
        (Fault(status=504, method="POST", path="/v2/orders", times=2), 3),
    ],
    ids=["accepted-then-500", "timeout", "429", "504-twice"],
)
async def test_unanswered_submission_ends_in_exactly_one_order(
    books: Books, venue: AlpacaVenue, alpaca: AlpacaEmulator, fault: Fault, posts: int
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    alpaca.inject(fault)

    result = await books.executor.execute_approved(approval())
    alpaca.fill_pending()
    await books.executor.reconcile()

    assert result.order is not None
    assert alpaca.order_count() == 1
    assert order_posts(alpaca) == posts
    lookups = [r for r in alpaca.requests if r.path == "/v2/orders:by_client_order_id"]
    assert len(lookups) == posts - 1 + (1 if fault.after_processing else 0)
    order = await books.executor.orders.get(result.order.id)
    assert order is not None and order.status is OrderStatus.FILLED
    assert alpaca.position_qty("AAPL") == Decimal(10)
    await assert_books_equal_broker(books, venue)


async def test_an_order_never_answered_stays_submitted_then_is_resolved_by_reconciliation(
    books: Books, venue: AlpacaVenue, alpaca: AlpacaEmulator, clock: SimulatedClock
) -> None:
    alpaca.set_price("AAPL", Decimal("100"))
    alpaca.inject(Fault(status=503, method="POST", path="/v2/orders", times=3))

    result = await books.executor.execute_approved(approval())
    assert result.order is not None
    waiting = await books.executor.orders.get(result.order.id)
    assert waiting is not None and waiting.status is OrderStatus.SUBMITTED

    clock.advance_by(timedelta(minutes=3))
    report = await books.executor.reconcile()

    resolved = await books.executor.orders.get(result.order.id)
    assert report.stuck_resolved == 1
    assert resolved is not None and resolved.status is OrderStatus.CANCELED
    assert resolved.error_message is not None and "never reached it" in resolved.error_message
    assert alpaca.order_count() == 0
