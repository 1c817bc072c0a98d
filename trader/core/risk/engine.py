"""The risk decision: the trading state's gate, then every rule, every reason kept.

All rules run even after one denies, so the recorded decision tells the whole story at once
(a person fixing one limit should not discover the next one on the following attempt).
"""

from __future__ import annotations

from collections.abc import Sequence

from trader.core.portfolio import Portfolio
from trader.core.risk.context import RiskContext
from trader.core.risk.formatting import format_number
from trader.core.risk.limits import RiskLimits
from trader.core.risk.projection import project
from trader.core.risk.proposal import ProposedOrder
from trader.core.risk.reasons import Denial, ReasonCode, RiskDecision
from trader.core.risk.rules import ALL_RULES, Rule
from trader.core.risk.state import TradingState


def check_trading_state(order: ProposedOrder, portfolio: Portfolio, context: RiskContext) -> Denial | None:
    state = context.trading_state
    if state is TradingState.HALTED:
        return Denial(ReasonCode.TRADING_HALTED, f"{order.side.value} {order.symbol}: trading is halted")
    if state is TradingState.REDUCING and not project(order, portfolio).is_reducing:
        held = portfolio.position(order.symbol).quantity
        return Denial(
            ReasonCode.TRADING_REDUCING_ONLY,
            f"{order.side.value} {format_number(order.quantity)} {order.symbol} does not reduce the position"
            f" of {format_number(held)}",
        )
    return None


def evaluate(
    order: ProposedOrder,
    portfolio: Portfolio,
    limits: RiskLimits,
    context: RiskContext,
    rules: Sequence[Rule] = ALL_RULES,
) -> RiskDecision:
    denials: list[Denial] = []
    gate = check_trading_state(order, portfolio, context)
    if gate is not None:
        denials.append(gate)
    for rule in rules:
        denial = rule(order, portfolio, limits, context)
        if denial is not None:
            denials.append(denial)
    return RiskDecision(
        order=order,
        denials=tuple(denials),
        evaluated_at=context.evaluated_at,
        trading_state=context.trading_state,
    )
