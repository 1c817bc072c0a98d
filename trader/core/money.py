"""Decimal money, prices and quantities.

Orders, fills, positions and cash are exact decimals; floats only live inside vectorised
kernels and are rounded back here at their edge.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

PRICE_SCALE = 8  # a 1/128 tick needs 7 places; sub-penny quotes need 4+
QUANTITY_SCALE = 9
CASH_SCALE = 4

_PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)
_QUANTITY_QUANTUM = Decimal(1).scaleb(-QUANTITY_SCALE)
_CASH_QUANTUM = Decimal(1).scaleb(-CASH_SCALE)


class InvalidAmountError(ValueError):
    """A value that cannot be an exact, finite decimal amount."""


def to_decimal(value: object) -> Decimal:
    """Turn a str/int/Decimal (or a float, through its shortest repr) into a finite Decimal."""
    if isinstance(value, bool):
        raise InvalidAmountError(f"a boolean is not an amount: {value!r}")
    try:
        if isinstance(value, Decimal):
            result = value
        elif isinstance(value, float):
            # repr gives the shortest string that round-trips, so 0.1 becomes Decimal("0.1").
            result = Decimal(repr(value))
        elif isinstance(value, int | str):
            result = Decimal(value)
        else:
            raise InvalidAmountError(f"not an amount: {value!r}")
    except InvalidOperation as error:
        raise InvalidAmountError(f"not a decimal number: {value!r}") from error
    if not result.is_finite():
        raise InvalidAmountError(f"amount must be finite, got {value!r}")
    return result


def to_price(value: object) -> Decimal:
    return to_decimal(value).quantize(_PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)


def to_quantity(value: object) -> Decimal:
    return to_decimal(value).quantize(_QUANTITY_QUANTUM, rounding=ROUND_HALF_EVEN)


def to_cash(value: object) -> Decimal:
    return to_decimal(value).quantize(_CASH_QUANTUM, rounding=ROUND_HALF_EVEN)
