"""What a round trip costs, from the one fill model the backtester and the simulated broker share.

Labels and validation figures are net of costs, so they call the cost model here and only here:
slippage moves each fill against the trader, the commission is charged on both legs and the
regulatory fees on the sale, exactly as `trader.core.fills.FillModel` does for the backtester's
trades; when the fill model gains a charge, this is the one place that adds it to the labels.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from trader.core.fills import FillModel
from trader.core.orders import OrderSide

FloatArray = NDArray[np.float64]


def buy_prices(fill_model: FillModel, reference: FloatArray) -> FloatArray:
    """What a buy at these market prices fills at, slippage included."""
    return fill_model.slippage.adjust_array(OrderSide.BUY, reference)


def net_round_trip_returns(
    fill_model: FillModel,
    buy_fill: FloatArray,
    sell_reference: FloatArray,
    notional: float,
    limit_exit: NDArray[np.bool_] | None = None,
) -> FloatArray:
    """Simple return of buying `notional` worth at `buy_fill` (slippage already in) and selling the
    same quantity at `sell_reference` (slippage applied here, except where `limit_exit`: a
    take-profit is a limit order and fills at its price, as in the backtester), commissions on both
    legs and the sale's regulatory fees included."""
    sell_fill = fill_model.slippage.adjust_array(OrderSide.SELL, sell_reference)
    if limit_exit is not None:
        sell_fill = np.where(limit_exit, sell_reference, sell_fill)
    with np.errstate(divide="ignore", invalid="ignore"):
        quantity = notional / buy_fill
        commission = fill_model.commission
        paid = quantity * buy_fill + commission.charge_array(quantity, buy_fill)
        received = (
            quantity * sell_fill
            - commission.charge_array(quantity, sell_fill)
            - fill_model.fees.charge_sale_array(quantity, sell_fill)
        )
        result: FloatArray = received / paid - 1.0
    return result
