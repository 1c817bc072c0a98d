"""one decision per signal

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 02:34:15.384746
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.create_index("uq_risk_decisions_signal_event_id", ["signal_event_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.drop_index("uq_risk_decisions_signal_event_id")
