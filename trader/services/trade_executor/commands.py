"""Commands to the executor over the bus: today one, close everything (a breaker that flattens).

The risk manager publishes `CloseAllRequested` when a tripped breaker is configured to flatten; the
executor cancels every open order and closes every position through its own close-all, and audits
it. A command found on the bus after a person has already resumed trading (a redelivery after a
restart) is set aside, not acted on: flattening belongs to the halt that asked for it.
"""

from __future__ import annotations

import logging
import time

from trader.adapters.db.stores.audit import AuditEntry, AuditStore
from trader.adapters.db.stores.trading_state import TradingStateStore
from trader.core.events import CloseAllRequested, Event
from trader.core.ports import Clock, MessageBus
from trader.core.risk.state import TradingState
from trader.core.topics import EXECUTOR_COMMANDS
from trader.services.common.consumers import consume
from trader.services.trade_executor.handlers import TradeExecutor

log = logging.getLogger(__name__)
alerts = logging.getLogger("trader.alerts")

COMMANDS_GROUP = "trade_executor_commands"
SERVICE = "trade_executor"


class CommandHandler:
    def __init__(
        self, executor: TradeExecutor, states: TradingStateStore, audit: AuditStore, clock: Clock
    ) -> None:
        self.executor = executor
        self.states = states
        self.audit = audit
        self.clock = clock

    async def handle(self, event: Event) -> None:
        if not isinstance(event, CloseAllRequested):
            log.warning("ignoring %s on %s", type(event).__name__, EXECUTOR_COMMANDS)
            return
        state = await self.states.current_state()
        if state is TradingState.ACTIVE:
            log.warning(
                "close-all requested by %s at %s (%s) not acted on: trading is active again",
                event.requested_by,
                event.occurred_at.isoformat(),
                event.reason,
            )
            return
        started = time.perf_counter()
        report = await self.executor.close_all()
        closed = sum(1 for result in report.results if result.ok)
        failed = [f"{r.symbol}: {r.status_code} {r.error}" for r in report.results if not r.ok]
        alerts.critical(
            "flattened on %s's request (%s): %d positions closing, %d orders canceled%s",
            event.requested_by,
            event.reason,
            closed,
            report.canceled_orders,
            f"; not closed: {'; '.join(failed + report.cancel_errors)}" if not report.all_closed else "",
        )
        await self.audit.record(
            AuditEntry(
                timestamp=self.clock.now(),
                action="close_all_positions",
                service_name=SERVICE,
                success=report.all_closed,
                user_id=event.requested_by,
                resource=EXECUTOR_COMMANDS,
                error_message=None if report.all_closed else "; ".join(failed + report.cancel_errors),
                severity="critical",
                execution_time_ms=round((time.perf_counter() - started) * 1000, 2),
                details={"reason": event.reason, "closed": closed, "canceled_orders": report.canceled_orders},
            )
        )

    async def run(self, bus: MessageBus, *, consumer: str) -> None:
        await consume(bus, EXECUTOR_COMMANDS, COMMANDS_GROUP, self.handle, consumer=consumer)
