"""Alpaca adapters (market data; the broker lives beside it) through the official `alpaca-py`."""
