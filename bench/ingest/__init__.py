"""Ingest benchmark: rows/s of MarketDataStore.upsert_bars against the raw driver baselines."""
