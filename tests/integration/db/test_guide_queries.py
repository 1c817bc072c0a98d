"""The operations guide's SQL runs unchanged on the migrated PostgreSQL schema, through psql.

The queries are copied verbatim from spec/TROUBLESHOOTING.md; when the guide sits beside the
repository (as in CI) the test also checks that each copy still matches it.
"""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from tests.backends import POSTGRES_ADMIN_URL, require, run_isolated, unavailable
from trader.adapters.db.engine import create_engine
from trader.adapters.db.tables import audit_logs, market_data, positions, risk_parameters, trades

GUIDE = Path(__file__).resolve().parents[3].parent / "shared" / "spec" / "TROUBLESHOOTING.md"
REPOSITORY = Path(__file__).resolve().parents[3]

GUIDE_QUERIES = {
    "recent_market_data": """
  SELECT symbol, timestamp, close_price 
  FROM market_data 
  ORDER BY timestamp DESC 
  LIMIT 10;
""",
    "risk_parameters": """
  SELECT * FROM risk_parameters ORDER BY updated_at DESC LIMIT 5;
""",
    "recent_orders": """
  SELECT id, symbol, side, quantity, status, error_message, timestamp 
  FROM trades 
  ORDER BY timestamp DESC 
  LIMIT 10;
""",
    "pending_orders": """
  SELECT id, symbol, side, quantity, status, error_message, timestamp
  FROM trades
  WHERE status IN ('pending', 'submitted')
  ORDER BY timestamp DESC;
""",
    "rejection_reasons": """
  SELECT error_message, COUNT(*) as count
  FROM trades
  WHERE status = 'rejected'
  AND timestamp > NOW() - INTERVAL '24 hours'
  GROUP BY error_message
  ORDER BY count DESC;
""",
    "freshness": """
  SELECT 
    symbol, 
    MAX(timestamp) as latest_data,
    NOW() - MAX(timestamp) as data_age
  FROM market_data
  GROUP BY symbol
  ORDER BY data_age DESC;
""",
    "duplicates": """
  SELECT symbol, timestamp, COUNT(*)
  FROM market_data
  GROUP BY symbol, timestamp
  HAVING COUNT(*) > 1;
""",
    "remove_duplicates": """
  -- Remove duplicate records
  DELETE FROM market_data a USING market_data b
  WHERE a.id > b.id AND a.symbol = b.symbol AND a.timestamp = b.timestamp;
""",
    "outliers": """
  SELECT symbol, timestamp, open_price, high_price, low_price, close_price
  FROM market_data
  WHERE high_price < low_price OR close_price <= 0
  ORDER BY timestamp DESC;
""",
    "authentication_attempts": """
  SELECT timestamp, user_id, ip_address, success, error_message
  FROM audit_logs
  WHERE action = 'authenticate'
  ORDER BY timestamp DESC
  LIMIT 10;
""",
    "critical_events": """
  SELECT timestamp, service_name, action, error_message
  FROM audit_logs
  WHERE severity = 'critical'
  AND timestamp > NOW() - INTERVAL '24 hours'
  ORDER BY timestamp DESC
  LIMIT 10;
""",
    "trade_activity": """
SELECT COUNT(*), status
FROM trades
WHERE timestamp > NOW() - INTERVAL '1 hour'
GROUP BY status;
""",
    "system_performance": """
SELECT 
  service_name,
  COUNT(*) as requests,
  AVG(execution_time_ms) as avg_response_time
FROM audit_logs
WHERE timestamp > NOW() - INTERVAL '1 hour'
GROUP BY service_name;
""",
    "error_rates": """
SELECT 
  service_name,
  COUNT(CASE WHEN success THEN 1 END) as successful,
  COUNT(CASE WHEN NOT success THEN 1 END) as failed
FROM audit_logs
WHERE timestamp > NOW() - INTERVAL '1 hour'
GROUP BY service_name;
""",
    "constraints_not_validated": """
  SELECT conname, conrelid::regclass, confrelid::regclass
  FROM pg_constraint
  WHERE NOT convalidated;
""",
    "table_sizes": """
  SELECT 
    schemaname, 
    tablename, 
    pg_size_pretty(pg_total_relation_size(schemaname||'.'||tablename)) as size
  FROM pg_tables 
  WHERE schemaname = 'public'
  ORDER BY pg_total_relation_size(schemaname||'.'||tablename) DESC;
""",
}
# The guide sends these three in one -c; CONCURRENTLY cannot run inside the implicit
# transaction that creates, so an operator runs them one by one.
GUIDE_INDEXES = [
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_trades_timestamp ON trades(timestamp);",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_market_data_symbol_timestamp ON market_data(symbol, timestamp);",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_positions_symbol ON positions(symbol);",
]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def psql(database: str, sql: str) -> str:
    require("PostgreSQL", "127.0.0.1", 5432)
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "trader", "-d", database, "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"psql failed: {result.stderr}"
    return result.stdout


def test_the_copied_queries_match_the_guide() -> None:
    if not GUIDE.exists():
        unavailable(f"the operations guide is not beside this checkout: {GUIDE}")
    guide = _normalise(GUIDE.read_text())
    for name, query in GUIDE_QUERIES.items():
        assert _normalise(query) in guide, f"{name} is no longer the guide's text"
    for statement in GUIDE_INDEXES:
        assert _normalise(statement) in guide


@pytest.fixture
def seeded_database(postgres_url: str) -> str:
    """The scratch database, truncated and filled with a little of everything the guide reads."""
    now = datetime.now(UTC)

    async def seed() -> None:
        engine = create_engine(postgres_url)
        async with engine.begin() as connection:
            await connection.exec_driver_sql(
                "TRUNCATE market_data, trades, fills, positions, risk_parameters, audit_logs, risk_decisions, "
                "signals RESTART IDENTITY CASCADE"
            )
            await connection.execute(
                insert(market_data),
                [
                    {
                        "symbol": symbol,
                        "timestamp": now - timedelta(minutes=minute),
                        "timeframe": "1min",
                        "open_price": Decimal("100"),
                        "high_price": Decimal("101"),
                        "low_price": Decimal("99"),
                        "close_price": Decimal("100.5"),
                        "volume": Decimal(1000),
                        "source": "test",
                    }
                    for symbol in ("AAPL", "SPY")
                    for minute in range(3)
                ],
            )
            order = {
                "broker": "simulated",
                "order_type": "market",
                "time_in_force": "day",
                "side": "buy",
                "symbol": "AAPL",
                "quantity": Decimal(10),
                "timestamp": now,
                "updated_at": now,
            }
            await connection.execute(
                insert(trades),
                [
                    {**order, "client_order_id": "a", "status": "pending", "error_message": None},
                    {**order, "client_order_id": "b", "status": "submitted", "error_message": None},
                    {
                        **order,
                        "client_order_id": "c",
                        "status": "rejected",
                        "error_message": "insufficient buying power",
                    },
                    {
                        **order,
                        "client_order_id": "d",
                        "status": "rejected",
                        "error_message": "insufficient buying power",
                    },
                    {**order, "client_order_id": "e", "status": "filled", "error_message": None},
                ],
            )
            await connection.execute(
                insert(positions),
                {
                    "symbol": "AAPL",
                    "quantity": Decimal(10),
                    "average_cost": Decimal("100.5"),
                    "updated_at": now,
                },
            )
            await connection.execute(
                insert(risk_parameters),
                {
                    "version": 1,
                    "limits": {"max_position_pct": "0.2"},
                    "updated_by": "test",
                    "reason": "seed",
                    "updated_at": now,
                },
            )
            await connection.execute(
                insert(audit_logs),
                [
                    {
                        "timestamp": now,
                        "action": "authenticate",
                        "service_name": "risk_manager",
                        "success": False,
                        "ip_address": "127.0.0.1",
                        "error_message": "invalid token",
                        "severity": "warning",
                        "execution_time_ms": 1.5,
                    },
                    {
                        "timestamp": now,
                        "action": "emergency_shutdown",
                        "service_name": "maintenance_service",
                        "success": True,
                        "ip_address": "127.0.0.1",
                        "error_message": None,
                        "severity": "critical",
                        "execution_time_ms": 20.0,
                    },
                ],
            )
        await engine.dispose()

    run_isolated(seed)
    database = make_url(postgres_url).database
    assert database is not None
    return database


def test_every_guide_query_runs_unchanged(seeded_database: str) -> None:
    outputs = {name: psql(seeded_database, query) for name, query in GUIDE_QUERIES.items()}
    assert "(6 rows)" in outputs["recent_market_data"]
    assert "(2 rows)" in outputs["pending_orders"]
    assert re.search(r"insufficient buying power\s*\|\s*2", outputs["rejection_reasons"])
    assert "(2 rows)" in outputs["freshness"]
    assert "(0 rows)" in outputs["duplicates"]
    assert "DELETE 0" in outputs["remove_duplicates"]
    assert "(0 rows)" in outputs["outliers"]
    assert "invalid token" in outputs["authentication_attempts"]
    assert "emergency_shutdown" in outputs["critical_events"]
    assert re.search(r"2\s*\|\s*rejected", outputs["trade_activity"])
    assert "maintenance_service" in outputs["system_performance"]
    assert re.search(r"risk_manager\s*\|\s*0\s*\|\s*1", outputs["error_rates"])
    assert "(1 row)" in outputs["risk_parameters"]
    assert "market_data" in outputs["table_sizes"]


def test_the_guide_indexes_exist_already(seeded_database: str) -> None:
    for statement in GUIDE_INDEXES:
        output = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "trader", "-d", seeded_database, "-c", statement],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        # Already there under the guide's name: a notice, not a second index.
        assert "already exists, skipping" in output.stderr
    for maintenance in ("ANALYZE;", "VACUUM ANALYZE;", f"REINDEX DATABASE {seeded_database};"):
        psql(seeded_database, maintenance)


def test_the_project_provisions_and_migrates_trading_system() -> None:
    """`migrate.sh development --provision` creates role and database, then the guide's checks work."""
    require("PostgreSQL", "127.0.0.1", 5432)
    environment = {
        **os.environ,
        "POSTGRES_ADMIN_URL": POSTGRES_ADMIN_URL,
        "DATABASE_URL": "postgresql://trader@127.0.0.1:5432/trading_system",
        "REDIS_URL": "",
    }
    for _attempt in range(2):  # idempotent: the second run changes nothing and still succeeds
        result = subprocess.run(
            ["scripts/deployment/migrate.sh", "development", "--provision"],
            cwd=REPOSITORY,
            env=environment,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    assert "role trader: exists; database trading_system: exists" in result.stderr
    ready = subprocess.run(
        ["pg_isready", "-h", "127.0.0.1", "-U", "trader"], capture_output=True, text=True, check=False
    )
    assert ready.returncode == 0
    output = psql(
        "trading_system",
        """
  SELECT 
    pg_size_pretty(pg_database_size('trading_system')) as db_size,
    count(*) as active_connections
  FROM pg_stat_activity
  WHERE datname = 'trading_system';
""",
    )
    assert "db_size" in output
    assert "alembic_version" in psql("trading_system", "\\dt")
