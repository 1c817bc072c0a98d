"""models that prove an edge: horizon, kind and card in the registry, shadow/refused/rolled-back
statuses, model_events (every step with its figures) and model_periods (live picks and results)

Revision ID: 0009
Revises: 0006 (the branches of 2026-12-07 are chained in the order they were merged)
Create Date: 2026-12-07 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trader.adapters.db.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('candidate', 'active', 'retired')"
NEW_STATUSES = "status IN ('candidate', 'shadow', 'active', 'retired', 'refused', 'rolled_back')"


def upgrade() -> None:
    with op.batch_alter_table("model_registry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("horizon", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("kind", sa.String(length=32), server_default="classifier", nullable=False)
        )
        batch_op.add_column(sa.Column("card", sa.JSON(), nullable=True))
        batch_op.drop_constraint(op.f("ck_model_registry_status"), type_="check")
        batch_op.create_check_constraint("status", NEW_STATUSES)
    op.create_table(
        "model_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_events")),
    )
    with op.batch_alter_table("model_events", schema=None) as batch_op:
        batch_op.create_index("ix_model_events_name_version", ["name", "version"], unique=False)
    op.create_table(
        "model_periods",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("session_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("picks", sa.JSON(), nullable=False),
        sa.Column("universe", sa.Integer(), nullable=False),
        sa.Column("pick_return", sa.Float(), nullable=True),
        sa.Column("universe_return", sa.Float(), nullable=True),
        sa.Column("settled_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("role IN ('champion', 'shadow')", name=op.f("ck_model_periods_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_periods")),
    )
    with op.batch_alter_table("model_periods", schema=None) as batch_op:
        batch_op.create_index(
            "uq_model_periods_name_version_session_at", ["name", "version", "session_at"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("model_periods", schema=None) as batch_op:
        batch_op.drop_index("uq_model_periods_name_version_session_at")
    op.drop_table("model_periods")
    with op.batch_alter_table("model_events", schema=None) as batch_op:
        batch_op.drop_index("ix_model_events_name_version")
    op.drop_table("model_events")
    op.execute(
        "UPDATE model_registry SET status = 'retired' WHERE status IN ('shadow', 'refused', 'rolled_back')"
    )
    with op.batch_alter_table("model_registry", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_model_registry_status"), type_="check")
        batch_op.create_check_constraint("status", OLD_STATUSES)
        batch_op.drop_column("card")
        batch_op.drop_column("kind")
        batch_op.drop_column("horizon")
