"""fill regulatory fees

Each fill records the regulatory fees of a sale (SEC Section 31 fee, FINRA TAF) it paid; they are
part of its `commission` (everything charged beyond the price), named apart so reports can show them.

Revision ID: 0007
Revises: 0004 (the branches of 2026-12-07 are chained in the order they were merged)
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trader.adapters.db.types

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "regulatory_fees",
                trader.adapters.db.types.Amount(precision=20, scale=8),
                server_default="0",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_column("regulatory_fees")
