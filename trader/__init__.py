"""full-ai-trader: a self-hosted, AI-assisted trading system for US equities."""

__version__ = "0.1.0"
