"""news, llm calls, protective levels on signals

Revision ID: 0011
Revises: 0003
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trader.adapters.db.types

revision: str = "0011"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stop_price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=True)
        )
        batch_op.add_column(
            sa.Column("target_price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=True)
        )
    op.create_table(
        "news",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("updated_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("symbols", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", "updated_at", name=op.f("pk_news")),
    )
    with op.batch_alter_table("news", schema=None) as batch_op:
        batch_op.create_index("idx_news_created_at", ["created_at"], unique=False)
    op.create_table(
        "news_symbols",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("news_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("news_updated_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "news_id", "news_updated_at", name=op.f("pk_news_symbols")),
    )
    with op.batch_alter_table("news_symbols", schema=None) as batch_op:
        batch_op.create_index("idx_news_symbols_symbol_created_at", ["symbol", "created_at"], unique=False)
    op.create_table(
        "llm_calls",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("called_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_model", sa.String(length=128), nullable=False),
        sa.Column("prompt_hash", sa.String(length=64), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("strategy_name", sa.String(length=64), nullable=True),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("bar_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("refusal_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "cost_usd",
            trader.adapters.db.types.Amount(precision=14, scale=8),
            server_default="0",
            nullable=False,
        ),
        sa.Column("latency_ms", sa.Float(), server_default="0", nullable=False),
        sa.Column("signal_event_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint("status IN ('answered', 'refused', 'failed')", name=op.f("ck_llm_calls_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_calls")),
    )
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.create_index("idx_llm_calls_model_called_at", ["model", "called_at"], unique=False)
        batch_op.create_index("idx_llm_calls_model_prompt_hash", ["model", "prompt_hash"], unique=False)
        batch_op.create_index("idx_llm_calls_signal_event_id", ["signal_event_id"], unique=False)


def downgrade() -> None:
    op.drop_table("llm_calls")
    op.drop_table("news_symbols")
    op.drop_table("news")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_column("target_price")
        batch_op.drop_column("stop_price")
