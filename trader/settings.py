"""Typed settings, read from the environment (and a per-environment file) once at start-up.

Nothing reads settings at import time: `load_settings()` is called by the CLI or a test and the
resulting object is passed down.
"""

from __future__ import annotations

import enum
import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from trader.core.fills import (
    DEFAULT_SEC_FEE_RATE,
    DEFAULT_SLIPPAGE_BPS,
    DEFAULT_TAF_MAX_PER_TRADE,
    DEFAULT_TAF_PER_SHARE,
    Commission,
    FillModel,
    RegulatoryFees,
    Slippage,
)

SERVICE_NAMES: tuple[str, ...] = (
    "data_collector",
    "strategy_engine",
    "risk_manager",
    "trade_executor",
    "scheduler",
    "export_service",
    "maintenance_service",
)
DEFAULT_PORTS: dict[str, int] = dict(zip(SERVICE_NAMES, range(8001, 8008), strict=True))
MIN_SECRET_LENGTH = 32
SCREENER_SOURCES = ("most_actives", "movers", "gap", "relative_volume", "breakout")
_PLACEHOLDER_MARKERS = ("change", "placeholder", "your_", "your-", "example", "xxxx", "secret_here", "todo")


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"
    TEST = "test"


class MarketDataSource(enum.StrEnum):
    REPLAY = "replay"
    TWELVE_DATA = "twelvedata"
    ALPACA = "alpaca"


class BrokerKind(enum.StrEnum):
    SIMULATED = "simulated"
    ALPACA = "alpaca"


class LlmProvider(enum.StrEnum):
    OPENAI = "openai"  # any OpenAI-compatible server (/v1/chat/completions)
    OLLAMA = "ollama"  # Ollama's /api/chat
    ANTHROPIC = "anthropic"  # Anthropic's Messages API, through its official SDK


class LlmModelSettings(BaseModel):
    """One model of the `llm` strategy's panel (an item of LLM_MODELS, a JSON list)."""

    name: str = Field(min_length=1, max_length=64)  # what configurations and the record call it
    provider: LlmProvider
    model: str = Field(min_length=1)  # the provider's own model id
    url: str = ""  # server base URL; empty for Anthropic means the SDK's own host
    api_key: SecretStr | None = None  # Anthropic falls back to ANTHROPIC_API_KEY
    weight: Decimal = Field(Decimal(1), gt=0)
    # The last day the model's training data covers: a backtest over earlier bars is refused unless
    # the configuration allows it (the model may have learnt what happened next). None: unknown,
    # which a backtest treats as "after every bar".
    knowledge_cutoff: date | None = None
    input_usd_per_million_tokens: Decimal = Field(Decimal(0), ge=0)
    output_usd_per_million_tokens: Decimal = Field(Decimal(0), ge=0)
    daily_budget_usd: Decimal | None = Field(None, ge=0)  # None: no budget (a local model)
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_output_tokens: int = Field(400, ge=16, le=8192)


class SettingsError(ValueError):
    """Settings that cannot be used; the message says which and why."""


def _is_placeholder(value: str) -> bool:
    lowered = value.lower()
    return any(marker in lowered for marker in _PLACEHOLDER_MARKERS)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, env_file_encoding="utf-8")

    environment: Environment = Environment.DEVELOPMENT

    # Storage and bus: empty means the embedded default (SQLite under data_dir, in-process bus).
    database_url: str = ""
    redis_url: str = ""
    data_dir: Path = Path("data")
    log_dir: Path = Path("logs")
    log_level: str = "INFO"
    # A message a consumer read but did not acknowledge for this long is taken over by another
    # worker of its consumer group (the first worker died or hangs). Longer than any handler runs.
    bus_claim_stale_ms: int = Field(60_000, ge=100)

    # Services
    host: str = "127.0.0.1"
    data_collector_port: int = Field(DEFAULT_PORTS["data_collector"], ge=1, le=65535)
    strategy_engine_port: int = Field(DEFAULT_PORTS["strategy_engine"], ge=1, le=65535)
    risk_manager_port: int = Field(DEFAULT_PORTS["risk_manager"], ge=1, le=65535)
    trade_executor_port: int = Field(DEFAULT_PORTS["trade_executor"], ge=1, le=65535)
    scheduler_port: int = Field(DEFAULT_PORTS["scheduler"], ge=1, le=65535)
    export_service_port: int = Field(DEFAULT_PORTS["export_service"], ge=1, le=65535)
    maintenance_service_port: int = Field(DEFAULT_PORTS["maintenance_service"], ge=1, le=65535)
    # Where the other services answer, when they run in other processes or containers
    # (JSON object, e.g. {"risk_manager": "http://risk_manager:8003"}). Defaults to host:port.
    service_urls: dict[str, str] = Field(default_factory=dict)
    health_timeout_seconds: float = Field(2.0, gt=0, le=30)

    # Replay clock (embedded default): simulated time starts at the first session on or after
    # replay_start (the replayed history before it is the strategies' lookback) and runs
    # replay_speed times faster than the wall clock; a restart resumes where it stopped.
    replay_start: date = date(2010, 1, 4)
    replay_speed: float = Field(21600.0, gt=0, le=10_000_000)
    # An accelerated wall clock for live sources (a paper session against emulators, a rehearsal):
    # simulated time was live_clock_start at wall time live_clock_anchor (epoch seconds) and runs
    # live_clock_speed times faster. Every process given the same three values tells the same time,
    # so one process per service agree. Unset: the wall clock. Refused in production.
    live_clock_start: datetime | None = None
    live_clock_anchor: float | None = None
    live_clock_speed: float = Field(1.0, gt=0, le=100_000)

    # Providers and broker
    market_data_source: MarketDataSource = MarketDataSource.REPLAY
    broker: BrokerKind = BrokerKind.SIMULATED
    twelve_data_api_key: SecretStr | None = None
    alpaca_api_key: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    alpaca_base_url: str = "https://paper-api.alpaca.markets"

    # Trade executor
    executor_reconcile_interval_seconds: float = Field(30.0, gt=0)
    executor_stuck_order_seconds: float = Field(120.0, gt=0)
    executor_drift_threshold_usd: Decimal = Field(Decimal("1000"), ge=0)
    executor_submit_attempts: int = Field(3, ge=1, le=10)
    executor_broker_timeout_seconds: float = Field(10.0, gt=0, le=120)
    # Order updates streamed by the broker (Alpaca's trade_updates websocket), recorded as they
    # happen; reconciliation stays the safety net. The URL, when empty, is the stream that goes
    # with ALPACA_BASE_URL (paper or live).
    executor_order_stream: bool = True
    alpaca_trading_stream_url: str = ""
    executor_stream_backoff_first_seconds: float = Field(1.0, gt=0, le=60)
    executor_stream_backoff_most_seconds: float = Field(30.0, gt=0, le=600)
    executor_stream_refused_seconds: float = Field(60.0, ge=0, le=3600)
    # The simulated broker's starting cash is simulated_starting_cash (under Risk manager).
    # Costs of simulated fills, the same for the simulated broker and every backtest (`fill_model`):
    # slippage against the trader, commission (Alpaca charges none), and the regulatory fees every
    # sale pays (SEC Section 31 fee per dollar sold; FINRA TAF per share sold, capped per trade).
    # The fee rates change by fiscal year: see trader/core/fills.py for the sources of the defaults.
    simulated_slippage_bps: Decimal = Field(DEFAULT_SLIPPAGE_BPS, ge=0)
    simulated_commission_per_share: Decimal = Field(Decimal("0"), ge=0)
    sec_fee_rate: Decimal = Field(DEFAULT_SEC_FEE_RATE, ge=0, le=Decimal("0.01"))
    finra_taf_per_share: Decimal = Field(DEFAULT_TAF_PER_SHARE, ge=0, le=Decimal("0.01"))
    finra_taf_max_per_trade: Decimal = Field(DEFAULT_TAF_MAX_PER_TRADE, ge=0)
    simulated_participation_rate: Decimal = Field(Decimal("0.1"), gt=0, le=1)
    # Whether the simulated broker trades assets in fractions of a share (Alpaca says per asset).
    simulated_fractionable: bool = False
    # The executor reads the broker's account into account_snapshots at start, after fills, and
    # every account_snapshot_seconds in the regular session (account_snapshot_idle_seconds outside it).
    account_snapshot_seconds: float = Field(60.0, gt=0, le=3600)
    account_snapshot_idle_seconds: float = Field(240.0, gt=0, le=86400)

    # Risk manager
    # Cash of the simulated account before its first snapshot (the simulated broker starts with it).
    simulated_starting_cash: Decimal = Field(Decimal("100000"), gt=0)
    # symbol,sector CSV; generated from the S&P 500 sample data when absent, then yours to edit.
    risk_sector_map_path: Path = Path("config/sector_map.csv")
    # fixed_fraction (of equity), atr (stop at RISK_ATR_MULTIPLE ATRs, risking risk_per_trade_pct)
    # or volatility_target; the same size_position the backtester calls.
    risk_sizing_method: str = "fixed_fraction"
    risk_sizing_fraction: Decimal = Field(Decimal("0.05"), gt=0, le=1)
    risk_atr_multiple: Decimal = Field(Decimal("2"), gt=0)
    risk_target_volatility: Decimal = Field(Decimal("0.15"), gt=0)
    # Protective levels of an entry whose signal gives none, as fractions of the signal's price
    # (0.05: a stop-loss 5% below a long's price). With both, the entry goes to the broker as a
    # bracket (its stop-loss and take-profit legs wait at the broker). Unset: no default legs.
    risk_stop_loss_pct: Decimal | None = Field(None, gt=0, lt=1)
    risk_take_profit_pct: Decimal | None = Field(None, gt=0)
    # Closes of the base timeframe behind volatility, correlation and VaR figures.
    risk_lookback_bars: int = Field(60, ge=21, le=2000)
    # With a live broker, an order that adds risk is refused (ACCOUNT_STALE) when the newest reading
    # of the broker's account in step with the books is older than this.
    risk_account_max_age_seconds: float = Field(300.0, gt=0)
    # What a tripped breaker does: the trading state it moves to, and whether it closes every position.
    risk_daily_loss_state: Literal["reducing", "halted"] = "reducing"
    risk_drawdown_state: Literal["reducing", "halted"] = "halted"
    risk_breaker_flatten: bool = False

    # Security
    api_secret_key: SecretStr | None = None
    api_token: SecretStr | None = None
    # The guide shows some mutating calls without a token (POST /data/collect, close-all).
    # They work as written only in development and only from loopback; None means "on in
    # development, off elsewhere", and production refuses it switched on.
    allow_unauthenticated_loopback: bool | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Rate limiting: sliding windows per client IP (Redis sorted sets rate_limit:{rule}:{client})
    rate_limit_general_per_minute: int = Field(1200, ge=1)
    rate_limit_mutations_per_minute: int = Field(120, ge=1)
    rate_limit_bypass_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Notifications: a channel is on when its URL/host is set. Each kind of notification
    # (order_rejected, trading_state_changed, job_failed, reconciliation_drift, daily_summary) is
    # sent at most once per cooldown.
    notification_webhook_url: SecretStr | None = None
    slack_webhook_url: SecretStr | None = None
    gotify_url: str = ""
    gotify_token: SecretStr | None = None
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_from: str = ""
    smtp_to: Annotated[list[str], NoDecode] = Field(default_factory=list)
    notification_cooldown_seconds: float = Field(300.0, ge=0)
    # Chat ops: with a bot token, the maintenance service runs a Telegram bot that answers the
    # chat ids listed here (anyone else is refused and audited) and pushes the notifications.
    telegram_bot_token: SecretStr | None = None
    telegram_chat_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    telegram_api_url: str = ""  # empty: Telegram's own; else a Bot API server (e.g. a local one)
    telegram_poll_timeout_seconds: int = Field(30, ge=0, le=60)

    # Export and maintenance
    backup_dir: Path = Path("backups")
    backup_retention_days: int = Field(30, ge=1)
    # Never prune below this many backups, however old they are.
    backup_keep_minimum: int = Field(3, ge=1)
    export_dir: Path = Path("exports")

    # Scheduler
    # Job name -> cadence replacing its default, e.g. {"backup": "close+45m", "model_retraining":
    # "sat 06:00", "collect_bars": "every 15m"}. Cadences: open|close[+-Nm|h], every N[s|m|h]
    # [round the clock], daily HH:MM, mon,thu HH:MM (New York time, NYSE sessions).
    scheduler_cadences: dict[str, str] = Field(default_factory=dict)
    # Backups, retention, the end-of-day report and retraining run at most this often by the wall
    # clock: an accelerated replay clock would otherwise make a daily backup one every few seconds.
    scheduler_heavy_job_min_wall_seconds: float = Field(3600.0, ge=0)
    # Audit logs, job runs, export records and signals/decisions no order refers to.
    retention_days: int = Field(90, ge=1)
    retention_market_data_days: int = Field(0, ge=0)  # 0 keeps bars forever (lookback and training)
    # Model retraining (weekly job, POST /models/train, `trader model train`)
    model_training_max_bars: int = Field(2500, ge=300)  # newest stored bars per symbol
    model_promotion_metric: str = "auc"  # out-of-sample metric a candidate must beat the active on
    model_promotion_min_improvement: float = Field(0.0, ge=0)
    # Cross-sectional ranking models (`trader model train --kind ranking`, the model desk). The
    # gate: every figure is of net returns in excess of buy-and-hold of the same universe.
    model_gate_min_dsr: float = Field(0.95, ge=0, le=1)  # deflated Sharpe ratio over every trial
    model_gate_max_pbo: float = Field(0.5, ge=0, le=1)  # probability of backtest overfitting (CSCV)
    model_gate_beat_buy_and_hold: bool = True  # median out-of-sample excess Sharpe must be > 0
    model_gate_min_improvement: float = Field(0.0, ge=0)  # over the champion, same CPCV splits
    model_horizon_sessions: int = Field(5, ge=1, le=60)  # holding period; part of a model's identity
    model_top_fraction: float = Field(0.1, gt=0, le=0.5)  # share of the universe bought each rebalance
    model_estimator: str = Field("lightgbm", pattern="^(lightgbm|sklearn)$")
    model_search_trials: int = Field(8, ge=2, le=500)  # Optuna trials, each counted in the DSR
    model_cv_groups: int = Field(6, ge=3, le=16)
    model_cv_test_groups: int = Field(2, ge=1, le=8)
    model_cv_embargo_sessions: int = Field(5, ge=0, le=60)
    model_label_notional: float = Field(10_000.0, gt=0)  # trade size the labels' commissions assume
    model_seed: int = 0
    # Shadow and rollback: a candidate that passed the gate is shadowed for this many settled
    # rebalances; its mean excess return must stay inside the backtest's band (mean +- z * sd /
    # sqrt(n)) to become champion. A champion is rolled back when its last that many settled
    # rebalances fall below the band, or when a feature's PSI over them exceeds the limit.
    model_shadow_periods: int = Field(4, ge=1, le=250)
    model_band_z: float = Field(1.96, gt=0, le=10)
    model_rollback_psi: float = Field(0.25, gt=0)
    model_ranking_history_sessions: int = Field(400, ge=62)  # sessions of bars the desk reads per symbol

    # Data collector
    # Twelve Data is the primary provider when MARKET_DATA_SOURCE=twelvedata; the backup is tried on
    # its errors or exhausted credits ("" for none).
    twelve_data_base_url: str = "https://api.twelvedata.com"
    twelve_data_credits_per_minute: int = Field(8, ge=1)
    alpaca_data_url: str = ""  # empty: alpaca-py's own data host
    alpaca_data_feed: str = "iex"  # iex (free) or sip
    market_data_backup: str = "alpaca"
    data_base_timeframe: str = ""  # empty: 1min with live providers, 1day for the replay
    data_watchlist: str = "AAPL,MSFT,IBM,GOOG,AMZN,JPM,XOM,JNJ"  # seeds the watchlist table once
    data_provider_timeout_seconds: float = Field(10.0, gt=0, le=120)
    data_circuit_failure_threshold: int = Field(3, ge=1)
    data_circuit_cool_down_seconds: float = Field(30.0, gt=0)
    data_backfill_days: int = Field(5, ge=1)  # POST /data/collect without start: this many days back
    data_collect_job_threshold: int = Field(5000, ge=1)  # expected bars above which a backfill runs as a job
    # Streamed bars (MARKET_DATA_SOURCE=alpaca): minute bars and corrections over Alpaca's market-data
    # websocket on ALPACA_DATA_FEED, REST backfill after every (re)connect, REST polling while it is down.
    data_stream_enabled: bool = True
    alpaca_data_stream_url: str = ""  # empty: wss://stream.data.alpaca.markets (/v2/<feed> is added)
    data_stream_reconnect_min_seconds: float = Field(1.0, gt=0)
    data_stream_reconnect_max_seconds: float = Field(60.0, gt=0)
    # After a refusal (wrong keys, a feed outside the plan, another process holding the connection).
    data_stream_refused_retry_seconds: float = Field(300.0, gt=0)
    # Live bars above the base timeframe, announced as each closes (1day: at the session's close).
    data_live_timeframes: str = "5min,15min,30min,1h,1day"
    # A bar that closed longer ago than this when it could be announced (after a start, a reconnect,
    # an outage) is history: stored as lookback, never a signal.
    data_freshness_seconds: float = Field(60.0, gt=0)
    # How long after a bar's close it is final even if nothing more arrived (no trades in its last
    # minute, a late stream); the polling fallback asks the provider this long after each close.
    data_bar_settle_seconds: float = Field(5.0, ge=0)

    # Strategy engine
    strategies_dir: Path = Path("strategies")  # user strategy files (*.py), discovered at start
    strategy_default_type: str = "sma_crossover"  # seeded once as the "default" config, on the watchlist
    strategy_default_parameters: dict[str, Any] = Field(
        default_factory=lambda: {"fast_window": 10, "slow_window": 30}
    )
    strategy_default_timeframe: str = "1day"
    strategy_lookahead_bars: int = Field(1500, ge=200)  # synthetic bars a user strategy is checked on
    # Bars a strategy worker takes per read, evaluated together (one configuration read, one window
    # query, one signals transaction; the risk manager then judges a minute on fewer readings of
    # its books). With N workers sharing the consumer group, about 500/N spreads a minute across them.
    strategy_read_batch: int = Field(500, ge=1, le=5000)
    llm_enabled: bool = False  # the optional advisor may veto or annotate signals, never place one
    llm_advisor_url: str = "http://127.0.0.1:11434"  # an OpenAI-compatible or Ollama server
    llm_api_style: str = "openai"  # "openai" (/v1/chat/completions) or "ollama" (/api/chat)
    llm_model: str = "llama3.1"
    llm_api_key: SecretStr | None = None
    llm_timeout_seconds: float = Field(5.0, gt=0, le=120)
    llm_fallback: str = "allow"  # when the advisor fails or times out: "allow" or "veto" the signal
    # The `llm` strategy's models (JSON list of LlmModelSettings). Empty: one model made of
    # LLM_ADVISOR_URL, LLM_API_STYLE, LLM_MODEL and LLM_API_KEY, named after LLM_MODEL.
    llm_models: list[LlmModelSettings] = Field(default_factory=list)
    anthropic_api_key: SecretStr | None = None

    # Screener: when on, the `universe_refresh` job replaces the watchlist with the ranked screen
    # (Alpaca's most actives and movers, and scans over stored bars), keeping held symbols on it.
    screener_enabled: bool = False
    screener_max_symbols: int = Field(20, ge=1, le=500)
    screener_sources: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(SCREENER_SOURCES))
    screener_alpaca_top: int = Field(20, ge=1, le=50)  # symbols asked of each Alpaca screener list
    screener_gap_percent: Decimal = Field(Decimal("3"), gt=0)
    screener_relative_volume: Decimal = Field(Decimal("2"), gt=0)
    screener_volume_bars: int = Field(20, ge=2, le=500)  # bars behind the average volume
    screener_breakout_bars: int = Field(20, ge=2, le=500)  # a close above the prior N bars' high
    screener_pinned: Annotated[list[str], NoDecode] = Field(default_factory=list)  # always in the universe

    # News (Alpaca's News API): REST backfill for the watchlist and the news websocket live.
    news_enabled: bool = False
    news_backfill_days: int = Field(3, ge=1, le=365)
    alpaca_news_stream_url: str = ""  # empty: alpaca-py's own news stream host

    @field_validator(
        "cors_origins",
        "rate_limit_bypass_ips",
        "smtp_to",
        "screener_sources",
        "screener_pinned",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("telegram_chat_ids", mode="before")
    @classmethod
    def _chat_ids(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return [int(item) for item in value.replace(" ", "").split(",") if item]
            except ValueError:
                raise ValueError("TELEGRAM_CHAT_IDS must be comma-separated chat ids (integers)") from None
        return value

    @model_validator(mode="after")
    def _telegram_has_chats(self) -> Settings:
        if self.telegram_bot_token is not None and not self.telegram_chat_ids:
            raise ValueError(
                "TELEGRAM_BOT_TOKEN is set but TELEGRAM_CHAT_IDS is not: the bot would answer no one"
            )
        return self

    @field_validator("data_live_timeframes")
    @classmethod
    def _known_timeframes(cls, value: str) -> str:
        from trader.core.market import Timeframe

        for item in value.split(","):
            if item.strip():
                Timeframe.parse(item)
        return value

    @model_validator(mode="after")
    def _fresh_outlasts_settle(self) -> Settings:
        if self.data_freshness_seconds <= self.data_bar_settle_seconds:
            raise ValueError("DATA_FRESHNESS_SECONDS must be longer than DATA_BAR_SETTLE_SECONDS")
        return self

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {value!r}")
        return level

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        # Operators write the URL the way psql and the guide do; we pick the async driver.
        if value.startswith(("postgres://", "postgresql://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        if value and not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("DATABASE_URL must be a postgresql:// or sqlite:/// URL")
        return value

    @field_validator("live_clock_start")
    @classmethod
    def _aware_clock_start(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("LIVE_CLOCK_START needs a time zone, e.g. 2024-11-29T14:00:00Z")
        return None if value is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _live_clock_complete(self) -> Settings:
        if (self.live_clock_start is None) != (self.live_clock_anchor is None):
            raise ValueError("LIVE_CLOCK_START and LIVE_CLOCK_ANCHOR are set together or not at all")
        return self

    @model_validator(mode="after")
    def _llm_and_screener_are_consistent(self) -> Settings:
        names = [model.name for model in self.llm_models]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"LLM_MODELS names must be unique; repeated: {', '.join(repeated)}")
        for model in self.llm_models:
            if model.provider is not LlmProvider.ANTHROPIC and not model.url:
                raise ValueError(f"LLM_MODELS {model.name}: a {model.provider.value} model needs its url")
        unknown = sorted(set(self.screener_sources) - set(SCREENER_SOURCES))
        if unknown:
            raise ValueError(
                f"SCREENER_SOURCES: unknown {', '.join(unknown)}; known: {', '.join(SCREENER_SOURCES)}"
            )
        return self

    @model_validator(mode="after")
    def _account_read_often_enough(self) -> Settings:
        slowest = max(self.account_snapshot_seconds, self.account_snapshot_idle_seconds)
        if slowest >= self.risk_account_max_age_seconds:
            raise ValueError(
                f"ACCOUNT_SNAPSHOT_SECONDS / ACCOUNT_SNAPSHOT_IDLE_SECONDS ({slowest:g}) must be below "
                f"RISK_ACCOUNT_MAX_AGE_SECONDS ({self.risk_account_max_age_seconds:g}), or every order "
                "would wait on a stale account"
            )
        return self

    @model_validator(mode="after")
    def _stream_backoff_grows(self) -> Settings:
        if self.executor_stream_backoff_first_seconds > self.executor_stream_backoff_most_seconds:
            raise ValueError(
                "EXECUTOR_STREAM_BACKOFF_FIRST_SECONDS must not exceed EXECUTOR_STREAM_BACKOFF_MOST_SECONDS"
            )
        if self.alpaca_trading_stream_url and not self.alpaca_trading_stream_url.startswith(
            ("ws://", "wss://")
        ):
            raise ValueError("ALPACA_TRADING_STREAM_URL must be a ws:// or wss:// URL")
        return self

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.environment is not Environment.PRODUCTION:
            return self
        problems = []
        for name in ("api_secret_key", "api_token"):
            secret = getattr(self, name)
            env_name = name.upper()
            if secret is None or not secret.get_secret_value():
                problems.append(f"{env_name} is missing")
            elif len(secret.get_secret_value()) < MIN_SECRET_LENGTH:
                problems.append(f"{env_name} is shorter than {MIN_SECRET_LENGTH} characters")
            elif _is_placeholder(secret.get_secret_value()):
                problems.append(f"{env_name} is still a placeholder value")
        if not self.database_url.startswith("postgresql"):
            problems.append("DATABASE_URL must point at PostgreSQL in production")
        if not self.redis_url:
            problems.append("REDIS_URL is required in production")
        if self.allow_unauthenticated_loopback:
            problems.append("ALLOW_UNAUTHENTICATED_LOOPBACK must be off in production")
        if self.live_clock_start is not None:
            problems.append("LIVE_CLOCK_START must be unset in production (the wall clock trades)")
        if self.broker is BrokerKind.ALPACA and not (self.alpaca_api_key and self.alpaca_secret_key):
            problems.append("BROKER=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
        if problems:
            raise ValueError("production settings refused: " + "; ".join(problems))
        return self

    # Derived values

    @property
    def effective_llm_models(self) -> list[LlmModelSettings]:
        """LLM_MODELS, or the one model the advisor settings describe."""
        if self.llm_models:
            return list(self.llm_models)
        return [
            LlmModelSettings(
                name=self.llm_model,
                provider=LlmProvider(self.llm_api_style),
                model=self.llm_model,
                url=self.llm_advisor_url,
                api_key=self.llm_api_key,
                timeout_seconds=self.llm_timeout_seconds,
            )
        ]

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'trading_system.db').as_posix()}"

    @property
    def loopback_without_token(self) -> bool:
        if self.allow_unauthenticated_loopback is None:
            return self.environment is Environment.DEVELOPMENT
        return self.allow_unauthenticated_loopback

    @property
    def uses_embedded_database(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def fill_model(
        self, *, slippage_bps: Decimal | None = None, commission_per_share: Decimal | None = None
    ) -> FillModel:
        """The costs simulated fills pay, for the simulated broker and backtests alike; one backtest
        may name its own slippage and commission (the regulatory fees are the law's, not a choice)."""
        return FillModel(
            slippage=Slippage(self.simulated_slippage_bps if slippage_bps is None else slippage_bps),
            commission=Commission(
                per_share=self.simulated_commission_per_share
                if commission_per_share is None
                else commission_per_share
            ),
            fees=RegulatoryFees(
                sec_fee_rate=self.sec_fee_rate,
                taf_per_share=self.finra_taf_per_share,
                taf_max_per_trade=self.finra_taf_max_per_trade,
            ),
        )

    def port_of(self, service: str) -> int:
        port = getattr(self, f"{service}_port", None)
        if not isinstance(port, int):
            raise KeyError(f"unknown service {service!r}; known: {', '.join(SERVICE_NAMES)}")
        return port

    def url_of(self, service: str) -> str:
        if service in self.service_urls:
            return self.service_urls[service].rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104 - comparing, not binding
        return f"http://{host}:{self.port_of(service)}"


def environment_file(environment: str, config_dir: Path = Path("config/environments")) -> Path:
    return config_dir / f"{environment}.env"


def load_settings(environment: str | None = None, **overrides: Any) -> Settings:
    """Read settings once: process environment first, then config/environments/<env>.env.

    Raises SettingsError with every problem spelled out.
    """
    chosen = environment or os.environ.get("ENVIRONMENT") or os.environ.get("TRADER_ENV") or "development"
    try:
        Environment(chosen)
    except ValueError as error:
        allowed = ", ".join(e.value for e in Environment)
        raise SettingsError(f"unknown environment {chosen!r}; use one of {allowed}") from error
    env_file = environment_file(chosen)
    try:
        return Settings(
            _env_file=env_file if env_file.exists() else None,
            environment=chosen,
            **overrides,
        )
    except ValidationError as error:
        messages = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'settings'}: {item['msg']}"
            for item in error.errors()
        )
        raise SettingsError(f"invalid settings for {chosen}: {messages}") from None
