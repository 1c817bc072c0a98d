"""the broker's account: snapshot fields, assets, the equity each decision used, short signals

Revision ID: 0006
Revises: 0011 (the branches of 2026-12-07 are chained in the order they were merged)
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trader.adapters.db.types

revision: str = "0006"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CASH = trader.adapters.db.types.Amount(precision=20, scale=4)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("account_snapshots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("long_market_value", _CASH, nullable=True))
        batch_op.add_column(sa.Column("short_market_value", _CASH, nullable=True))
        batch_op.add_column(sa.Column("last_equity", _CASH, nullable=True))
        batch_op.add_column(sa.Column("pattern_day_trader", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("daytrade_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("shorting_enabled", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("fills_through_id", _ID, nullable=True))
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("equity", _CASH, nullable=True))
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_constraint("direction", type_="check")
        batch_op.create_check_constraint("direction", "direction IN ('buy', 'sell', 'flat', 'short')")
    op.create_table(
        "broker_assets",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("broker", sa.String(length=16), nullable=False),
        sa.Column("tradable", sa.Boolean(), nullable=False),
        sa.Column("shortable", sa.Boolean(), nullable=False),
        sa.Column("fractionable", sa.Boolean(), nullable=False),
        sa.Column("updated_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_broker_assets")),
    )


def downgrade() -> None:
    op.drop_table("broker_assets")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_constraint("direction", type_="check")
        batch_op.create_check_constraint("direction", "direction IN ('buy', 'sell', 'flat')")
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.drop_column("equity")
    with op.batch_alter_table("account_snapshots", schema=None) as batch_op:
        for column in (
            "fills_through_id",
            "shorting_enabled",
            "daytrade_count",
            "pattern_day_trader",
            "last_equity",
            "short_market_value",
            "long_market_value",
        ):
            batch_op.drop_column(column)
