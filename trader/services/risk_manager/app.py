"""Risk Manager service (port 8003): judges every signal, keeps the limits and the trading state."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from dotenv import dotenv_values
from fastapi import FastAPI

from trader.adapters.calendar import XNYSCalendar
from trader.adapters.db.stores.assets import BrokerAssetStore
from trader.adapters.db.stores.audit import AuditStore
from trader.adapters.db.stores.risk import RiskStore
from trader.adapters.db.stores.system_flags import BarsAppliedStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.adapters.sector_map import ensure_sector_map
from trader.core.risk.limits import limits_from_environment
from trader.core.risk.sizing import SizingMethod
from trader.core.risk.state import BreakerPolicy, TradingState
from trader.services.common.app_factory import build_service_app
from trader.services.common.metrics import risk_metrics
from trader.services.common.resources import Resources
from trader.services.risk_manager.breakers import BreakerActions
from trader.services.risk_manager.handlers import RiskManager, SizingSettings
from trader.services.risk_manager.routes import build_router
from trader.services.risk_manager.worker import SignalWorker
from trader.settings import BrokerKind, Settings, environment_file

SERVICE = "risk_manager"
# The breakers are checked at every account reading's pace, and on a replay clock at most this often
# in wall time.
BREAKER_WALL_GAP_SECONDS = 1.0
log = logging.getLogger(__name__)


def limits_environment(settings: Settings) -> dict[str, str]:
    """RISK_* values from the environment's file, overridden by the process environment."""
    path = environment_file(settings.environment.value)
    values: dict[str, str] = {}
    if path.exists():
        values.update({key: value for key, value in dotenv_values(path).items() if value is not None})
    values.update(os.environ)
    return {key: value for key, value in values.items() if key.upper().startswith("RISK_")}


def sizing_settings(settings: Settings) -> SizingSettings:
    """The RISK_SIZING_* settings; the backtester through the risk manager reads them here too."""
    try:
        method = SizingMethod(settings.risk_sizing_method.strip().lower())
    except ValueError:
        allowed = ", ".join(method.value for method in SizingMethod)
        raise ValueError(
            f"RISK_SIZING_METHOD={settings.risk_sizing_method!r} is not one of {allowed}"
        ) from None
    return SizingSettings(
        method=method,
        fraction=settings.risk_sizing_fraction,
        atr_multiple=settings.risk_atr_multiple,
        target_volatility=settings.risk_target_volatility,
        stop_loss_pct=settings.risk_stop_loss_pct,
        take_profit_pct=settings.risk_take_profit_pct,
    )


def breaker_policy(settings: Settings) -> BreakerPolicy:
    """RISK_DAILY_LOSS_STATE, RISK_DRAWDOWN_STATE, RISK_BREAKER_FLATTEN (the backtester reads them too)."""
    return BreakerPolicy(
        daily_loss_state=TradingState(settings.risk_daily_loss_state),
        drawdown_state=TradingState(settings.risk_drawdown_state),
        flatten=settings.risk_breaker_flatten,
    )


def build_risk_manager(resources: Resources, environment: Mapping[str, str] | None = None) -> RiskManager:
    """Everything the service needs, checked now: a bad RISK_* value or sector map stops the start."""
    settings = resources.settings
    sizing = sizing_settings(settings)
    simulated = settings.broker is BrokerKind.SIMULATED
    return RiskManager(
        store=RiskStore(resources.engine),
        states=TradingStateStore(resources.engine),
        bus=resources.bus,
        clock=resources.clock,
        calendar=XNYSCalendar(),
        sectors=ensure_sector_map(settings.risk_sector_map_path),
        default_limits=limits_from_environment(
            limits_environment(settings) if environment is None else environment
        ),
        sizing=sizing,
        # The simulated account starts with this cash; a broker's account is what it says it is.
        starting_cash=settings.simulated_starting_cash if simulated else Decimal(0),
        lookback_bars=settings.risk_lookback_bars,
        bars_applied=BarsAppliedStore(resources.engine),
        account_max_age=None if simulated else timedelta(seconds=settings.risk_account_max_age_seconds),
        breakers=BreakerActions(breaker_policy(settings), resources.bus, AuditStore(resources.engine)),
        assets=BrokerAssetStore(resources.engine),
    )


def create_app(resources: Resources, manager: RiskManager | None = None) -> FastAPI:
    risk_manager = manager or build_risk_manager(resources)
    worker = SignalWorker(risk_manager, resources.bus)
    simulated = resources.settings.broker is BrokerKind.SIMULATED

    async def judge_signals() -> None:
        while True:
            try:
                await risk_manager.prepare()
                await risk_manager.trading_state()
                break
            except Exception:  # the database is not up yet: no signal is judged without limits
                log.exception("cannot load the risk limits; retrying in 2s")
                await asyncio.sleep(2)
        await worker.run()

    async def watch_breakers() -> None:
        while True:
            await resources.clock.sleep_until(
                resources.clock.now() + timedelta(seconds=resources.settings.account_snapshot_seconds)
            )
            await asyncio.sleep(BREAKER_WALL_GAP_SECONDS)
            try:
                await risk_manager.check_breakers()
            except Exception:  # the database is down: the next check tries again
                log.exception("checking the circuit breakers failed")

    app = build_service_app(
        SERVICE,
        resources,
        title="Risk Manager",
        routers=[build_router()],
        # With the simulated broker the breakers are checked as the backtester checks them, before
        # each signal is judged: on the replay clock a check between a session's bars and its fills
        # would see books no backtest ever sees.
        workers=[judge_signals] if simulated else [judge_signals, watch_breakers],
    )
    app.state.risk_manager = risk_manager
    risk_manager.metrics = risk_metrics(app.state.metrics)
    return app
