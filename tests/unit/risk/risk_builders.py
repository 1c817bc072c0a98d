"""Plain-value builders shared by the risk tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from trader.core.orders import OrderSide, OrderType
from trader.core.portfolio import Mark, Portfolio
from trader.core.positions import Position
from trader.core.risk.context import MarketSession, RiskContext
from trader.core.risk.correlation import Correlations
from trader.core.risk.limits import RiskLimits
from trader.core.risk.proposal import ProposedOrder
from trader.core.risk.state import TradingState

NOW = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)  # 10:00 in New York
TODAY = date(2024, 3, 5)

# Loose everywhere, so each test tightens only the limit it is about.
LOOSE = RiskLimits(
    max_position_pct=Decimal("1"),
    max_gross_exposure_pct=Decimal("4"),
    max_open_positions=100,
    min_order_notional=Decimal("0"),
    max_order_notional=Decimal("100000000"),
    daily_loss_limit_pct=Decimal("1"),
    max_drawdown_pct=Decimal("1"),
    max_trades_per_day=10_000,
    max_symbol_volatility=None,
    max_sector_pct=Decimal("1"),
    max_correlated_pct=Decimal("1"),
    correlation_threshold=Decimal("0.7"),
    max_price_age_seconds=300,
    signal_cooldown_seconds=300,
    allow_shorting=True,
    allow_extended_hours=False,
)


def D(value: str | int) -> Decimal:
    return Decimal(value)


def make_portfolio(
    cash: str | Decimal = "100000",
    holdings: Mapping[str, tuple[str, str]] | None = None,
    *,
    peak: str | Decimal | None = None,
    day_start: str | Decimal | None = None,
    trades_today: int = 0,
    last_signal_at: Mapping[tuple[str, str], datetime] | None = None,
) -> Portfolio:
    """`holdings` maps symbol -> (signed quantity, price); each is bought at and marked to that price."""
    positions = {}
    marks = {}
    for symbol, (quantity, price) in (holdings or {}).items():
        positions[symbol] = Position(symbol, D(quantity), D(price))
        marks[symbol] = Mark(D(price), NOW)
    equity = D(str(cash)) + sum((D(q) * D(p) for q, p in (holdings or {}).values()), Decimal(0))
    return Portfolio(
        cash=D(str(cash)),
        peak_equity=D(str(peak)) if peak is not None else equity,
        day_start_equity=D(str(day_start)) if day_start is not None else equity,
        trading_day=TODAY,
        positions=positions,
        marks=marks,
        trades_today=trades_today,
        last_signal_at=last_signal_at or {},
    )


def make_order(
    symbol: str = "AAPL",
    side: OrderSide = OrderSide.BUY,
    quantity: str | Decimal = "10",
    price: str | Decimal = "100",
    *,
    order_type: OrderType = OrderType.MARKET,
    limit_price: str | Decimal | None = None,
    priced_at: datetime = NOW,
    strategy_name: str = "",
    signal_at: datetime | None = None,
) -> ProposedOrder:
    return ProposedOrder(
        symbol=symbol,
        side=side,
        quantity=D(str(quantity)),
        order_type=order_type,
        reference_price=D(str(price)),
        priced_at=priced_at,
        limit_price=None if limit_price is None else D(str(limit_price)),
        strategy_name=strategy_name,
        signal_at=signal_at,
    )


def make_context(
    *,
    evaluated_at: datetime = NOW,
    session: MarketSession = MarketSession.REGULAR,
    trading_state: TradingState = TradingState.ACTIVE,
    buying_power: Decimal | None = None,
    volatilities: Mapping[str, Decimal] | None = None,
    sectors: Mapping[str, str] | None = None,
    correlations: Correlations | None = None,
) -> RiskContext:
    return RiskContext(
        evaluated_at=evaluated_at,
        session=session,
        trading_state=trading_state,
        buying_power=buying_power,
        volatilities=volatilities or {},
        sectors=sectors or {},
        correlations=correlations or Correlations(),
    )


def seconds(count: int) -> timedelta:
    return timedelta(seconds=count)
