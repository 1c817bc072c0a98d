"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 01:53:57.831136
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import trader.adapters.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_snapshots",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("timestamp", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cash", trader.adapters.db.types.Amount(precision=20, scale=4), nullable=False),
        sa.Column("equity", trader.adapters.db.types.Amount(precision=20, scale=4), nullable=False),
        sa.Column("buying_power", trader.adapters.db.types.Amount(precision=20, scale=4), nullable=True),
        sa.Column("gross_exposure", trader.adapters.db.types.Amount(precision=20, scale=4), nullable=False),
        sa.Column("net_exposure", trader.adapters.db.types.Amount(precision=20, scale=4), nullable=False),
        sa.Column("realized_pnl", trader.adapters.db.types.Amount(precision=20, scale=4), nullable=False),
        sa.Column("unrealized_pnl", trader.adapters.db.types.Amount(precision=20, scale=4), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_snapshots")),
    )
    with op.batch_alter_table("account_snapshots", schema=None) as batch_op:
        batch_op.create_index("idx_account_snapshots_timestamp", ["timestamp"], unique=False)

    op.create_table(
        "audit_logs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column(
            "timestamp",
            trader.adapters.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=255), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("service_name", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=10), server_default="info", nullable=False),
        sa.Column("execution_time_ms", sa.Float(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "severity IN ('debug', 'info', 'warning', 'error', 'critical')",
            name=op.f("ck_audit_logs_severity"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
    )
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.create_index("idx_audit_logs_action_timestamp", ["action", "timestamp"], unique=False)
        batch_op.create_index("idx_audit_logs_service_timestamp", ["service_name", "timestamp"], unique=False)
        batch_op.create_index("idx_audit_logs_timestamp", ["timestamp"], unique=False)

    op.create_table(
        "backtest_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("data_hash", sa.String(length=64), nullable=True),
        sa.Column("code_version", sa.String(length=64), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            trader.adapters.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("finished_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_runs")),
    )
    op.create_table(
        "export_jobs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("byte_count", sa.BigInteger(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            trader.adapters.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("finished_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_jobs")),
    )
    op.create_table(
        "job_runs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("job_name", sa.String(length=64), nullable=False),
        sa.Column("scheduled_for", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), server_default="1", nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'skipped')", name=op.f("ck_job_runs_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index("idx_job_runs_job_started", ["job_name", "started_at"], unique=False)

    op.create_table(
        "market_data",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("timestamp", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("open_price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=False),
        sa.Column("high_price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=False),
        sa.Column("low_price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=False),
        sa.Column("close_price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=False),
        sa.Column("volume", trader.adapters.db.types.Amount(precision=24, scale=4), nullable=False),
        sa.Column("vwap", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=True),
        sa.Column("trade_count", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("feed", sa.String(length=16), nullable=True),
        sa.Column(
            "adjustment_factor",
            trader.adapters.db.types.Amount(precision=20, scale=10),
            server_default="1",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            trader.adapters.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("high_price >= low_price", name=op.f("ck_market_data_high_not_below_low")),
        sa.CheckConstraint("low_price > 0", name=op.f("ck_market_data_positive_prices")),
        sa.CheckConstraint("volume >= 0", name=op.f("ck_market_data_non_negative_volume")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_data")),
    )
    with op.batch_alter_table("market_data", schema=None) as batch_op:
        batch_op.create_index("idx_market_data_symbol_timestamp", ["symbol", "timestamp"], unique=True)
        batch_op.create_index("idx_market_data_timestamp", ["timestamp"], unique=False)

    op.create_table(
        "model_registry",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("training_start", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("training_end", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("artifact_path", sa.Text(), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            trader.adapters.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("promoted_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('candidate', 'active', 'retired')", name=op.f("ck_model_registry_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_registry")),
    )
    with op.batch_alter_table("model_registry", schema=None) as batch_op:
        batch_op.create_index("uq_model_registry_name_version", ["name", "version"], unique=True)

    op.create_table(
        "positions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("quantity", trader.adapters.db.types.Amount(precision=24, scale=9), nullable=False),
        sa.Column("average_cost", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=False),
        sa.Column(
            "realized_pnl",
            trader.adapters.db.types.Amount(precision=20, scale=4),
            server_default="0",
            nullable=False,
        ),
        sa.Column("market_price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=True),
        sa.Column("opened_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
    )
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.create_index("idx_positions_symbol", ["symbol"], unique=True)

    op.create_table(
        "risk_parameters",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            trader.adapters.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_parameters")),
        sa.UniqueConstraint("version", name=op.f("uq_risk_parameters_version")),
    )
    with op.batch_alter_table("risk_parameters", schema=None) as batch_op:
        batch_op.create_index("idx_risk_parameters_updated_at", ["updated_at"], unique=False)

    op.create_table(
        "signals",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("strategy_name", sa.String(length=64), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("bar_timestamp", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("strength", trader.adapters.db.types.Amount(precision=10, scale=6), nullable=False),
        sa.Column("price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("features", sa.JSON(), nullable=True),
        sa.Column("timestamp", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("direction IN ('buy', 'sell', 'flat')", name=op.f("ck_signals_direction")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sa.UniqueConstraint("event_id", name=op.f("uq_signals_event_id")),
    )
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.create_index(
            "idx_signals_strategy_symbol", ["strategy_name", "symbol", "bar_timestamp"], unique=False
        )
        batch_op.create_index("idx_signals_timestamp", ["timestamp"], unique=False)

    op.create_table(
        "strategy_configs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("strategy_type", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("symbols", sa.JSON(), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            trader.adapters.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("updated_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_configs")),
        sa.UniqueConstraint("name", name=op.f("uq_strategy_configs_name")),
    )
    op.create_table(
        "trading_states",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("previous_state", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("timestamp", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('active', 'reducing', 'halted')", name=op.f("ck_trading_states_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_states")),
    )
    with op.batch_alter_table("trading_states", schema=None) as batch_op:
        batch_op.create_index("idx_trading_states_timestamp", ["timestamp"], unique=False)

    op.create_table(
        "watchlist",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column(
            "added_at",
            trader.adapters.db.types.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist")),
        sa.UniqueConstraint("symbol", name=op.f("uq_watchlist_symbol")),
    )
    op.create_table(
        "risk_decisions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("decision_id", sa.String(length=36), nullable=False),
        sa.Column("signal_event_id", sa.String(length=36), nullable=True),
        sa.Column("signal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("strategy_name", sa.String(length=64), nullable=True),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", trader.adapters.db.types.Amount(precision=24, scale=9), nullable=False),
        sa.Column("price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=True),
        sa.Column("notional", trader.adapters.db.types.Amount(precision=20, scale=4), nullable=True),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("portfolio_snapshot", sa.JSON(), nullable=True),
        sa.Column("risk_parameters_version", sa.Integer(), nullable=True),
        sa.Column("trading_state", sa.String(length=10), nullable=False),
        sa.Column("timestamp", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("decision IN ('approved', 'denied')", name=op.f("ck_risk_decisions_decision")),
        sa.ForeignKeyConstraint(
            ["signal_id"], ["signals.id"], name=op.f("fk_risk_decisions_signal_id_signals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_decisions")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_risk_decisions_decision_id")),
    )
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.create_index("idx_risk_decisions_symbol_timestamp", ["symbol", "timestamp"], unique=False)
        batch_op.create_index("idx_risk_decisions_timestamp", ["timestamp"], unique=False)

    op.create_table(
        "trades",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("broker", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("order_type", sa.String(length=16), nullable=False),
        sa.Column("order_class", sa.String(length=16), server_default="simple", nullable=False),
        sa.Column("time_in_force", sa.String(length=8), nullable=False),
        sa.Column("quantity", trader.adapters.db.types.Amount(precision=24, scale=9), nullable=False),
        sa.Column("limit_price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=True),
        sa.Column("stop_price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=True),
        sa.Column("trail_percent", trader.adapters.db.types.Amount(precision=10, scale=4), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("broker_status", sa.String(length=24), nullable=True),
        sa.Column(
            "filled_quantity",
            trader.adapters.db.types.Amount(precision=24, scale=9),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "average_fill_price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=True
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("strategy_name", sa.String(length=64), nullable=True),
        sa.Column("signal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("risk_decision_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("parent_trade_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("timestamp", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("filled_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("canceled_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_trades_side")),
        sa.CheckConstraint(
            "status IN ('pending', 'submitted', 'accepted', 'held', 'partially_filled', 'done_for_day', 'pending_cancel', 'pending_replace', 'suspended', 'filled', 'canceled', 'expired', 'rejected', 'replaced')",
            name=op.f("ck_trades_status"),
        ),
        sa.CheckConstraint(
            "filled_quantity >= 0 AND filled_quantity <= quantity",
            name=op.f("ck_trades_filled_within_quantity"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_trades_positive_quantity")),
        sa.ForeignKeyConstraint(
            ["parent_trade_id"], ["trades.id"], name=op.f("fk_trades_parent_trade_id_trades")
        ),
        sa.ForeignKeyConstraint(
            ["risk_decision_id"],
            ["risk_decisions.id"],
            name=op.f("fk_trades_risk_decision_id_risk_decisions"),
        ),
        sa.ForeignKeyConstraint(["signal_id"], ["signals.id"], name=op.f("fk_trades_signal_id_signals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trades")),
        sa.UniqueConstraint("broker_order_id", name=op.f("uq_trades_broker_order_id")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_trades_client_order_id")),
    )
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.create_index("idx_trades_status", ["status"], unique=False)
        batch_op.create_index("idx_trades_symbol_timestamp", ["symbol", "timestamp"], unique=False)
        batch_op.create_index("idx_trades_timestamp", ["timestamp"], unique=False)

    op.create_table(
        "fills",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("trade_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("execution_id", sa.String(length=64), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("quantity", trader.adapters.db.types.Amount(precision=24, scale=9), nullable=False),
        sa.Column("price", trader.adapters.db.types.Amount(precision=20, scale=8), nullable=False),
        sa.Column(
            "commission",
            trader.adapters.db.types.Amount(precision=20, scale=8),
            server_default="0",
            nullable=False,
        ),
        sa.Column("timestamp", trader.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price > 0", name=op.f("ck_fills_positive_price")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_fills_positive_quantity")),
        sa.ForeignKeyConstraint(["trade_id"], ["trades.id"], name=op.f("fk_fills_trade_id_trades")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("execution_id", name=op.f("uq_fills_execution_id")),
    )
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.create_index("idx_fills_symbol_timestamp", ["symbol", "timestamp"], unique=False)
        batch_op.create_index("idx_fills_trade_id", ["trade_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_index("idx_fills_trade_id")
        batch_op.drop_index("idx_fills_symbol_timestamp")

    op.drop_table("fills")
    with op.batch_alter_table("trades", schema=None) as batch_op:
        batch_op.drop_index("idx_trades_timestamp")
        batch_op.drop_index("idx_trades_symbol_timestamp")
        batch_op.drop_index("idx_trades_status")

    op.drop_table("trades")
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.drop_index("idx_risk_decisions_timestamp")
        batch_op.drop_index("idx_risk_decisions_symbol_timestamp")

    op.drop_table("risk_decisions")
    op.drop_table("watchlist")
    with op.batch_alter_table("trading_states", schema=None) as batch_op:
        batch_op.drop_index("idx_trading_states_timestamp")

    op.drop_table("trading_states")
    op.drop_table("strategy_configs")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index("idx_signals_timestamp")
        batch_op.drop_index("idx_signals_strategy_symbol")

    op.drop_table("signals")
    with op.batch_alter_table("risk_parameters", schema=None) as batch_op:
        batch_op.drop_index("idx_risk_parameters_updated_at")

    op.drop_table("risk_parameters")
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_index("idx_positions_symbol")

    op.drop_table("positions")
    with op.batch_alter_table("model_registry", schema=None) as batch_op:
        batch_op.drop_index("uq_model_registry_name_version")

    op.drop_table("model_registry")
    with op.batch_alter_table("market_data", schema=None) as batch_op:
        batch_op.drop_index("idx_market_data_timestamp")
        batch_op.drop_index("idx_market_data_symbol_timestamp")

    op.drop_table("market_data")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("idx_job_runs_job_started")

    op.drop_table("job_runs")
    op.drop_table("export_jobs")
    op.drop_table("backtest_runs")
    with op.batch_alter_table("audit_logs", schema=None) as batch_op:
        batch_op.drop_index("idx_audit_logs_timestamp")
        batch_op.drop_index("idx_audit_logs_service_timestamp")
        batch_op.drop_index("idx_audit_logs_action_timestamp")

    op.drop_table("audit_logs")
    with op.batch_alter_table("account_snapshots", schema=None) as batch_op:
        batch_op.drop_index("idx_account_snapshots_timestamp")

    op.drop_table("account_snapshots")
