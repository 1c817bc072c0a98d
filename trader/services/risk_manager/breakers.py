"""What follows a tripped breaker besides the new trading state (which the risk manager records and
publishes, and the notifications service announces): an audit row, and, when configured, a command
to the executor to close every position."""

from __future__ import annotations

import logging

from trader.adapters.db.stores.audit import AuditEntry, AuditStore
from trader.core.events import CloseAllRequested
from trader.core.ports import MessageBus
from trader.core.risk.state import BreakerPolicy, StateChange
from trader.core.topics import EXECUTOR_COMMANDS

log = logging.getLogger(__name__)
alerts = logging.getLogger("trader.alerts")

SERVICE = "risk_manager"


class BreakerActions:
    def __init__(self, policy: BreakerPolicy, bus: MessageBus, audit: AuditStore | None = None) -> None:
        self.policy = policy
        self.bus = bus
        self.audit = audit

    async def tripped(self, change: StateChange) -> None:
        alerts.critical(
            "circuit breaker: trading %s -> %s (%s)%s",
            change.previous_state.value,
            change.state.value,
            change.reason,
            "; closing every position" if self.policy.flatten else "",
        )
        if self.policy.flatten:
            await self.bus.publish(
                EXECUTOR_COMMANDS,
                CloseAllRequested(
                    occurred_at=change.changed_at, reason=change.reason, requested_by=change.changed_by
                ),
            )
        if self.audit is not None:
            await self.audit.record(
                AuditEntry(
                    timestamp=change.changed_at,
                    action="circuit_breaker_tripped",
                    service_name=SERVICE,
                    success=True,
                    user_id=change.changed_by,
                    resource="trading_state",
                    severity="critical",
                    details={
                        "previous_state": change.previous_state.value,
                        "state": change.state.value,
                        "reason": change.reason,
                        "flatten": self.policy.flatten,
                    },
                )
            )
