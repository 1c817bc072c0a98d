"""How figures are written in denial messages: short, but never hiding which side of a limit they are."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

_MAX_DIGITS = 6


def _trimmed(value: Decimal, places: int) -> str:
    quantum = Decimal(1).scaleb(-places)
    text = format(value.quantize(quantum, rounding=ROUND_HALF_EVEN), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_number(value: Decimal, against: Decimal | None = None, places: int = 2) -> str:
    """`value` with `places` decimals, trailing zeros dropped; more decimals when it would
    otherwise print the same as `against` (so `20.04% > 20%` never reads `20% > 20%`)."""
    for digits in range(places, _MAX_DIGITS + 1):
        text = _trimmed(value, digits)
        if against is None or value == against or text != _trimmed(against, digits):
            return text
    return format(value, "f")


def format_percent(fraction: Decimal, against: Decimal | None = None) -> str:
    """0.231 -> '23.1%'."""
    hundred = Decimal(100)
    return format_number(fraction * hundred, None if against is None else against * hundred, 1) + "%"


def format_money(amount: Decimal, against: Decimal | None = None) -> str:
    return format_number(amount, against, 2)
