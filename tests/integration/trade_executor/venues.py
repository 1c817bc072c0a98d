"""One test surface over both brokers: the simulated broker and Alpaca through its HTTP emulator.

A venue lets a test set a price, let the market trade (fill what can fill), make one symbol's close
fail, and read the broker's own truth, so the same contract test runs against either adapter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from tests.emulators.alpaca import AlpacaEmulator
from trader.adapters.alpaca.broker import AlpacaBroker
from trader.adapters.calendar import XNYSCalendar
from trader.adapters.clock import SimulatedClock
from trader.adapters.sim_broker import SimulatedBroker
from trader.core.broker import Broker
from trader.core.fills import FillModel
from trader.core.market import Bar, Timeframe
from trader.core.positions import Position

MARKET_OPEN_AT = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York


class Venue(Protocol):
    broker: Broker

    def set_price(self, symbol: str, price: Decimal) -> None: ...

    def trade(self) -> None:
        """Let the market move on: every order that can fill now fills."""
        ...

    def fail_closing(self, symbol: str) -> None: ...

    def hold(self, symbol: str, quantity: Decimal, price: Decimal) -> None:
        """The broker holds a position our books know nothing of."""
        ...

    def order_count(self) -> int: ...


class SimulatedVenue:
    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        # Frictionless, like the Alpaca emulator's fills at the set price: one contract, two venues.
        self.sim = SimulatedBroker(
            clock,
            XNYSCalendar(),
            starting_cash=Decimal(100_000),
            participation_rate=Decimal(1),
            fill_model=FillModel.frictionless(),
        )
        self.broker: Broker = self.sim
        self._prices: dict[str, Decimal] = {}

    def _bar(self, symbol: str, price: Decimal, at: datetime) -> Bar:
        return Bar(symbol, Timeframe.MINUTE1, at, price, price, price, price, Decimal(1_000_000))

    def set_price(self, symbol: str, price: Decimal) -> None:
        self._prices[symbol] = price
        # A bar that closed just now: it names the price without filling anything placed after it.
        self.sim.on_bar(self._bar(symbol, price, self.clock.now() - timedelta(minutes=1)))

    def trade(self) -> None:
        start = self.clock.now()
        self.clock.advance_by(timedelta(minutes=1))
        for symbol, price in self._prices.items():
            self.sim.on_bar(self._bar(symbol, price, start))

    def fail_closing(self, symbol: str) -> None:
        self.sim.set_tradable(symbol, False)

    def hold(self, symbol: str, quantity: Decimal, price: Decimal) -> None:
        self.set_price(symbol, price)
        held = [Position(symbol, quantity, price)]
        self.sim.restore(cash=Decimal(100_000), positions=held)

    def order_count(self) -> int:
        return len(self.sim._orders)


class AlpacaVenue:
    def __init__(self, emulator: AlpacaEmulator, base_url: str, *, read_timeout_seconds: float = 0.5) -> None:
        self.emulator = emulator
        self.broker: Broker = AlpacaBroker(
            emulator.api_key,
            emulator.secret_key,
            base_url=base_url,
            read_timeout_seconds=read_timeout_seconds,
        )

    def set_price(self, symbol: str, price: Decimal) -> None:
        self.emulator.set_price(symbol, price)

    def trade(self) -> None:
        self.emulator.fill_pending()

    def fail_closing(self, symbol: str) -> None:
        self.emulator.fail_close_position(symbol)

    def hold(self, symbol: str, quantity: Decimal, price: Decimal) -> None:
        self.emulator.set_position(symbol, quantity, price)

    def order_count(self) -> int:
        return self.emulator.order_count()
