"""What the executor's parts share: the broker, the books, the clock, the bus, the settings, and
the last broker error (shown by /broker/status).

One mutable context, not copies in each part: the service wires the maintenance gate and the
metrics after construction, and a test may swap the broker, and every part must see the change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from trader.core.broker import Broker
from trader.core.ports import Clock, MessageBus
from trader.services.common.metrics import OrderMetrics
from trader.services.trade_executor.ports import MaintenanceSwitch, OrderBook, PositionBook, TradingStateLog

ACTOR = "trade_executor"
# Critical conditions (books and broker disagree, credentials refused) go to the alerts logger.
alerts = logging.getLogger("trader.alerts")


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    stuck_after: timedelta = timedelta(minutes=2)
    drift_threshold: Decimal = Decimal(1000)
    submit_attempts: int = 3
    retry_wait_seconds: float = 0.5


@dataclass(slots=True)
class ExecutorContext:
    broker: Broker
    orders: OrderBook
    positions: PositionBook
    trading_state: TradingStateLog
    clock: Clock
    bus: MessageBus | None
    config: ExecutorConfig
    metrics: OrderMetrics | None = None
    maintenance: MaintenanceSwitch | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None

    def note_error(self, message: str) -> None:
        self.last_error = message
        self.last_error_at = self.clock.now()
