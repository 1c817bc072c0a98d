"""The strategy engine's side of the model desk: which sessions to run it on, and its trades.

After each batch of closed bars, every enabled `ml_ranking` configuration whose universe and
timeframe the bars belong to runs the desk on the newest session of the batch (once per
session; a session whose universe is not all stored yet waits for the next batch). The desk's
orders for the champion become signals like any strategy's: stored in `signals`, then published
for the risk manager to size and decide. A failure of the desk is logged with its trace and kept
in `status()` (shown by `GET /models/desk`); it never stops bar processing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from trader.adapters.db.stores.signals import SignalRecord, SignalStore, signal_event
from trader.adapters.db.stores.strategies import StrategyConfig, StrategyConfigStore
from trader.core import topics
from trader.core.events import BarClosed, new_event_id
from trader.core.money import to_price
from trader.core.ports import Clock, MessageBus
from trader.ml.desk import ModelDesk, RankingOrders, RankingUniverse
from trader.ml.ranking_strategy import RANKING_STRATEGY_TYPE_NAME

log = logging.getLogger("trader.services.strategy_engine")


class RankingDeskRunner:
    def __init__(
        self,
        configs: StrategyConfigStore,
        signals: SignalStore,
        bus: MessageBus,
        clock: Clock,
        sectors: Mapping[str, str],
    ) -> None:
        self._configs = configs
        self._signals = signals
        self._bus = bus
        self._clock = clock
        self._sectors = sectors
        self._done: dict[str, datetime] = {}
        self._errors: dict[str, str] = {}
        self.desk: ModelDesk | None = None

    def status(self) -> dict[str, Any]:
        return {
            "sessions_done": {name: at.isoformat() for name, at in self._done.items()},
            "errors": dict(self._errors),
        }

    async def after_bars(self, bars: Sequence[BarClosed]) -> None:
        if self.desk is None or not bars:
            return
        for config in await self._configs.list(enabled_only=True):
            if config.strategy_type != RANKING_STRATEGY_TYPE_NAME:
                continue
            universe = set(config.symbols)
            sessions = [
                bar.bar_at
                for bar in bars
                if bar.symbol in universe and bar.timeframe.value == config.timeframe
            ]
            if not sessions or max(sessions) <= self._done.get(
                config.name, datetime.min.replace(tzinfo=max(sessions).tzinfo)
            ):
                continue
            await self._run(config, max(sessions))

    async def _run(self, config: StrategyConfig, session_at: datetime) -> None:
        assert self.desk is not None
        model = str(config.parameters.get("model_name", "cross_sectional"))
        universe = RankingUniverse(config.name, model, tuple(config.symbols), self._sectors, config.timeframe)
        try:
            if await self.desk.on_session(universe, session_at):
                self._done[config.name] = session_at
                self._errors.pop(config.name, None)
        except Exception as error:  # the desk's failure must not stop the engine; it is shown, not hidden
            log.exception("model desk failed for %s at %s", config.name, session_at.isoformat())
            self._errors[config.name] = f"{session_at.isoformat()}: {type(error).__name__}: {error}"

    async def trade(self, orders: RankingOrders) -> None:
        """The champion's rebalance as signals: buys for new picks, sells for dropped ones."""
        now = self._clock.now()
        records = [
            self._record(orders, symbol, direction, now)
            for direction, symbols in (("sell", orders.sells), ("buy", orders.buys))
            for symbol in symbols
            if symbol in orders.closes
        ]
        if not records:
            return
        stored = await self._signals.record_many(records)
        await self._bus.publish_many(topics.SIGNALS, [signal_event(record) for record, _ in stored])
        for record, _ in stored:
            log.info(
                "signal %s %s by %s (%s)",
                record.direction,
                record.symbol,
                record.strategy_name,
                record.reason,
            )

    def _record(self, orders: RankingOrders, symbol: str, direction: str, now: datetime) -> SignalRecord:
        return SignalRecord(
            event_id=new_event_id(),
            strategy_name=orders.strategy,
            symbol=symbol,
            timeframe=orders.timeframe,
            bar_timestamp=orders.session_at,
            direction=direction,
            strength=Decimal(1),
            price=to_price(Decimal(str(orders.closes[symbol]))),
            timestamp=now,
            reason=f"{orders.reason}: {'top-ranked' if direction == 'buy' else 'no longer top-ranked'}",
            features={"model_name": orders.model, "model_version": orders.version},
        )
