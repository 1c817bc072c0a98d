"""The model desk: ranking models live, at each session's close, on the replay or the wall clock.

For a ranking configuration (a universe and a model name), once the session's bars are stored:

1. settle: every recorded rebalance whose horizon has passed gets its net pick return (the
   executable labels of its picks: next open in, horizon or stop out, costs paid) and the
   universe's buy-and-hold return over the same sessions;
2. pick: the champion (status active) and the shadow (status shadow) each rank the universe on
   their rebalance sessions; both picks are recorded, only the champion's are traded (`trade`);
3. judge the shadow: after `shadow_periods` settled rebalances, promoted to champion if its mean
   excess return is within the backtest's band, refused if below it;
4. judge the champion: rolled back if its last `shadow_periods` settled rebalances fall below the
   band or a feature's PSI over the recent sessions exceeds the limit; the previous champion, if
   any, is restored. The rolled-back champion's positions are sold (`trade` with no picks).

Every step is recorded in `model_events` with its figures and notified.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.stores.model_lifecycle import ModelPeriod, ModelPeriodStore
from trader.adapters.db.stores.models import ModelRegistryStore, ModelVersion
from trader.core.fills import FillModel
from trader.core.strategies.series import to_epoch_nanoseconds
from trader.ml.artifacts import load_ranking_model
from trader.ml.cross_dataset import label_grid
from trader.ml.labels import TradeRules
from trader.ml.lifecycle import Band, Judgement, Verdict, judge_champion, judge_shadow
from trader.ml.panel import Panel, build_panel
from trader.ml.ranking_model import RANKING_KIND, RankingModel
from trader.ml.ranking_retraining import Notify, load_universe, record_step

log = logging.getLogger("trader.ml.desk")
MIN_DRIFT_SESSIONS = 60


@dataclass(frozen=True, slots=True)
class RankingOrders:
    """What the champion wants after a rebalance: buy `buys`, sell `sells`, at this session's close."""

    strategy: str
    model: str
    version: int
    session_at: datetime
    buys: tuple[str, ...]
    sells: tuple[str, ...]
    closes: Mapping[str, float]
    reason: str
    timeframe: str = "1day"


Trade = Callable[[RankingOrders], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DeskRules:
    fill_model: FillModel = field(default_factory=FillModel)
    notional: float = 10_000.0
    shadow_periods: int = 4
    band_z: float = 1.96
    rollback_psi: float = 0.25
    history_sessions: int = 400


@dataclass(frozen=True, slots=True)
class RankingUniverse:
    strategy: str  # the configuration's name
    model: str
    symbols: tuple[str, ...]
    sectors: Mapping[str, str]
    timeframe: str = "1day"


class ModelDesk:
    def __init__(
        self,
        engine: AsyncEngine,
        rules: DeskRules,
        now: Callable[[], datetime],
        *,
        notify: Notify | None = None,
        trade: Trade | None = None,
    ) -> None:
        self._engine = engine
        self._rules = rules
        self._now = now
        self._notify = notify
        self._trade = trade
        self._registry = ModelRegistryStore(engine)
        self._periods = ModelPeriodStore(engine)
        self._models: dict[tuple[str, int], RankingModel] = {}

    async def on_session(self, universe: RankingUniverse, session_at: datetime) -> bool:
        """Run the desk for a session whose bars are stored; False when the session is not complete."""
        series = await load_universe(
            self._engine,
            universe.symbols,
            session_at + timedelta(microseconds=1),
            self._rules.history_sessions,
        )
        if not series:
            return False
        panel = build_panel(series, universe.sectors)
        if int(panel.sessions_ns[-1]) != to_epoch_nanoseconds(session_at):
            return False
        present = np.isfinite(panel.close[-2:]).sum(axis=1)
        if present.size == 2 and present[1] < present[0]:
            return False  # part of the universe's bars for this session is not stored yet
        await self._settle(universe.model, panel)
        versions = [v for v in await self._registry.list(universe.model) if v.kind == RANKING_KIND]
        for version in versions:
            if version.status in ("active", "shadow"):
                await self._rebalance(universe, version, panel, session_at)
        for version in versions:
            if version.status == "shadow":
                await self._judge_shadow(universe, version)
            elif version.status == "active":
                await self._judge_champion(universe, version, panel, session_at)
        return True

    async def _model(self, version: ModelVersion) -> RankingModel:
        key = (version.name, version.version)
        if key not in self._models:
            self._models[key] = await asyncio.to_thread(
                load_ranking_model, Path(version.artifact_path), version.artifact_sha256
            )
        return self._models[key]

    async def _settle(self, name: str, panel: Panel) -> None:
        pending = await self._periods.unsettled([name])
        if not pending:
            return
        horizons: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        rows = {int(ns): row for row, ns in enumerate(panel.sessions_ns)}
        column = {symbol: index for index, symbol in enumerate(panel.symbols)}
        for period in pending:
            version = await self._registry.get(name, period.version)
            horizon = int(version.horizon or 1)
            row = rows.get(to_epoch_nanoseconds(period.session_at))
            if row is None or row + horizon + 1 >= panel.shape[0]:
                continue  # the trade has not ended yet (or the session fell out of the window)
            if horizon not in horizons:
                net, hold, _ = label_grid(
                    panel, TradeRules(horizon, self._rules.fill_model, notional=self._rules.notional)
                )
                horizons[horizon] = (net, hold)
            net, hold = horizons[horizon]
            picked = [column[symbol] for symbol in period.picks if symbol in column]
            pick_return = float(np.nanmean(net[row, picked])) if picked else 0.0
            universe_return = float(np.nanmean(hold[row])) if np.isfinite(hold[row]).any() else 0.0
            assert period.id is not None
            await self._periods.settle(period.id, pick_return, universe_return, self._now())

    async def _rebalance(
        self, universe: RankingUniverse, version: ModelVersion, panel: Panel, session_at: datetime
    ) -> None:
        role = "champion" if version.status == "active" else "shadow"
        recorded = await self._periods.list(version.name, version.version)
        horizon = int(version.horizon or 1)
        if recorded:
            last_ns = to_epoch_nanoseconds(recorded[-1].session_at)
            elapsed = int(np.sum(panel.sessions_ns > last_ns))
            if elapsed < horizon:
                return
        model = await self._model(version)
        picks = model.picks(panel)
        period = ModelPeriod(
            version.name, version.version, role, session_at, picks, int(np.isfinite(panel.close[-1]).sum())
        )
        if not await self._periods.record(period):
            return  # this session was already handled (a redelivered bar)
        log.info(
            "model %s v%d (%s) picks %s at %s", version.name, version.version, role, picks, session_at.date()
        )
        if role == "champion" and self._trade is not None:
            previous = _last_picks(recorded, "champion")
            await self._trade(
                self._orders(universe, version, panel, session_at, picks, previous, "rebalance")
            )

    def _orders(
        self,
        universe: RankingUniverse,
        version: ModelVersion,
        panel: Panel,
        session_at: datetime,
        picks: Sequence[str],
        previous: set[str],
        why: str,
    ) -> RankingOrders:
        closes = {symbol: float(panel.close[-1, index]) for index, symbol in enumerate(panel.symbols)}
        return RankingOrders(
            strategy=universe.strategy,
            model=version.name,
            version=version.version,
            session_at=session_at,
            buys=tuple(symbol for symbol in picks if symbol not in previous),
            sells=tuple(sorted(previous - set(picks))),
            closes=closes,
            reason=f"{version.name} v{version.version} {why}",
            timeframe=universe.timeframe,
        )

    async def _settled_excess(self, version: ModelVersion, role: str) -> list[float]:
        """Settled excess returns of the version in `role`: a champion is judged on what it traded."""
        settled = await self._periods.list(version.name, version.version, settled_only=True)
        return [period.excess for period in settled if period.role == role and period.excess is not None]

    def _band(self, version: ModelVersion) -> Band:
        return Band.from_card(version.card or {}, self._rules.band_z)

    async def _judge_shadow(self, universe: RankingUniverse, version: ModelVersion) -> None:
        judgement = judge_shadow(
            await self._settled_excess(version, "shadow"), self._band(version), self._rules.shadow_periods
        )
        if judgement.verdict is Verdict.PROMOTE:
            await self._registry.promote(version.name, version.version, self._now())
            await self._step(version, "promoted", judgement)
        elif judgement.verdict is Verdict.REFUSE:
            await self._registry.set_status(version.name, version.version, "refused")
            await self._step(version, "shadow_refused", judgement)

    async def _judge_champion(
        self, universe: RankingUniverse, version: ModelVersion, panel: Panel, session_at: datetime
    ) -> None:
        model = await self._model(version)
        sessions = max(self._rules.shadow_periods * model.horizon, MIN_DRIFT_SESSIONS)
        drift = model.drift(panel, sessions) if panel.shape[0] >= sessions else {}
        judgement = judge_champion(
            await self._settled_excess(version, "champion"),
            self._band(version),
            self._rules.shadow_periods,
            drift,
            self._rules.rollback_psi,
        )
        if judgement.verdict is not Verdict.ROLL_BACK:
            return
        await self._registry.set_status(version.name, version.version, "rolled_back")
        await self._step(version, "rolled_back", judgement)
        held = _last_picks(await self._periods.list(version.name, version.version), "champion")
        if self._trade is not None and held:
            await self._trade(self._orders(universe, version, panel, session_at, [], held, "rolled back"))
        previous = await self._registry.previous_champion(version.name, version.version)
        if previous is not None:
            await self._registry.promote(previous.name, previous.version, self._now())
            await record_step(
                self._engine,
                previous.name,
                previous.version,
                "restored",
                f"champion again after v{version.version} was rolled back",
                {},
                self._now,
                self._notify,
            )

    async def _step(self, version: ModelVersion, event: str, judgement: Judgement) -> None:
        await record_step(
            self._engine,
            version.name,
            version.version,
            event,
            judgement.reason,
            judgement.figures,
            self._now,
            self._notify,
        )


def _last_picks(periods: Sequence[ModelPeriod], role: str) -> set[str]:
    """The picks of the newest period recorded in `role` (what the champion holds)."""
    mine = [period for period in periods if period.role == role]
    return set(mine[-1].picks) if mine else set()
