"""The schema, as SQLAlchemy Core tables.

Names and columns the operations guide queries (market_data, trades, positions,
risk_parameters, audit_logs) are kept verbatim; the guide's SQL must run unchanged on
PostgreSQL. `market_data` holds one row per (symbol, timestamp) at the base timeframe, and each
order is exactly one `trades` row (its fills in `fills`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)

from trader.adapters.db.types import Amount, UTCDateTime
from trader.core.orders import OrderStatus

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
Id = BigInteger().with_variant(Integer(), "sqlite")
PRICE = (20, 8)
QUANTITY = (24, 9)
CASH = (20, 4)


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _created_at(name: str = "created_at") -> Column[object]:
    return Column(name, UTCDateTime(), nullable=False, server_default=func.now())


_order_statuses = ", ".join(f"'{status.value}'" for status in OrderStatus)

market_data = Table(
    "market_data",
    metadata,
    _id(),
    Column("symbol", String(16), nullable=False),
    Column("timestamp", UTCDateTime(), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("open_price", Amount(*PRICE), nullable=False),
    Column("high_price", Amount(*PRICE), nullable=False),
    Column("low_price", Amount(*PRICE), nullable=False),
    Column("close_price", Amount(*PRICE), nullable=False),
    Column("volume", Amount(24, 4), nullable=False),
    Column("vwap", Amount(*PRICE)),
    Column("trade_count", BigInteger()),
    Column("source", String(32), nullable=False),
    Column("feed", String(16)),
    # Raw prices are stored; this factor turns them into the split/dividend-adjusted series.
    Column("adjustment_factor", Amount(20, 10), nullable=False, server_default="1"),
    _created_at(),
    CheckConstraint("high_price >= low_price", name="high_not_below_low"),
    CheckConstraint("low_price > 0", name="positive_prices"),
    CheckConstraint("volume >= 0", name="non_negative_volume"),
    # The guide creates idx_market_data_symbol_timestamp IF NOT EXISTS; naming the unique index
    # the same makes its command a no-op here instead of a second index.
    Index("idx_market_data_symbol_timestamp", "symbol", "timestamp", unique=True),
    Index("idx_market_data_timestamp", "timestamp"),
)

signals = Table(
    "signals",
    metadata,
    _id(),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("strategy_name", String(64), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("bar_timestamp", UTCDateTime(), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("strength", Amount(10, 6), nullable=False),
    Column("price", Amount(*PRICE), nullable=False),
    Column("reason", Text()),
    Column("features", JSON()),
    Column("timestamp", UTCDateTime(), nullable=False),
    # Protective levels an entry signal carries (the llm strategy's stop and target), for the
    # entry's bracket legs; null when the strategy gives none.
    Column("stop_price", Amount(*PRICE)),
    Column("target_price", Amount(*PRICE)),
    CheckConstraint("direction IN ('buy', 'sell', 'flat', 'short')", name="direction"),
    Index("idx_signals_timestamp", "timestamp"),
    Index("idx_signals_strategy_symbol", "strategy_name", "symbol", "bar_timestamp"),
)

risk_parameters = Table(
    "risk_parameters",
    metadata,
    _id(),
    Column("version", Integer(), nullable=False, unique=True),
    Column("limits", JSON(), nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False, server_default=func.now()),
    Index("idx_risk_parameters_updated_at", "updated_at"),
)

risk_decisions = Table(
    "risk_decisions",
    metadata,
    _id(),
    Column("decision_id", String(36), nullable=False, unique=True),
    Column("signal_event_id", String(36)),
    Column("signal_id", Id, ForeignKey("signals.id")),
    Column("strategy_name", String(64)),
    Column("symbol", String(16), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Amount(*QUANTITY), nullable=False),
    Column("price", Amount(*PRICE)),
    Column("notional", Amount(*CASH)),
    Column("decision", String(10), nullable=False),
    Column("reasons", JSON(), nullable=False),
    Column("portfolio_snapshot", JSON()),
    Column("risk_parameters_version", Integer()),
    Column("trading_state", String(10), nullable=False),
    Column("timestamp", UTCDateTime(), nullable=False),
    # The account equity the decision sized and judged on.
    Column("equity", Amount(*CASH)),
    CheckConstraint("decision IN ('approved', 'denied')", name="decision"),
    Index("idx_risk_decisions_timestamp", "timestamp"),
    # One decision per signal: a redelivered signal must find the first decision, never make a second.
    Index("uq_risk_decisions_signal_event_id", "signal_event_id", unique=True),
    Index("idx_risk_decisions_symbol_timestamp", "symbol", "timestamp"),
)

trades = Table(
    "trades",
    metadata,
    _id(),
    Column("client_order_id", String(64), nullable=False, unique=True),
    Column("broker_order_id", String(64), unique=True),
    Column("broker", String(16), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(4), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("order_class", String(16), nullable=False, server_default="simple"),
    Column("time_in_force", String(8), nullable=False),
    Column("quantity", Amount(*QUANTITY), nullable=False),
    Column("limit_price", Amount(*PRICE)),
    Column("stop_price", Amount(*PRICE)),
    Column("trail_percent", Amount(10, 4)),
    # A bracket's levels, as sent (its legs are rows of their own, parent_trade_id naming this one).
    Column("take_profit_price", Amount(*PRICE)),
    Column("stop_loss_price", Amount(*PRICE)),
    Column("status", String(20), nullable=False, server_default=OrderStatus.PENDING.value),
    Column("broker_status", String(24)),
    Column("filled_quantity", Amount(*QUANTITY), nullable=False, server_default="0"),
    Column("average_fill_price", Amount(*PRICE)),
    Column("error_message", Text()),
    Column("strategy_name", String(64)),
    Column("signal_id", Id, ForeignKey("signals.id")),
    Column("risk_decision_id", Id, ForeignKey("risk_decisions.id")),
    Column("parent_trade_id", Id, ForeignKey("trades.id")),
    # When the order was created (intent persisted); the guide's queries filter on it.
    Column("timestamp", UTCDateTime(), nullable=False),
    Column("submitted_at", UTCDateTime()),
    Column("filled_at", UTCDateTime()),
    Column("canceled_at", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Optimistic locking: an update names the version it read, so two writers cannot both win.
    Column("version", Integer(), nullable=False, server_default="0"),
    CheckConstraint(f"status IN ({_order_statuses})", name="status"),
    CheckConstraint("side IN ('buy', 'sell')", name="side"),
    CheckConstraint("quantity > 0", name="positive_quantity"),
    CheckConstraint("filled_quantity >= 0 AND filled_quantity <= quantity", name="filled_within_quantity"),
    Index("idx_trades_timestamp", "timestamp"),
    Index("idx_trades_status", "status"),
    Index("idx_trades_symbol_timestamp", "symbol", "timestamp"),
)

fills = Table(
    "fills",
    metadata,
    _id(),
    Column("trade_id", Id, ForeignKey("trades.id"), nullable=False),
    Column("execution_id", String(64), nullable=False, unique=True),
    Column("symbol", String(16), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Amount(*QUANTITY), nullable=False),
    Column("price", Amount(*PRICE), nullable=False),
    # Everything charged beyond the price (broker commission plus the sale's regulatory fees) ...
    Column("commission", Amount(*PRICE), nullable=False, server_default="0"),
    Column("timestamp", UTCDateTime(), nullable=False),
    # The order's filled quantity after this fill, when the broker gives it: the stream and the
    # fill listing name one execution differently but share (order, cumulative quantity).
    Column("cumulative_quantity", Amount(*QUANTITY)),
    # How much of `commission` is regulatory fees (SEC Section 31 fee, FINRA TAF).
    Column("regulatory_fees", Amount(*PRICE), nullable=False, server_default="0"),
    CheckConstraint("quantity > 0", name="positive_quantity"),
    CheckConstraint("price > 0", name="positive_price"),
    Index("idx_fills_trade_id", "trade_id"),
    Index("idx_fills_symbol_timestamp", "symbol", "timestamp"),
    Index("uq_fills_trade_cumulative", "trade_id", "cumulative_quantity", unique=True),
)

positions = Table(
    "positions",
    metadata,
    _id(),
    Column("symbol", String(16), nullable=False),
    # Signed: negative is short.
    Column("quantity", Amount(*QUANTITY), nullable=False),
    Column("average_cost", Amount(*PRICE), nullable=False),
    Column("realized_pnl", Amount(*CASH), nullable=False, server_default="0"),
    Column("market_price", Amount(*PRICE)),
    Column("opened_at", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("idx_positions_symbol", "symbol", unique=True),
)

account_snapshots = Table(
    "account_snapshots",
    metadata,
    _id(),
    Column("timestamp", UTCDateTime(), nullable=False),
    Column("cash", Amount(*CASH), nullable=False),
    Column("equity", Amount(*CASH), nullable=False),
    Column("buying_power", Amount(*CASH)),
    Column("gross_exposure", Amount(*CASH), nullable=False),
    Column("net_exposure", Amount(*CASH), nullable=False),
    Column("realized_pnl", Amount(*CASH), nullable=False),
    Column("unrealized_pnl", Amount(*CASH), nullable=False),
    Column("source", String(16), nullable=False),
    # As the broker states them (short_market_value negative for a short book); last_equity is
    # the equity at the previous session's close, from which the day's loss is measured.
    Column("long_market_value", Amount(*CASH)),
    Column("short_market_value", Amount(*CASH)),
    Column("last_equity", Amount(*CASH)),
    Column("pattern_day_trader", Boolean()),
    Column("daytrade_count", Integer()),
    Column("shorting_enabled", Boolean()),
    # The newest fills.id the books held when the broker's positions equalled theirs: the reading
    # then includes exactly those fills, and later ones move its cash. NULL when they differed.
    Column("fills_through_id", Id),
    Index("idx_account_snapshots_timestamp", "timestamp"),
)

# What the executor learned from the broker about each symbol it may trade.
broker_assets = Table(
    "broker_assets",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("broker", String(16), nullable=False),
    Column("tradable", Boolean(), nullable=False),
    Column("shortable", Boolean(), nullable=False),
    Column("fractionable", Boolean(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

trading_states = Table(
    "trading_states",
    metadata,
    _id(),
    Column("state", String(10), nullable=False),
    Column("previous_state", String(10)),
    Column("reason", Text(), nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("timestamp", UTCDateTime(), nullable=False),
    CheckConstraint("state IN ('active', 'reducing', 'halted')", name="state"),
    Index("idx_trading_states_timestamp", "timestamp"),
)

audit_logs = Table(
    "audit_logs",
    metadata,
    _id(),
    Column("timestamp", UTCDateTime(), nullable=False, server_default=func.now()),
    Column("user_id", String(64)),
    Column("ip_address", String(45)),
    Column("action", String(64), nullable=False),
    Column("resource", String(255)),
    Column("method", String(8)),
    Column("status_code", Integer()),
    Column("success", Boolean(), nullable=False),
    Column("error_message", Text()),
    Column("service_name", String(32), nullable=False),
    Column("severity", String(10), nullable=False, server_default="info"),
    Column("execution_time_ms", Float()),
    Column("details", JSON()),
    CheckConstraint("severity IN ('debug', 'info', 'warning', 'error', 'critical')", name="severity"),
    Index("idx_audit_logs_timestamp", "timestamp"),
    Index("idx_audit_logs_action_timestamp", "action", "timestamp"),
    Index("idx_audit_logs_service_timestamp", "service_name", "timestamp"),
)

job_runs = Table(
    "job_runs",
    metadata,
    _id(),
    Column("job_name", String(64), nullable=False),
    Column("scheduled_for", UTCDateTime()),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("status", String(16), nullable=False),
    Column("attempt", Integer(), nullable=False, server_default="1"),
    Column("duration_ms", Float()),
    Column("error_message", Text()),
    Column("details", JSON()),
    CheckConstraint("status IN ('running', 'succeeded', 'failed', 'skipped')", name="status"),
    Index("idx_job_runs_job_started", "job_name", "started_at"),
)

watchlist = Table(
    "watchlist",
    metadata,
    _id(),
    Column("symbol", String(16), nullable=False, unique=True),
    Column("active", Boolean(), nullable=False, server_default="1"),
    Column("added_by", String(64), nullable=False),
    _created_at("added_at"),
)

strategy_configs = Table(
    "strategy_configs",
    metadata,
    _id(),
    Column("name", String(64), nullable=False, unique=True),
    Column("strategy_type", String(64), nullable=False),
    Column("parameters", JSON(), nullable=False),
    Column("symbols", JSON(), nullable=False),
    Column("timeframe", String(8), nullable=False),
    Column("enabled", Boolean(), nullable=False, server_default="0"),
    Column("updated_by", String(64), nullable=False),
    _created_at(),
    Column("updated_at", UTCDateTime(), nullable=False),
)

model_registry = Table(
    "model_registry",
    metadata,
    _id(),
    Column("name", String(64), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("training_start", UTCDateTime(), nullable=False),
    Column("training_end", UTCDateTime(), nullable=False),
    Column("features", JSON(), nullable=False),
    Column("metrics", JSON(), nullable=False),
    Column("artifact_path", Text(), nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    _created_at(),
    Column("promoted_at", UTCDateTime()),
    # Cross-sectional models (0009): the horizon is part of a model's identity (one per name), the
    # kind says which pipeline made it, and the card holds its validation figures and gate decision.
    Column("horizon", Integer()),
    Column("kind", String(32), nullable=False, server_default="classifier"),
    Column("card", JSON()),
    CheckConstraint(
        "status IN ('candidate', 'shadow', 'active', 'retired', 'refused', 'rolled_back')", name="status"
    ),
    Index("uq_model_registry_name_version", "name", "version", unique=True),
)

# Every step of a model's life (trained, gate, shadow started, promoted, refused, rolled back,
# drift), with the figures that decided it.
model_events = Table(
    "model_events",
    metadata,
    _id(),
    Column("name", String(64), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("event", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("figures", JSON(), nullable=False),
    Index("ix_model_events_name_version", "name", "version"),
)

# One row per rebalance of a ranking model, live: the picks at a session's close (traded for the
# champion, only recorded for a shadow), and once the horizon has passed, what they returned net
# of costs beside buy-and-hold of the universe.
model_periods = Table(
    "model_periods",
    metadata,
    _id(),
    Column("name", String(64), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("role", String(16), nullable=False),
    Column("session_at", UTCDateTime(), nullable=False),
    Column("picks", JSON(), nullable=False),
    Column("universe", Integer(), nullable=False),
    Column("pick_return", Float()),
    Column("universe_return", Float()),
    Column("settled_at", UTCDateTime()),
    _created_at(),
    CheckConstraint("role IN ('champion', 'shadow')", name="role"),
    Index("uq_model_periods_name_version_session_at", "name", "version", "session_at", unique=True),
)

backtest_runs = Table(
    "backtest_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("parameters", JSON(), nullable=False),
    Column("data_hash", String(64)),
    Column("code_version", String(64)),
    Column("seed", Integer()),
    Column("metrics", JSON()),
    Column("error_message", Text()),
    _created_at(),
    Column("finished_at", UTCDateTime()),
)

export_jobs = Table(
    "export_jobs",
    metadata,
    _id(),
    Column("kind", String(32), nullable=False),
    Column("format", String(16), nullable=False),
    Column("filters", JSON(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("path", Text()),
    Column("row_count", BigInteger()),
    Column("byte_count", BigInteger()),
    Column("requested_by", String(64)),
    Column("error_message", Text()),
    _created_at(),
    Column("finished_at", UTCDateTime()),
)

# Operator switches that outlive a restart (maintenance mode); one row per flag, newest value wins.
system_flags = Table(
    "system_flags",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", JSON(), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# News articles, one row per version (an edit is a new row with its own updated_at), so a decision
# at t can be shown what was published by t. `id` is the provider's article id.
news = Table(
    "news",
    metadata,
    Column("id", BigInteger(), primary_key=True, autoincrement=False),
    Column("updated_at", UTCDateTime(), primary_key=True),
    Column("headline", Text(), nullable=False),
    Column("summary", Text(), nullable=False),
    Column("symbols", JSON(), nullable=False),
    Column("source", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Index("idx_news_created_at", "created_at"),
)

# Which symbols each article version names: the look-up by symbol on both back ends.
news_symbols = Table(
    "news_symbols",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("news_id", BigInteger(), primary_key=True, autoincrement=False),
    Column("news_updated_at", UTCDateTime(), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("idx_news_symbols_symbol_created_at", "symbol", "created_at"),
)

# Every model call of the llm strategy: what was asked (prompt and its hash), what it cost, what
# came back and what became of it. Answered and refused rows are also the answer cache a backtest
# replays (by model and prompt hash); failed calls are recorded but never replayed.
llm_calls = Table(
    "llm_calls",
    metadata,
    _id(),
    Column("called_at", UTCDateTime(), nullable=False),
    Column("model", String(64), nullable=False),
    Column("provider", String(16), nullable=False),
    Column("provider_model", String(128), nullable=False),
    Column("prompt_hash", String(64), nullable=False),
    Column("prompt", Text(), nullable=False),
    Column("strategy_name", String(64)),
    Column("symbol", String(16), nullable=False),
    Column("bar_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("refusal_code", String(32)),
    Column("error_message", Text()),
    Column("answer", Text()),
    Column("decision", JSON()),
    Column("input_tokens", Integer(), nullable=False, server_default="0"),
    Column("output_tokens", Integer(), nullable=False, server_default="0"),
    Column("cost_usd", Amount(14, 8), nullable=False, server_default="0"),
    Column("latency_ms", Float(), nullable=False, server_default="0"),
    Column("signal_event_id", String(36)),
    CheckConstraint("status IN ('answered', 'refused', 'failed')", name="status"),
    Index("idx_llm_calls_model_prompt_hash", "model", "prompt_hash"),
    Index("idx_llm_calls_model_called_at", "model", "called_at"),
    Index("idx_llm_calls_signal_event_id", "signal_event_id"),
)

# What the data collector has announced, per series: every bar of `timeframe` starting at or before
# `published_through` was published as BarClosed, passed over as history (closed before the system
# could act), or found empty. Survives restarts, so nothing is announced twice or skipped.
bar_cursors = Table(
    "bar_cursors",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("timeframe", String(8), primary_key=True),
    Column("published_through", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
