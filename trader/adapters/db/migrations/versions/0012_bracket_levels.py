"""bracket levels

An order sent as a bracket records its take-profit and stop-loss levels, so a re-send after an
unanswered submission (or a look-up) carries the same legs; the legs themselves are orders whose
`parent_trade_id` names the entry.

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-07 20:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trader.adapters.db.types

revision: str = "0012"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        for name in ("take_profit_price", "stop_loss_price"):
            batch_op.add_column(
                sa.Column(name, trader.adapters.db.types.Amount(precision=20, scale=8), nullable=True)
            )


def downgrade() -> None:
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_column("stop_loss_price")
        batch_op.drop_column("take_profit_price")
