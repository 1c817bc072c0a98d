"""Read-only risk figures for a portfolio: what `/risk/current-metrics` and `/risk/position-limits` show."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trader.core.portfolio import Portfolio
from trader.core.risk.context import RiskContext
from trader.core.risk.limits import RiskLimits
from trader.core.risk.rules import sector_share

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PositionLimit:
    symbol: str
    quantity: Decimal
    market_value: Decimal
    share_of_equity: Decimal
    limit: Decimal
    # Further market value this symbol may take before reaching its cap (0 when at or over it).
    headroom: Decimal


@dataclass(frozen=True, slots=True)
class RiskMetrics:
    equity: Decimal
    cash: Decimal
    gross_exposure: Decimal
    net_exposure: Decimal
    gross_exposure_share: Decimal
    open_positions: int
    daily_pnl: Decimal
    daily_return: Decimal
    drawdown: Decimal
    trades_today: int
    sector_shares: dict[str, Decimal]


def _share(amount: Decimal, equity: Decimal) -> Decimal:
    return amount / equity if equity > 0 else _ZERO


def measure(portfolio: Portfolio, context: RiskContext) -> RiskMetrics:
    equity = portfolio.equity
    sectors = sorted({context.sector_of(p.symbol) for p in portfolio.open_positions})
    return RiskMetrics(
        equity=equity,
        cash=portfolio.cash,
        gross_exposure=portfolio.gross_exposure,
        net_exposure=portfolio.net_exposure,
        gross_exposure_share=_share(portfolio.gross_exposure, equity),
        open_positions=portfolio.open_position_count,
        daily_pnl=portfolio.daily_pnl,
        daily_return=portfolio.daily_return,
        drawdown=portfolio.drawdown,
        trades_today=portfolio.trades_today,
        sector_shares={sector: sector_share(portfolio, sector, context) or _ZERO for sector in sectors},
    )


def position_limits(portfolio: Portfolio, limits: RiskLimits) -> tuple[PositionLimit, ...]:
    """Each open position against the per-position cap, largest share first."""
    equity = portfolio.equity
    cap_value = equity * limits.max_position_pct if equity > 0 else _ZERO
    rows = []
    for position in portfolio.open_positions:
        value = portfolio.exposure_of(position.symbol)
        rows.append(
            PositionLimit(
                symbol=position.symbol,
                quantity=position.quantity,
                market_value=position.market_value(portfolio.marks[position.symbol].price),
                share_of_equity=_share(value, equity),
                limit=limits.max_position_pct,
                headroom=max(cap_value - value, _ZERO),
            )
        )
    return tuple(sorted(rows, key=lambda row: (-row.share_of_equity, row.symbol)))
