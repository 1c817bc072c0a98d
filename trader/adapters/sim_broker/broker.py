"""A broker simulated in memory with the backtester's fill model.

The caller feeds it prices (`on_bar` for bars, `set_quote` for bid/ask) and it fills the live
orders against them:

- bars: a market order fills on the first bar that was still open when the order arrived, at
  that bar's open (`FillRule.NEXT_OPEN`) or close (`FillRule.CLOSE`), moved by the model's
  slippage; limit, stop and stop-limit orders follow the backtester's intrabar rules (a gap
  through the level fills at the open; a stop and a take-profit touched in one bar: stop first);
- quotes: a market buy fills at the ask, a sell at the bid (plus slippage), up to the quoted size;
- each fill is capped at `participation_rate` of the bar's volume, so a large order fills in
  pieces over several bars (partial fills);
- commission per fill, and the regulatory fees of a sale, from the model; cash and positions
  (average cost) follow every fill.

Bracket (entry + take-profit + stop-loss) and OCO (take-profit + stop-loss) are emulated: legs
wait HELD until the entry fills, and the first exit leg to fill cancels its sibling. DAY orders
expire at the close of their session (NYSE calendar); GTC orders stay; IOC and FOK are decided
on their first chance to fill.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal

from trader.core.broker import (
    BrokerAccount,
    BrokerAsset,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    CancelResult,
    CloseResult,
    DuplicateClientOrderIdError,
    MarketClock,
    OrderClass,
    OrderNotCancelableError,
    OrderNotFoundError,
    OrderRejectedError,
    OrderRequest,
)
from trader.core.fills import FillModel, FillRule
from trader.core.market import Bar
from trader.core.money import to_cash, to_price
from trader.core.orders import OrderSide, OrderStatus, OrderType, TimeInForce
from trader.core.portfolio import trading_day_of
from trader.core.ports import Clock
from trader.core.positions import Position
from trader.core.protective import ProtectiveLeg, protective_exit
from trader.core.sessions import MarketCalendar

ZERO = Decimal(0)
_HUNDRED = Decimal(100)
# The ids this broker numbers from its one sequence: orders, fills and close-all client ids.
_NUMBERED_ID = re.compile(r"^(?:sim-(?:fill-)?|close-.+-)(\d+)$")
_LIVE_STATUSES = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})


@dataclass(frozen=True, slots=True)
class Quote:
    bid: Decimal
    ask: Decimal
    bid_size: Decimal | None
    ask_size: Decimal | None
    quoted_at: datetime

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(slots=True)
class _Order:
    broker_order_id: str
    request: OrderRequest
    quantity: Decimal
    status: OrderStatus
    submitted_at: datetime
    expires_at: datetime | None
    order_class: OrderClass = OrderClass.SIMPLE
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    client_order_id: str = ""
    side: OrderSide = OrderSide.BUY
    filled_quantity: Decimal = ZERO
    filled_notional: Decimal = ZERO
    updated_at: datetime | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    triggered: bool = False
    high_water_mark: Decimal | None = None
    parent_id: str | None = None
    leg_ids: list[str] = field(default_factory=list)
    sibling_id: str | None = None
    first_chance_taken: bool = False

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def is_live(self) -> bool:
        return self.status in _LIVE_STATUSES

    def as_broker_order(self) -> BrokerOrder:
        average = to_price(self.filled_notional / self.filled_quantity) if self.filled_quantity else None
        return BrokerOrder(
            broker_order_id=self.broker_order_id,
            client_order_id=self.client_order_id,
            symbol=self.request.symbol,
            side=self.side,
            quantity=self.quantity,
            order_type=self.order_type,
            time_in_force=self.request.time_in_force,
            status=self.status,
            broker_status=self.status.value if self.status is not OrderStatus.ACCEPTED else "new",
            filled_quantity=self.filled_quantity,
            average_fill_price=average,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            order_class=self.order_class,
            parent_broker_order_id=self.parent_id,
            submitted_at=self.submitted_at,
            updated_at=self.updated_at or self.submitted_at,
            filled_at=self.filled_at,
            canceled_at=self.canceled_at,
        )


@dataclass(frozen=True, slots=True)
class RestoredOrder:
    """A live order carried over from the executor's books when the simulated broker restarts."""

    broker_order: BrokerOrder
    request: OrderRequest


class SimulatedBroker:
    """`trader.core.broker.Broker` in memory. Not thread-safe: use it from one event loop."""

    def __init__(
        self,
        clock: Clock,
        calendar: MarketCalendar,
        *,
        starting_cash: Decimal,
        fill_model: FillModel | None = None,
        participation_rate: Decimal = Decimal("0.1"),
        allow_short: bool = False,
        symbols: Sequence[str] = (),
        fractionable: bool = False,
    ) -> None:
        if not ZERO < participation_rate <= 1:
            raise ValueError(f"participation_rate must be in (0, 1], got {participation_rate}")
        self._clock = clock
        self._calendar = calendar
        self._cash = to_cash(starting_cash)
        self._starting_equity = self._cash
        # Per trading day, the equity after the latest price of that session (see get_account).
        self._session_end_equity: dict[date, Decimal] = {}
        self._model = fill_model or FillModel()
        self._participation = participation_rate
        self._allow_short = allow_short
        self._fractionable = fractionable
        self._known = {symbol.upper() for symbol in symbols}
        self._untradable: set[str] = set()
        self._orders: dict[str, _Order] = {}
        # The orders not yet finished, in submission order: a session's bars each look at these,
        # not at every order of the run (pruned lazily, see `_unfinished`).
        self._open: dict[str, _Order] = {}
        self._by_client_id: dict[str, str] = {}
        self._fills: list[BrokerFill] = []
        self._positions: dict[str, Position] = {}
        self._last_price: dict[str, Decimal] = {}
        self._quotes: dict[str, Quote] = {}
        self._sequence = itertools.count(1)
        # While a bar is matched: bracket legs its entry's fill released, to match on the rest of it.
        self._released: list[_Order] | None = None

    @property
    def name(self) -> str:
        return "simulated"

    # ------------------------------------------------------------------ feeding prices

    def on_bar(self, bar: Bar) -> list[BrokerFill]:
        """Match live orders of the bar's symbol against it; returns the fills made."""
        symbol = bar.symbol.upper()
        self._known.add(symbol)
        made: list[BrokerFill] = []
        # Orders whose day ended before this bar began are gone; a DAY order still gets the bar of
        # its own session even when that bar is announced after the close (end-of-day replay).
        self.expire_orders(bar.timestamp)
        self._released = []
        try:
            for order in self._matchable(symbol):
                if not order.is_live:
                    continue  # canceled by a sibling's fill earlier in this pass
                if self._bar_closes_at(bar) <= order.submitted_at:
                    continue  # the bar had closed before the order arrived: no look-ahead
                made.extend(self._match_on_bar(order, bar))
            # An entry filled at this bar's open is protected for the rest of the bar (as the
            # backtester scans stops from the entry's own bar); filled at the close, from the next.
            while self._released and self._model.rule is FillRule.NEXT_OPEN:
                released, self._released = self._released, []
                for leg in sorted(
                    released, key=lambda o: (o.order_type is not OrderType.STOP, o.broker_order_id)
                ):
                    if leg.is_live:
                        made.extend(self._match_on_bar(leg, bar))
        finally:
            self._released = None
        self._last_price[symbol] = bar.close
        for order in self._matchable(symbol):
            self._track_high_water_mark(order, bar.high if order.side is OrderSide.SELL else bar.low)
        self._note_session_equity(
            trading_day_of(bar.timestamp) if bar.timeframe.is_intraday else bar.timestamp.date()
        )
        return made

    def set_quote(
        self,
        symbol: str,
        bid: Decimal,
        ask: Decimal,
        *,
        bid_size: Decimal | None = None,
        ask_size: Decimal | None = None,
        quoted_at: datetime | None = None,
    ) -> list[BrokerFill]:
        """A new bid/ask: live orders of the symbol are matched against it at once."""
        if bid <= 0 or ask < bid:
            raise ValueError(f"{symbol}: a quote needs 0 < bid <= ask, got {bid}/{ask}")
        symbol = symbol.upper()
        self._known.add(symbol)
        moment = quoted_at or self._clock.now()
        quote = Quote(bid, ask, bid_size, ask_size, moment)
        self._quotes[symbol] = quote
        self._last_price[symbol] = quote.mid
        self._note_session_equity(trading_day_of(moment))
        self.expire_orders(moment)
        made: list[BrokerFill] = []
        for order in self._matchable(symbol):
            if order.is_live:
                made.extend(self._match_on_quote(order, quote))
        return made

    def set_tradable(self, symbol: str, tradable: bool) -> None:
        """A trading halt: orders in a halted symbol are refused (close-all reports it per symbol)."""
        symbol = symbol.upper()
        self._known.add(symbol)
        if tradable:
            self._untradable.discard(symbol)
        else:
            self._untradable.add(symbol)

    def expire_orders(self, now: datetime) -> list[BrokerOrder]:
        """Expire DAY orders whose session has closed by `now`."""
        expired = []
        for order in self._unfinished():
            live = order.status in (*_LIVE_STATUSES, OrderStatus.HELD)
            if live and order.expires_at is not None and now >= order.expires_at:
                self._finish(order, OrderStatus.EXPIRED, now)
                expired.append(order.as_broker_order())
        return expired

    def restore(
        self,
        *,
        cash: Decimal,
        positions: Sequence[Position],
        orders: Sequence[RestoredOrder] = (),
        used_ids: Iterable[str] = (),
    ) -> None:
        """Start from the executor's books: the simulated account lives only in memory.

        `used_ids` are the ids the books already hold for this broker; new order, fill and close
        ids are numbered past them, or they would repeat ids of the run before the restart."""
        self._cash = to_cash(cash)
        self._positions = {p.symbol.upper(): p for p in positions if not p.is_flat}
        long_value, short_value = self._market_values()
        self._starting_equity = to_cash(self._cash + long_value + short_value)
        self._known.update(self._positions)
        for restored in orders:
            current = restored.broker_order
            order = self._new_order(
                restored.request, current.submitted_at or self._clock.now(), current.broker_order_id
            )
            order.filled_quantity = current.filled_quantity
            if current.average_fill_price is not None:
                order.filled_notional = current.filled_quantity * current.average_fill_price
            order.status = current.status
            order.parent_id = current.parent_broker_order_id
            self._known.add(order.request.symbol)
        self._link_restored_legs()
        last_used = max((int(m.group(1)) for i in used_ids if (m := _NUMBERED_ID.match(i))), default=0)
        self._sequence = itertools.count(max(last_used, len(self._orders) + len(self._fills)) + 1)

    def _link_restored_legs(self) -> None:
        """Restored legs find their entry (which releases them when it fills) and each other (the
        first to fill cancels the other), as they were before the restart."""
        legs_of: dict[str, list[_Order]] = {}
        for order in self._orders.values():
            if order.parent_id is not None:
                legs_of.setdefault(order.parent_id, []).append(order)
        for parent_id, legs in legs_of.items():
            parent = self._orders.get(parent_id)
            if parent is not None:
                parent.leg_ids = [leg.broker_order_id for leg in legs]
            if len(legs) == 2:
                legs[0].sibling_id, legs[1].sibling_id = legs[1].broker_order_id, legs[0].broker_order_id

    # ------------------------------------------------------------------ the port

    async def submit_order(self, request: OrderRequest) -> BrokerOrder:
        problems = request.problems()
        if problems:
            raise OrderRejectedError("; ".join(problems), status_code=422)
        if request.client_order_id in self._by_client_id:
            raise DuplicateClientOrderIdError("client_order_id must be unique", status_code=422)
        symbol = request.symbol.upper()
        if symbol not in self._known:
            raise OrderRejectedError(f'asset "{request.symbol}" not found', status_code=422)
        if symbol in self._untradable:
            raise OrderRejectedError(f"asset {symbol} is not tradable", status_code=422)
        if request.time_in_force in (TimeInForce.OPG, TimeInForce.CLS):
            raise OrderRejectedError(
                f"time_in_force {request.time_in_force.value} is not simulated; use day, gtc, ioc or fok",
                status_code=422,
            )
        self._check_funds(request, symbol)
        now = self._clock.now()
        order = self._new_order(replace(request, symbol=symbol), now)
        if request.order_class.has_exit_legs:
            self._add_exit_legs(order, now, held=True)
        elif request.order_class is OrderClass.OCO:
            self._add_exit_legs(order, now, held=False)
        answer = self._answer(order)
        quote = self._quotes.get(symbol)
        if quote is not None:
            # Quote-driven: a marketable order fills at once, after the acknowledgement is built.
            for candidate in self._matchable(symbol):
                if candidate.is_live and candidate.broker_order_id in (order.broker_order_id, *order.leg_ids):
                    self._match_on_quote(candidate, quote)
        return answer

    async def get_order(self, broker_order_id: str) -> BrokerOrder:
        order = self._orders.get(broker_order_id)
        if order is None:
            raise OrderNotFoundError(f"order not found for {broker_order_id}", status_code=404)
        return self._answer(order)

    async def find_order(self, client_order_id: str) -> BrokerOrder | None:
        broker_order_id = self._by_client_id.get(client_order_id)
        return None if broker_order_id is None else self._answer(self._orders[broker_order_id])

    def _answer(self, order: _Order) -> BrokerOrder:
        """The order with its legs nested, as Alpaca answers a bracket's submission."""
        legs = tuple(self._orders[leg_id].as_broker_order() for leg_id in order.leg_ids)
        return replace(order.as_broker_order(), legs=legs)

    async def list_orders(
        self, *, open_only: bool = False, since: datetime | None = None
    ) -> Sequence[BrokerOrder]:
        candidates = self._unfinished() if open_only else list(self._orders.values())
        return [
            order.as_broker_order() for order in candidates if since is None or order.submitted_at >= since
        ]

    def open_order_ids(self) -> set[str]:
        """The ids `list_orders(open_only=True)` would list, without building the orders."""
        return {order.broker_order_id for order in self._unfinished()}

    async def cancel_order(self, broker_order_id: str) -> None:
        order = self._orders.get(broker_order_id)
        if order is None:
            raise OrderNotFoundError(f"order not found for {broker_order_id}", status_code=404)
        if order.status.is_terminal:
            raise OrderNotCancelableError(
                f'order is already in "{order.status.value}" state', status_code=422
            )
        now = self._clock.now()
        self._finish(order, OrderStatus.CANCELED, now)
        for leg_id in order.leg_ids:
            leg = self._orders[leg_id]
            if not leg.status.is_terminal and order.order_class.has_exit_legs:
                self._finish(leg, OrderStatus.CANCELED, now)

    async def cancel_all_orders(self) -> Sequence[CancelResult]:
        results = []
        for order in self._unfinished():
            if not order.status.is_terminal:  # a bracket's legs end with their entry
                self._finish(order, OrderStatus.CANCELED, self._clock.now())
                results.append(CancelResult(order.broker_order_id, ok=True))
        return results

    async def list_fills(self, *, since: datetime | None = None) -> Sequence[BrokerFill]:
        return [fill for fill in self._fills if since is None or fill.filled_at >= since]

    async def list_positions(self) -> Sequence[BrokerPosition]:
        positions = []
        for symbol, position in sorted(self._positions.items()):
            if position.is_flat:
                continue
            mark = self._last_price.get(symbol)
            positions.append(
                BrokerPosition(
                    symbol=symbol,
                    quantity=position.quantity,
                    average_entry_price=to_price(position.average_cost),
                    market_price=mark,
                    unrealized_pnl=None if mark is None else to_cash(position.unrealized_pnl(mark)),
                )
            )
        return positions

    async def close_all_positions(self) -> Sequence[CloseResult]:
        results = []
        now = self._clock.now()
        for symbol, position in sorted(self._positions.items()):
            if position.is_flat:
                continue
            if symbol in self._untradable:
                results.append(CloseResult(symbol, 403, error=f"asset {symbol} is not tradable"))
                continue
            side = OrderSide.SELL if position.is_long else OrderSide.BUY
            sequence = next(self._sequence)
            request = OrderRequest(
                client_order_id=f"close-{symbol.lower()}-{sequence}",
                symbol=symbol,
                side=side,
                quantity=abs(position.quantity),
            )
            order = self._new_order(request, now)
            results.append(CloseResult(symbol, 200, order=order.as_broker_order()))
            quote = self._quotes.get(symbol)
            if quote is not None:
                self._match_on_quote(order, quote)
        return results

    async def get_account(self) -> BrokerAccount:
        long_value, short_value = self._market_values()
        equity = to_cash(self._cash + long_value + short_value)
        today = trading_day_of(self._clock.now())
        earlier = [day for day in self._session_end_equity if day < today]
        return BrokerAccount(
            status="ACTIVE",
            currency="USD",
            cash=self._cash,
            equity=equity,
            buying_power=to_cash(self._cash - self._reserved_for_buys()),
            long_market_value=to_cash(long_value),
            short_market_value=to_cash(short_value),
            # Equity at the close of the latest earlier session this broker priced (Alpaca's
            # last_equity); before any, the equity it started from.
            last_equity=self._session_end_equity[max(earlier)] if earlier else self._starting_equity,
            shorting_enabled=self._allow_short,
        )

    def _market_values(self) -> tuple[Decimal, Decimal]:
        """Long and (negative) short market value at the last prices seen (cost when none yet)."""
        long_value = short_value = ZERO
        for symbol, position in self._positions.items():
            value = position.quantity * self._last_price.get(symbol, position.average_cost)
            if value >= 0:
                long_value += value
            else:
                short_value += value
        return long_value, short_value

    def _note_session_equity(self, day: date) -> None:
        """The account's equity after the latest price of session `day`: after its last bar, the
        session's closing equity, which the next sessions report as `last_equity`."""
        long_value, short_value = self._market_values()
        self._session_end_equity[day] = to_cash(self._cash + long_value + short_value)

    async def get_clock(self) -> MarketClock:
        now = self._clock.now()
        return MarketClock(
            at=now,
            is_open=self._calendar.is_open(now),
            next_open=self._calendar.next_open(now),
            next_close=self._calendar.next_close(now),
        )

    async def get_asset(self, symbol: str) -> BrokerAsset | None:
        symbol = symbol.upper()
        if symbol not in self._known:
            return None
        return BrokerAsset(
            symbol,
            tradable=symbol not in self._untradable,
            shortable=self._allow_short,
            fractionable=self._fractionable,
        )

    # ------------------------------------------------------------------ order book

    def _new_order(self, request: OrderRequest, now: datetime, broker_order_id: str | None = None) -> _Order:
        identifier = broker_order_id or f"sim-{next(self._sequence):08d}"
        expires_at = self._calendar.next_close(now) if request.time_in_force is TimeInForce.DAY else None
        order = _Order(
            broker_order_id=identifier,
            request=request,
            quantity=request.quantity,
            status=OrderStatus.ACCEPTED,
            submitted_at=now,
            expires_at=expires_at,
            order_class=request.order_class,
            order_type=request.order_type,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            client_order_id=request.client_order_id,
            side=request.side,
        )
        if request.order_type is OrderType.TRAILING_STOP:
            reference = self._last_price.get(request.symbol)
            if reference is not None:
                self._track_high_water_mark(order, reference)
        self._orders[identifier] = order
        self._open[identifier] = order
        self._by_client_id[request.client_order_id] = identifier
        return order

    def _add_exit_legs(self, parent: _Order, now: datetime, *, held: bool) -> None:
        request = parent.request
        exit_side = OrderSide.SELL if request.side is OrderSide.BUY else OrderSide.BUY
        base = request.client_order_id[:60]
        if request.order_class is OrderClass.OCO:
            assert request.take_profit_price is not None and request.stop_loss_price is not None
            # The OCO order itself is the take-profit limit; one stop-loss leg hangs off it.
            parent.order_type = OrderType.LIMIT
            parent.limit_price = request.take_profit_price
            stop_leg = self._new_order(
                OrderRequest(
                    client_order_id=f"{base}-sl",
                    symbol=request.symbol,
                    side=request.side,
                    quantity=request.quantity,
                    order_type=OrderType.STOP,
                    time_in_force=request.time_in_force,
                    stop_price=request.stop_loss_price,
                ),
                now,
            )
            stop_leg.parent_id = parent.broker_order_id
            stop_leg.sibling_id, parent.sibling_id = parent.broker_order_id, stop_leg.broker_order_id
            parent.leg_ids.append(stop_leg.broker_order_id)
            return
        legs = []
        for suffix, order_type, price in (
            ("tp", OrderType.LIMIT, request.take_profit_price),
            ("sl", OrderType.STOP, request.stop_loss_price),
        ):
            if price is None:
                continue  # an OTO's one leg
            leg = self._new_order(
                OrderRequest(
                    client_order_id=f"{base}-{suffix}",
                    symbol=request.symbol,
                    side=exit_side,
                    quantity=request.quantity,
                    order_type=order_type,
                    time_in_force=request.time_in_force,
                    limit_price=price if order_type is OrderType.LIMIT else None,
                    stop_price=price if order_type is OrderType.STOP else None,
                ),
                now,
            )
            leg.parent_id = parent.broker_order_id
            leg.status = OrderStatus.HELD if held else OrderStatus.ACCEPTED
            legs.append(leg)
            parent.leg_ids.append(leg.broker_order_id)
        if len(legs) == 2:
            legs[0].sibling_id, legs[1].sibling_id = legs[1].broker_order_id, legs[0].broker_order_id

    def _matchable(self, symbol: str) -> list[_Order]:
        live = [o for o in self._unfinished() if o.is_live and o.request.symbol == symbol]
        # Stops before take-profits within one price event: the pessimistic reading, as in backtests.
        return sorted(live, key=lambda o: (o.order_type is not OrderType.STOP, o.broker_order_id))

    def _unfinished(self) -> list[_Order]:
        """Orders not in a terminal status, oldest first. An order never leaves a terminal status,
        so one found finished is dropped from the index for good."""
        finished = [key for key, order in self._open.items() if order.status.is_terminal]
        for key in finished:
            del self._open[key]
        return list(self._open.values())

    def _check_funds(self, request: OrderRequest, symbol: str) -> None:
        reference = request.limit_price or self._last_price.get(symbol) or request.stop_price
        if request.side is OrderSide.BUY and reference is not None:
            cost = request.quantity * reference
            available = self._cash - self._reserved_for_buys()
            if cost > available:
                raise OrderRejectedError(
                    f"insufficient buying power: order costs {to_cash(cost)}, {to_cash(available)} available",
                    status_code=403,
                )
        if (
            request.side is OrderSide.SELL
            and not self._allow_short
            and request.order_class is OrderClass.SIMPLE
        ):
            held = self._positions.get(symbol, Position(symbol)).quantity
            pending = sum(
                (
                    o.remaining
                    for o in self._unfinished()
                    if o.is_live
                    and o.request.symbol == symbol
                    and o.side is OrderSide.SELL
                    and o.parent_id is None
                ),
                ZERO,
            )
            available = max(held - pending, ZERO)
            if request.quantity > available:
                raise OrderRejectedError(
                    f"insufficient qty available for order (requested: {request.quantity}, "
                    f"available: {available})",
                    status_code=403,
                )

    def _reserved_for_buys(self) -> Decimal:
        reserved = ZERO
        for order in self._unfinished():
            if order.is_live and order.side is OrderSide.BUY and order.parent_id is None:
                price = order.limit_price or self._last_price.get(order.request.symbol) or order.stop_price
                if price is not None:
                    reserved += order.remaining * price
        return reserved

    # ------------------------------------------------------------------ matching

    def _track_high_water_mark(self, order: _Order, price: Decimal) -> None:
        if order.order_type is not OrderType.TRAILING_STOP:
            return
        sell = order.side is OrderSide.SELL
        if order.high_water_mark is None:
            order.high_water_mark = price
        else:
            order.high_water_mark = (
                max(order.high_water_mark, price) if sell else min(order.high_water_mark, price)
            )
        request = order.request
        if request.trail_price is not None:
            offset = request.trail_price
        else:
            assert request.trail_percent is not None
            offset = order.high_water_mark * request.trail_percent / _HUNDRED
        order.stop_price = to_price(
            order.high_water_mark - offset if sell else order.high_water_mark + offset
        )

    def _bar_price(self, order: _Order, bar: Bar) -> tuple[Decimal, bool] | None:
        """The raw price this bar fills the order at, and whether slippage applies (market-like)."""
        buy = order.side is OrderSide.BUY
        kind = order.order_type
        if kind is OrderType.MARKET:
            return self._model.reference_price(bar), True
        pair = self._exit_pair(order)
        if pair is not None:
            stop_leg, target_leg = pair
            assert stop_leg.stop_price is not None and target_leg.limit_price is not None
            exit_ = protective_exit(
                OrderSide.BUY if order.side is OrderSide.SELL else OrderSide.SELL,
                bar_open=bar.open,
                high=bar.high,
                low=bar.low,
                stop_loss=stop_leg.stop_price,
                take_profit=target_leg.limit_price,
            )
            if exit_ is None or (exit_.leg is ProtectiveLeg.STOP_LOSS) != (order is stop_leg):
                return None
            if order is stop_leg:
                order.triggered = True
                return exit_.price, True  # a stop becomes a market order: slipped
            return exit_.price, False
        if kind in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP) and not order.triggered:
            if order.stop_price is None:
                return None  # a trailing stop that has not seen a price yet
            hit = bar.high >= order.stop_price if buy else bar.low <= order.stop_price
            if not hit:
                return None
            order.triggered = True
            touched = max(bar.open, order.stop_price) if buy else min(bar.open, order.stop_price)
            if kind is not OrderType.STOP_LIMIT:
                return touched, True
            assert order.limit_price is not None
            within = touched <= order.limit_price if buy else touched >= order.limit_price
            return (touched, False) if within else None
        if kind in (OrderType.STOP, OrderType.TRAILING_STOP):
            return bar.open, True  # triggered on an earlier bar but not filled (volume): now a market order
        assert order.limit_price is not None
        if buy and bar.low <= order.limit_price:
            return min(bar.open, order.limit_price), False
        if not buy and bar.high >= order.limit_price:
            return max(bar.open, order.limit_price), False
        return None

    def _exit_pair(self, order: _Order) -> tuple[_Order, _Order] | None:
        """(stop leg, take-profit leg) when `order` is one of two live exits that cancel each other
        and neither has triggered yet: the pair is decided by the shared intrabar rule."""
        if order.sibling_id is None or order.triggered:
            return None
        sibling = self._orders[order.sibling_id]
        if not sibling.is_live or sibling.triggered:
            return None
        stop_leg, target_leg = (order, sibling) if order.order_type is OrderType.STOP else (sibling, order)
        if stop_leg.order_type is not OrderType.STOP or target_leg.order_type is not OrderType.LIMIT:
            return None
        return stop_leg, target_leg

    def _quote_price(self, order: _Order, quote: Quote) -> tuple[Decimal, bool] | None:
        buy = order.side is OrderSide.BUY
        touch = quote.ask if buy else quote.bid
        kind = order.order_type
        if kind is OrderType.TRAILING_STOP:
            self._track_high_water_mark(order, quote.mid)
        if kind in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP) and not order.triggered:
            if order.stop_price is None:
                return None
            order.triggered = touch >= order.stop_price if buy else touch <= order.stop_price
            if not order.triggered:
                return None
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            assert order.limit_price is not None
            within = touch <= order.limit_price if buy else touch >= order.limit_price
            return (touch, False) if within else None
        return touch, True

    def _bar_closes_at(self, bar: Bar) -> datetime:
        """When the bar's interval ends: for a daily bar the calendar's close (early closes included),
        not the nominal day after its open, so an order sent after the close waits for the next bar."""
        if bar.timeframe.is_intraday:
            return bar.end_at
        session = self._calendar.session_for(bar.timestamp.date())
        return bar.end_at if session is None else session.close_at

    def _fill_moment(self, order: _Order, bar: Bar) -> datetime:
        """When a fill from this bar happened: at the close for a market order under the close rule,
        otherwise the bar's start or, for an order that arrived within the bar, its arrival. The
        moment follows the prices, not when the bar reached us, so replaying is deterministic."""
        if order.order_type is OrderType.MARKET and self._model.rule is FillRule.CLOSE:
            return self._bar_closes_at(bar)
        return max(bar.timestamp, order.submitted_at)

    def _match_on_bar(self, order: _Order, bar: Bar) -> list[BrokerFill]:
        priced = self._bar_price(order, bar)
        cap = (bar.volume * self._participation).to_integral_value(rounding=ROUND_FLOOR)
        return self._execute(order, priced, cap, self._fill_moment(order, bar))

    def _match_on_quote(self, order: _Order, quote: Quote) -> list[BrokerFill]:
        priced = self._quote_price(order, quote)
        size = quote.ask_size if order.side is OrderSide.BUY else quote.bid_size
        return self._execute(order, priced, size)

    def _execute(
        self,
        order: _Order,
        priced: tuple[Decimal, bool] | None,
        cap: Decimal | None,
        filled_at: datetime | None = None,
    ) -> list[BrokerFill]:
        first_chance = not order.first_chance_taken
        order.first_chance_taken = True
        tif = order.request.time_in_force
        now = self._clock.now()
        if priced is None:
            if first_chance and tif in (TimeInForce.IOC, TimeInForce.FOK):
                self._finish(order, OrderStatus.CANCELED, now)
            return []
        quantity = order.remaining if cap is None else min(order.remaining, cap)
        if quantity <= 0 or (tif is TimeInForce.FOK and quantity < order.remaining):
            if first_chance and tif in (TimeInForce.IOC, TimeInForce.FOK):
                self._finish(order, OrderStatus.CANCELED, now)
            return []
        raw, slips = priced
        price = self._model.slippage.adjust(order.side, raw) if slips else to_price(raw)
        if order.limit_price is not None:
            # Slippage never carries a limit order beyond its limit.
            price = (
                min(price, order.limit_price)
                if order.side is OrderSide.BUY
                else max(price, order.limit_price)
            )
        fill = self._apply_fill(order, quantity, price, filled_at or now)
        if order.status is OrderStatus.PARTIALLY_FILLED and tif is TimeInForce.IOC:
            self._finish(order, OrderStatus.CANCELED, now)
        return [fill]

    def _apply_fill(self, order: _Order, quantity: Decimal, price: Decimal, now: datetime) -> BrokerFill:
        fees = self._model.fees.charge(order.side, quantity, price)
        charges = self._model.commission.charge(quantity, price) + fees
        symbol = order.request.symbol
        position = self._positions.get(symbol, Position(symbol))
        self._positions[symbol] = position.apply_fill(order.side, quantity, price, charges)
        signed = quantity if order.side is OrderSide.BUY else -quantity
        self._cash = to_cash(self._cash - signed * price - charges)
        order.filled_quantity += quantity
        order.filled_notional += quantity * price
        order.updated_at = now
        if order.remaining <= 0:
            order.status = OrderStatus.FILLED
            order.filled_at = now
            self._on_filled(order, now)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
        fill = BrokerFill(
            execution_id=f"sim-fill-{next(self._sequence):08d}",
            broker_order_id=order.broker_order_id,
            symbol=symbol,
            side=order.side,
            quantity=quantity,
            price=price,
            filled_at=now,
            commission=charges,
            regulatory_fees=fees,
        )
        self._fills.append(fill)
        return fill

    def _on_filled(self, order: _Order, now: datetime) -> None:
        if order.order_class.has_exit_legs:
            for leg_id in order.leg_ids:
                leg = self._orders[leg_id]
                if leg.status is OrderStatus.HELD:
                    leg.status = OrderStatus.ACCEPTED
                    leg.updated_at = now
                    if self._released is not None:
                        self._released.append(leg)
        if order.sibling_id is not None:
            sibling = self._orders[order.sibling_id]
            if not sibling.status.is_terminal:
                self._finish(sibling, OrderStatus.CANCELED, now)

    def _finish(self, order: _Order, status: OrderStatus, now: datetime) -> None:
        order.status = status
        order.updated_at = now
        if status is OrderStatus.CANCELED:
            order.canceled_at = now
        if order.order_class.has_exit_legs and order.filled_quantity == 0:
            # An entry that never filled leaves nothing for its exits to protect.
            for leg_id in order.leg_ids:
                leg = self._orders[leg_id]
                if not leg.status.is_terminal:
                    leg.status, leg.updated_at, leg.canceled_at = OrderStatus.CANCELED, now, now
