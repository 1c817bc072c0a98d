"""Strategy engine use cases: configurations, live evaluation of closed bars, backtest jobs, the registry.

Live evaluation and the backtester call the same `evaluate_latest` on the same strategy code,
so a signal seen live is the signal the backtest had at that bar. A signal is stored in
`signals` before `SignalEmitted` is published; a redelivered bar finds the stored row and
publishes the same event id again rather than a second signal.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from trader.adapters.db.stores.backtests import BacktestRunStore
from trader.adapters.db.stores.market_data import MarketDataStore, WatchlistStore
from trader.adapters.db.stores.models import ModelRegistryStore, ModelVersion
from trader.adapters.db.stores.positions import PositionStore
from trader.adapters.db.stores.signals import SignalRecord, SignalStore, signal_event
from trader.adapters.db.stores.strategies import FOLLOWS_WATCHLIST, StrategyConfig, StrategyConfigStore
from trader.adapters.llm.advisor import LlmAdvisor
from trader.adapters.strategy_loader import DiscoveryReport
from trader.backtest.align import align_series
from trader.backtest.engine import BacktestConfig, run_backtest
from trader.backtest.optimize import metrics_as_dict
from trader.core import topics
from trader.core.events import BarClosed, BarCorrected, new_event_id
from trader.core.fills import FillModel, FillRule
from trader.core.llm.strategy import LlmStrategySettings
from trader.core.lookahead import check_lookahead
from trader.core.market import Timeframe, normalize_symbol
from trader.core.money import to_price
from trader.core.orders import OrderSide
from trader.core.protective import ProtectiveFractions
from trader.core.strategies.base import SignalDirection, Strategy
from trader.core.strategies.catalog import StrategyCatalog
from trader.core.strategies.closing import closing_signal
from trader.core.strategies.ml_features import compute_features
from trader.core.strategies.series import BarSeries
from trader.ml.artifacts import load_model
from trader.ml.drift import drift_level, feature_drift
from trader.ml.model import MlModel
from trader.ml.ranking_strategy import RankingStrategySettings
from trader.ml.strategy import MlStrategy, MlStrategySettings
from trader.services.common.metrics import StrategyMetrics
from trader.services.common.resources import Resources
from trader.services.common.timeframes import base_timeframe, live_timeframes
from trader.services.strategy_engine.data_status import TimeframeSupport, TimeframeWarnings, symbols_status
from trader.services.strategy_engine.llm_signals import LlmSignals
from trader.services.strategy_engine.ranking import RankingDeskRunner
from trader.services.strategy_engine.windows import TimeframeWindows, WindowRequest

log = logging.getLogger("trader.services.strategy_engine")
CONSUMER_GROUP = "strategy_engine"
DEFAULT_CONFIG_NAME = "default"


class ModelUnavailableError(LookupError):
    """An ML configuration names a model with no active version (train and promote one first)."""


@dataclass(frozen=True, slots=True)
class _Proposed:
    """A signal a bar gave, before it is recorded: the record to store and the strategy's own
    direction (the record says flat when the advisor vetoed it)."""

    record: SignalRecord
    proposed_direction: str
    llm_call_ids: tuple[int, ...] = ()


@dataclass(slots=True)
class _Built:
    key: tuple[Any, ...]
    strategy: Strategy


@dataclass
class StrategyEngine:
    resources: Resources
    catalog: StrategyCatalog
    discovery: DiscoveryReport = field(default_factory=DiscoveryReport)
    advisor: LlmAdvisor | None = None
    llm: LlmSignals | None = None
    # Runs the model desk for `ml_ranking` configurations after each batch (None: not wired).
    ranking: RankingDeskRunner | None = None
    _built: dict[str, _Built] = field(default_factory=dict)
    _models: dict[tuple[str, int], MlModel] = field(default_factory=dict)
    _jobs: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        engine = self.resources.engine
        self.configs = StrategyConfigStore(engine)
        self.signals = SignalStore(engine)
        self.bars = MarketDataStore(engine)
        self.backtests = BacktestRunStore(engine)
        self.models = ModelRegistryStore(engine)
        self.watchlist = WatchlistStore(engine)
        self.positions = PositionStore(engine)
        settings = self.resources.settings
        self.support = TimeframeSupport(base_timeframe(settings), live_timeframes(settings))
        self.windows = TimeframeWindows(self.bars, self.resources.calendar, self.support.base)
        self.timeframe_warnings = TimeframeWarnings()

    @property
    def models_dir(self) -> Path:
        return self.resources.settings.data_dir / "models"

    def now(self) -> datetime:
        return self.resources.clock.now()

    # Configurations

    async def seed_default(self) -> int:
        settings = self.resources.settings
        symbols = [normalize_symbol(s) for s in settings.data_watchlist.split(",") if s.strip()]
        if settings.screener_enabled:
            symbols = [FOLLOWS_WATCHLIST]
        default = StrategyConfig(
            name=DEFAULT_CONFIG_NAME,
            strategy_type=settings.strategy_default_type,
            parameters=dict(settings.strategy_default_parameters),
            symbols=symbols,
            timeframe=Timeframe.parse(settings.strategy_default_timeframe).value,
            enabled=True,
            updated_by="system",
        )
        self.validate(default.strategy_type, default.parameters)
        seeded = await self.configs.seed([default], self.now())
        if seeded:
            log.info(
                "seeded strategy configuration %r (%s on %s)", default.name, default.strategy_type, symbols
            )
        return seeded

    def validate(self, strategy_type: str, parameters: dict[str, Any]) -> Any:
        """The built strategy (or ML settings); raises UnknownStrategyTypeError / InvalidParametersError."""
        return self.catalog.build(strategy_type, parameters)

    @staticmethod
    def normalize_symbols(symbols: Sequence[str]) -> list[str]:
        if list(symbols) == [FOLLOWS_WATCHLIST]:
            return [FOLLOWS_WATCHLIST]
        return sorted({normalize_symbol(symbol) for symbol in symbols})

    async def strategy_for(self, config: StrategyConfig) -> Strategy:
        key = (config.strategy_type, repr(sorted(config.parameters.items())))
        built = self.validate(config.strategy_type, config.parameters)
        if isinstance(built, MlStrategySettings):
            model = await self.active_model(built.model_name)
            return built.with_model(model)
        cached = self._built.get(config.name)
        if cached is not None and cached.key == key:
            return cached.strategy
        self._built[config.name] = _Built(key, built)
        return built  # type: ignore[no-any-return]

    async def active_model(self, name: str) -> MlModel:
        version = await self.models.active(name)
        if version is None:
            raise ModelUnavailableError(f"model {name!r} has no active version; train and promote one")
        cache_key = (name, version.version)
        if cache_key not in self._models:
            model = await asyncio.to_thread(load_model, Path(version.artifact_path), version.artifact_sha256)
            self._models = {cache_key: model}  # one model per name is enough; drop retired ones
        return self._models[cache_key]

    async def list_strategies(self) -> dict[str, Any]:
        configs = await self.configs.list()
        latest = await self.signals.latest_by_strategy()
        items = []
        for config in configs:
            item: dict[str, Any] = {
                "name": config.name,
                "strategy_type": config.strategy_type,
                "parameters": config.parameters,
                "enabled": config.enabled,
                "symbols": config.symbols,
                "timeframe": config.timeframe,
                "updated_by": config.updated_by,
                "updated_at": config.updated_at.isoformat() if config.updated_at else None,
                "last_signal": latest[config.name].as_dict() if config.name in latest else None,
            }
            try:
                built = self.validate(config.strategy_type, config.parameters)
                item["lookback_bars"] = built.lookback_bars
                item["status"] = "ok"
            except Exception as error:  # a config broken by a removed user strategy is shown, not hidden
                item["status"] = f"invalid: {error}"
            items.append(item)
        return {
            "strategies": items,
            "count": len(items),
            "enabled": sum(1 for item in items if item["enabled"]),
            "refused_user_strategies": [
                {"source": problem.source, "reason": problem.message} for problem in self.discovery.problems
            ],
        }

    def describe_types(self) -> list[dict[str, Any]]:
        return [
            {
                "type": strategy_type.name,
                "summary": strategy_type.summary,
                "source": strategy_type.source,
                "parameters": [spec.describe() for spec in strategy_type.parameters],
            }
            for strategy_type in self.catalog.types()
        ]

    async def data_status(self) -> dict[str, Any]:
        """Per configuration and symbol: bars of its own timeframe available against its lookback;
        every symbol that is not ready is named with the reason. A configuration that follows the
        watchlist is shown for the symbols it trades now (the universe, and what it still holds)."""
        listed = await self.configs.list()
        universe, held = await self._universe(listed)
        configs: list[tuple[Any, int, str | None, list[str]]] = []
        for config in listed:
            symbols = sorted(self._traded(config, universe, held))
            try:
                configs.append(
                    (
                        config,
                        int(self.validate(config.strategy_type, config.parameters).lookback_bars),
                        None,
                        symbols,
                    )
                )
            except Exception as error:  # a broken configuration is shown with its reason, not hidden
                configs.append((config, -1, f"configuration invalid: {error}", symbols))
            problem = self.support.problem(Timeframe.parse(config.timeframe))
            if problem is not None and config.enabled:
                self.timeframe_warnings.warn(config.name, problem)
        rows = await symbols_status(self.bars, self.support, configs)
        ready = sum(1 for row in rows if row["ready"])
        return {
            "checked_at": self.now().isoformat(),
            "base_timeframe": self.support.base.value,
            "live_timeframes": [timeframe.value for timeframe in self.support.live],
            "ready": ready,
            "not_ready": len(rows) - ready,
            "not_ready_symbols": [
                {"strategy": row["strategy"], "symbol": row["symbol"], "reason": row["reason"]}
                for row in rows
                if not row["ready"]
            ],
            "symbols": rows,
        }

    # Live evaluation

    async def on_bar(self, bar: BarClosed) -> list[SignalRecord]:
        """Evaluate every enabled configuration that trades this bar's symbol and timeframe."""
        return await self.on_bars([bar])

    async def on_bars(self, bars: Sequence[BarClosed]) -> list[SignalRecord]:
        """`on_bar` for each bar in order, reading the configurations once, every bar's lookback
        window in one round trip, recording the batch's signals in one transaction and publishing
        them in one call."""
        pairs, exits_only = await self._pairs(bars)
        # Each configuration reads its own timeframe: stored base bars, or them aggregated (as announced).
        windows = await self.windows.series(
            [
                WindowRequest(bar.symbol, bar.timeframe, bar.bar_at, strategy.lookback_bars)
                for _, bar, strategy in pairs
            ]
        )
        proposed: list[_Proposed] = []
        for (config, bar, strategy), window in zip(pairs, windows, strict=True):
            try:
                signal = await self._evaluate(config, bar, strategy, window)
            except (ValueError, LookupError) as error:
                log.error("strategy %s cannot evaluate %s: %s", config.name, bar.symbol, error)
                continue
            except Exception:
                # A strategy's own bug (user strategies are loaded from a folder) costs its signal on
                # this bar only: raised, it would fail the batch, and a batch retried for ever would
                # stall every symbol of every minute after it.
                log.exception(
                    "strategy %s failed on %s %s; no signal from it for this bar",
                    config.name,
                    bar.symbol,
                    bar.bar_at.isoformat(),
                )
                continue
            if signal is None:
                continue
            if (
                config.name,
                bar.symbol,
            ) in exits_only and signal.record.direction == SignalDirection.BUY.value:
                log.info(
                    "strategy %s: no entry in %s, which left the universe (exits only until flat)",
                    config.name,
                    bar.symbol,
                )
                continue
            proposed.append(signal)
        # One transaction for the batch; a bar already signalled finds its stored row.
        stored = await self.signals.record_many([signal.record for signal in proposed])
        if self.llm is not None:
            for signal, (record, _) in zip(proposed, stored, strict=True):
                await self.llm.calls.link(signal.llm_call_ids, record.event_id)
        published = await self._publish(proposed, stored)
        if self.ranking is not None:
            await self.ranking.after_bars(bars)
        return published

    async def _pairs(
        self, bars: Sequence[BarClosed]
    ) -> tuple[list[tuple[StrategyConfig, BarClosed, Strategy]], set[tuple[str, str]]]:
        """(configuration, bar, strategy) for every enabled configuration that trades each bar, and
        the (configuration, symbol) pairs that may only exit: a held symbol that left the universe."""
        configs = await self.configs.list(enabled_only=True)
        universe, held = await self._universe(configs)
        if bars:
            self.check_timeframes(configs)
        # A set per configuration: a 500-symbol list searched for each of 500 bars costs milliseconds.
        traded = [(config, self._traded(config, universe, held)) for config in configs]
        exits_only = {
            (config.name, symbol)
            for config, symbols in traded
            if config.symbols == [FOLLOWS_WATCHLIST]
            for symbol in symbols - universe
        }
        # Each configuration's strategy once per batch, not per bar: building it validates its
        # parameters, and an ML one reads the registry's active model.
        resolved: dict[str, Strategy | ValueError | LookupError] = {}
        pairs: list[tuple[StrategyConfig, BarClosed, Strategy]] = []
        for bar in bars:
            for config, symbols in traded:
                if bar.symbol not in symbols or config.timeframe != bar.timeframe.value:
                    continue
                if config.name not in resolved:
                    resolved[config.name] = await self._resolve(config)
                strategy = resolved[config.name]
                if isinstance(strategy, RankingStrategySettings):
                    continue  # the model desk ranks the whole universe (RankingDeskRunner)
                if isinstance(strategy, ModelUnavailableError):
                    log.warning("strategy %s skipped %s: %s", config.name, bar.symbol, strategy)
                elif isinstance(strategy, ValueError | LookupError):
                    log.error("strategy %s cannot evaluate %s: %s", config.name, bar.symbol, strategy)
                else:
                    pairs.append((config, bar, strategy))
        return pairs, exits_only

    async def _universe(self, configs: Sequence[StrategyConfig]) -> tuple[frozenset[str], frozenset[str]]:
        """The watchlist (the screener's universe) and the held symbols, read only when a
        configuration follows the watchlist."""
        if not any(config.symbols == [FOLLOWS_WATCHLIST] for config in configs):
            return frozenset(), frozenset()
        held = {stored.symbol for stored in await self.positions.all() if stored.position.quantity}
        return frozenset(await self.watchlist.symbols()), frozenset(held)

    @staticmethod
    def _traded(config: StrategyConfig, universe: frozenset[str], held: frozenset[str]) -> frozenset[str]:
        if config.symbols == [FOLLOWS_WATCHLIST]:
            # A symbol that left the universe is still managed until its position is flat.
            return universe | held
        return frozenset(config.symbols)

    def check_timeframes(self, configs: Sequence[StrategyConfig]) -> None:
        """Say (once per cause) which enabled configurations will never see a bar of their timeframe."""
        for config in configs:
            problem = self.support.problem(Timeframe.parse(config.timeframe))
            if problem is not None:
                self.timeframe_warnings.warn(config.name, problem)

    async def _resolve(self, config: StrategyConfig) -> Strategy | ValueError | LookupError:
        """The configuration's strategy, or why it has none (logged for each bar it would evaluate)."""
        try:
            return await self.strategy_for(config)
        except (ValueError, LookupError) as error:
            return error

    async def _evaluate(
        self, config: StrategyConfig, bar: BarClosed, strategy: Strategy, series: BarSeries
    ) -> _Proposed | None:
        """The signal this bar gives, not yet recorded; None while flat or waiting for data."""
        if len(series) < strategy.lookback_bars:
            log.debug(
                "strategy %s waits for data on %s: %d of %d bars",
                config.name,
                bar.symbol,
                len(series),
                strategy.lookback_bars,
            )
            return None
        if series.timestamp_at(-1) != bar.bar_at:
            raise LookupError(f"bar {bar.symbol} {bar.bar_at.isoformat()} is not stored yet")
        if isinstance(strategy, LlmStrategySettings):
            return await self._llm_proposal(config, bar, strategy)
        latest = closing_signal(strategy, series)
        if latest is None:
            return None
        features: dict[str, Any] = {"lookback_bars": strategy.lookback_bars}
        reason = f"{strategy.name} {latest.direction.value} at the close of {bar.bar_at.date().isoformat()}"
        if isinstance(strategy, MlStrategy):
            # Prediction logging: the probability, the model version and the features it saw.
            probability = float(strategy.probabilities(series.tail(strategy.lookback_bars))[-1])
            features.update(
                {
                    "model_name": strategy.model.name,
                    "model_version": strategy.model.version,
                    "probability_up": probability,
                    "features": {
                        k: (None if math.isnan(v) else v)
                        for k, v in compute_features(series).row(len(series) - 1).items()
                    },
                }
            )
        direction = latest.direction.value
        # The advisor judges entries only: an exit (or a protective order) must never wait on a
        # model, and with LLM_FALLBACK=veto an advisor outage would otherwise trap every position.
        if self.advisor is not None and direction == SignalDirection.BUY.value:
            verdict = await self.advisor.review(
                {
                    "strategy": config.name,
                    "strategy_type": config.strategy_type,
                    "symbol": bar.symbol,
                    "direction": direction,
                    "price": str(bar.close),
                    "recent_closes": [float(x) for x in np.round(series.close[-20:], 4)],
                }
            )
            features["advisor"] = verdict.as_dict()
            if verdict.vetoed:
                reason = f"vetoed {direction} by the advisor: {verdict.note}"
                direction = SignalDirection.FLAT.value
        stop = target = None
        if direction == SignalDirection.BUY.value:
            # The configuration's protective levels (stop_loss_pct, take_profit_pct) for the entry.
            stop, target = ProtectiveFractions.from_parameters(config.parameters).levels(
                OrderSide.BUY, to_price(bar.close)
            )
        record = SignalRecord(
            event_id=new_event_id(),
            strategy_name=config.name,
            symbol=bar.symbol,
            timeframe=config.timeframe,
            bar_timestamp=bar.bar_at,
            direction=direction,
            strength=latest.strength,
            price=to_price(bar.close),
            timestamp=self.now(),
            reason=reason,
            features=features,
            stop_price=stop,
            target_price=target,
        )
        return _Proposed(record, latest.direction.value)

    async def _llm_proposal(
        self, config: StrategyConfig, bar: BarClosed, settings: LlmStrategySettings
    ) -> _Proposed | None:
        if self.llm is None:
            raise LookupError("the llm strategy has no models (LLM_MODELS) in this strategy engine")
        proposal = await self.llm.propose(config.name, settings, bar, config.timeframe, self.now())
        if proposal.record is None:
            return None
        return _Proposed(proposal.record, proposal.record.direction, proposal.call_ids)

    async def _publish(
        self, proposed: Sequence[_Proposed], stored: Sequence[tuple[SignalRecord, bool]]
    ) -> list[SignalRecord]:
        """Publish the stored signals that are not vetoed, in order and in one call."""
        emitted: list[tuple[SignalRecord, bool]] = []
        for signal, (record, created) in zip(proposed, stored, strict=True):
            if record.direction == SignalDirection.FLAT.value:
                log.info(
                    "signal vetoed: %s %s by strategy %s (%s)",
                    signal.proposed_direction,
                    record.symbol,
                    record.strategy_name,
                    signal.record.reason,
                )
                continue
            emitted.append((record, created))
        if emitted:
            await self.resources.bus.publish_many(
                topics.SIGNALS, [signal_event(record) for record, _ in emitted]
            )
        for record, created in emitted:
            log.info(
                "signal %s %s at %s by strategy %s (strength %s)%s",
                record.direction,
                record.symbol,
                record.price,
                record.strategy_name,
                record.strength,
                "" if created else " [republished]",
            )
        return [record for record, _ in emitted]

    # Backtests

    async def submit_backtest(self, request: dict[str, Any]) -> dict[str, Any]:
        self.validate(request["strategy_type"], request["parameters"])
        run_id = str(uuid.uuid4())
        run = await self.backtests.create(run_id, request, self.now())
        task = asyncio.create_task(self._run_backtest(run_id, request), name=f"backtest:{run_id}")
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)
        return run.as_dict()

    async def _load_aligned(
        self, symbols: Sequence[str], start: datetime | None, end: datetime | None
    ) -> list[BarSeries]:
        series = []
        for symbol in symbols:
            bars = await self.bars.bars(symbol, start=start, end=end)
            if len(bars) < 2:
                raise ValueError(f"{symbol} has {len(bars)} stored bars in that window; collect data first")
            series.append(BarSeries.from_bars(bars))
        return align_series(series)

    async def _run_backtest(self, run_id: str, request: dict[str, Any]) -> None:
        try:
            await self.backtests.mark_running(run_id)
            strategy = await self._backtest_strategy(request)
            data = await self._load_aligned(
                request["symbols"], _parse_time(request.get("start")), _parse_time(request.get("end"))
            )
            config = BacktestConfig(
                initial_cash=Decimal(str(request["initial_cash"])),
                fill_model=self._backtest_fill_model(request),
            )
            result = await asyncio.to_thread(run_backtest, strategy, data, config)
            metrics: dict[str, Any] = {k: _json_number(v) for k, v in metrics_as_dict(result.metrics).items()}
            metrics["bars"] = int(result.timestamps_ns.size)
            metrics["run_stamp"] = result.stamp.run_id
            described = config.describe()
            cost_names = ("fill_rule", "slippage_bps", "commission", "regulatory_fees")
            metrics["costs"] = {name: described[name] for name in cost_names}
            metrics["buy_and_hold"] = {
                k: _json_number(v) for k, v in metrics_as_dict(result.buy_and_hold().metrics).items()
            }
            if request.get("check_lookahead"):
                report = await asyncio.to_thread(check_lookahead, strategy, data[0])
                metrics["lookahead_passed"] = report.passed
                metrics["lookahead_violations"] = len(report.violations)
            await self.backtests.finish(
                run_id,
                metrics=metrics,
                data_hash=result.stamp.data_hash,
                code_version=result.stamp.code_version,
                seed=result.stamp.seed,
                at=self.now(),
            )
            log.info("backtest %s of %s finished: %s", run_id, request["strategy_type"], metrics)
        except Exception as error:  # the job records its failure; the API reports it
            log.warning("backtest %s failed: %s", run_id, error)
            await self.backtests.fail(run_id, f"{type(error).__name__}: {error}", self.now())

    def _backtest_fill_model(self, request: dict[str, Any]) -> FillModel:
        """The system's costs, with the request's slippage and commission where it gives them."""
        slippage, commission = request.get("slippage_bps"), request.get("commission_per_share")
        model = self.resources.settings.fill_model(
            slippage_bps=None if slippage is None else Decimal(str(slippage)),
            commission_per_share=None if commission is None else Decimal(str(commission)),
        )
        return replace(model, rule=FillRule(request["fill_rule"]))

    async def _backtest_strategy(self, request: dict[str, Any]) -> Strategy:
        built = self.validate(request["strategy_type"], request["parameters"])
        if isinstance(built, MlStrategySettings):
            return built.with_model(await self.active_model(built.model_name))
        return built  # type: ignore[no-any-return]

    async def wait_for_jobs(self) -> None:
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)

    # Models

    async def list_models(self, name: str | None = None) -> list[dict[str, Any]]:
        return [version.as_dict() for version in await self.models.list(name)]

    async def model_drift(self, name: str, symbol: str, bars: int) -> dict[str, Any]:
        version: ModelVersion | None = await self.models.active(name)
        if version is None:
            raise ModelUnavailableError(f"model {name!r} has no active version")
        model = await self.active_model(name)
        stored = await self.bars.bars(symbol, limit=bars, newest_first=True)
        if len(stored) < 2:
            raise LookupError(f"no stored bars for {symbol}")
        stored.reverse()
        features = compute_features(BarSeries.from_bars(stored))
        drift = feature_drift(model.references, features.names, features.values)
        return {
            "model": name,
            "version": version.version,
            "symbol": symbol,
            "bars": len(stored),
            "psi": {k: _json_number(v) for k, v in drift.items()},
            "levels": {k: drift_level(v) for k, v in drift.items()},
        }


def _json_number(value: float) -> float | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _parse_time(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


async def consume_bars(
    engine: StrategyEngine,
    consumer: str,
    *,
    block_ms: int = 1000,
    stale_after_ms: int = 60_000,
    batch: int = 500,
    metrics: StrategyMetrics | None = None,
) -> None:
    """The worker: read BarClosed, evaluate, ack. A failure leaves the message pending for a retry.

    Several workers share the consumer group, so each bar goes to one of them; bars a dead
    worker had read but not acknowledged are claimed by a live one after `stale_after_ms`.
    """
    bus = engine.resources.bus
    await bus.ensure_group(topics.BARS, CONSUMER_GROUP)
    engine.check_timeframes(await engine.configs.list(enabled_only=True))
    backoff = 0.5
    while True:
        try:
            claimed = await bus.claim_stale(
                topics.BARS, CONSUMER_GROUP, consumer, min_idle_ms=stale_after_ms, count=batch
            )
            if claimed:
                log.info("claimed %d bars another worker left unacknowledged", len(claimed))
                if metrics is not None:
                    metrics.strategy_bars_claimed.inc(len(claimed))
            deliveries = [
                *claimed,
                *await bus.read(topics.BARS, CONSUMER_GROUP, consumer, count=batch, block_ms=block_ms),
            ]
            # The batch's bars are evaluated together (one configuration read, one window query),
            # then acknowledged together; a failure leaves them all pending, and a redelivered bar
            # finds its stored signal and republishes it rather than signalling twice.
            # Only new bars are evaluated: a BarCorrected is noted (the stored row already holds
            # it, so later windows read the corrected values), never taken for a new bar.
            await engine.on_bars([d.event for d in deliveries if isinstance(d.event, BarClosed)])
            for delivery in deliveries:
                if isinstance(delivery.event, BarCorrected):
                    log.info(
                        "bar correction noted, not evaluated: %s %s %s close %s",
                        delivery.event.symbol,
                        delivery.event.timeframe.value,
                        delivery.event.bar_at.isoformat(),
                        delivery.event.close,
                    )
            if deliveries:
                await bus.ack(topics.BARS, CONSUMER_GROUP, [d.message_id for d in deliveries])
            for delivery in deliveries:
                event = delivery.event
                if isinstance(event, BarClosed):
                    # After the ack: a worker killed before it leaves the bar to a sibling, unrecorded.
                    if metrics is not None:
                        metrics.strategy_evaluations.inc()
                    log.debug(
                        "evaluated bar %s %s %s as %s",
                        event.symbol,
                        event.timeframe.value,
                        event.bar_at.isoformat(),
                        consumer,
                    )
            backoff = 0.5
        except asyncio.CancelledError:
            raise
        except Exception:  # the database or bus is down: keep the message, back off, retry
            log.exception("strategy worker failed; retrying in %.1fs", backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
