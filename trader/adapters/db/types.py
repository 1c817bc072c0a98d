"""Column types that keep the domain's rules in the database: exact decimals, aware-UTC times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """`timestamptz` on PostgreSQL; on SQLite an ISO string. Refuses naive datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} would be ambiguous in the database; pass aware UTC")
        value = value.astimezone(UTC)
        # SQLite has no time zones: store UTC without an offset so string order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Amount(TypeDecorator[Decimal]):
    """`numeric(p, s)` with Decimal in and out on every back end.

    PostgreSQL stores it exactly. SQLite has no decimal type: the NUMERIC affinity keeps a
    REAL, so values are rounded to the column's scale on the way out (exact up to 15
    significant digits, which covers prices, quantities and cash of a personal account).
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.scale = scale
        self.precision = precision
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=False))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("pass Decimal, not float, for an exact amount column")
        decimal_value = Decimal(value)
        if not decimal_value.is_finite():
            raise ValueError(f"non-finite amount {value!r}")
        if dialect.name == "sqlite":
            return float(decimal_value)
        return decimal_value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        decimal_value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return decimal_value.quantize(self._quantum)
