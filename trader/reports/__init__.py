"""Reports built from values: performance (HTML), daily summary, tax lots, TradeNote CSV rows."""
