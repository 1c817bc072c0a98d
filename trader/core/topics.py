"""Bus topics: the one list of streams the services talk over.

bar stored -> BARS -> strategy engine -> SIGNALS -> risk manager -> DECISIONS -> trade executor
-> ORDERS (status changes and fills) ; TRADING_STATE carries ACTIVE/REDUCING/HALTED changes;
EXECUTOR_COMMANDS carries commands to the executor (close everything when a breaker flattens).
"""

from __future__ import annotations

BARS = "bars"
SIGNALS = "signals"
DECISIONS = "risk.decisions"
ORDERS = "orders"
TRADING_STATE = "trading_state"
EXECUTOR_COMMANDS = "executor.commands"

# Every consumer group, declared once. They are created when the back ends open, before any
# service starts, because a group created after a message was published never sees it.
CONSUMER_GROUPS: dict[str, tuple[str, ...]] = {
    BARS: ("strategy_engine", "trade_executor_prices"),
    SIGNALS: ("risk_manager",),
    DECISIONS: ("trade_executor",),
    # trade_executor_account: the account recorder's snapshot after fills.
    ORDERS: ("notifications", "trade_executor_account"),
    TRADING_STATE: ("notifications",),
    EXECUTOR_COMMANDS: ("trade_executor_commands",),
}
