"""bar cursors: how far each series' bars have been announced

Revision ID: 0004
Revises: 0005 (the branches of 2026-12-07 are chained in the order they were merged)
Create Date: 2026-12-07 16:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trader.adapters.db.types

revision: str = "0004"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bar_cursors",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("published_through", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "timeframe", name=op.f("pk_bar_cursors")),
    )


def downgrade() -> None:
    op.drop_table("bar_cursors")
