"""Streaming export writers (CSV, JSON, Parquet) and the datasets they read."""
