"""fills: the order's cumulative filled quantity, one fill per (order, cumulative quantity)

A fill reaches the books by two channels: the broker's order-update stream and its fill listing
(reconciliation). Alpaca names the same execution differently on each (the stream's
`execution_id` is not the FILL activity's `id`), but both carry the order and its cumulative
filled quantity after the execution, so that pair is unique.

Revision ID: 0005
Revises: 0009 (the branches of 2026-12-07 are chained in the order they were merged)
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trader.adapters.db.types

revision: str = "0005"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "cumulative_quantity",
                trader.adapters.db.types.Amount(precision=24, scale=9),
                nullable=True,
            )
        )
        batch_op.create_index("uq_fills_trade_cumulative", ["trade_id", "cumulative_quantity"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_index("uq_fills_trade_cumulative")
        batch_op.drop_column("cumulative_quantity")
