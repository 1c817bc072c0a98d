"""Bus topics: the one list of streams the services talk over.

bar stored -> BARS -> strategy engine -> SIGNALS -> risk manager -> DECISIONS -> trade executor
-> ORDERS (status changes and fills) ; TRADING_STATE carries ACTIVE/REDUCING/HALTED changes.
"""

from __future__ import annotations

BARS = "bars"
SIGNALS = "signals"
DECISIONS = "risk.decisions"
ORDERS = "orders"
TRADING_STATE = "trading_state"
