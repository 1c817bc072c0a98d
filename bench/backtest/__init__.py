"""Backtest benchmark: our engine against backtrader, backtesting.py, vectorbt and a plain-numpy reference."""
