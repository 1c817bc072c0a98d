"""Row counts and content checksums per table, the same way for a live database and a restored one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection

from trader.adapters.db.stores.system_flags import BAR_APPLIED_PREFIX, REPLAY_CLOCK_FLAG
from trader.adapters.db.tables import metadata, system_flags

_BATCH = 2000
# Tables a running system only appends to (serial keys): the scheduler records job runs, every call
# is audited, and the collector stores each bar as it closes while a restore is being verified
# (at the replay's speed a session closes every few seconds); on each bar the strategies signal and
# the risk manager records its decision (a denial too, while HALTED), and the executor records its
# readings of the broker's account. Rows past the backup's are written since.
APPENDED_WHILE_RUNNING = frozenset(
    {"job_runs", "audit_logs", "market_data", "signals", "risk_decisions", "account_snapshots"}
)


@dataclass(frozen=True, slots=True)
class TableFingerprint:
    rows: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "sha256": self.sha256}


def _normalised(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, bytes):
        return value.hex()
    return value


async def existing_tables(connection: AsyncConnection) -> set[str]:
    names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names)


# (step, done, total): how far a long step is, for a progress bar. Called from worker threads too.
StepProgress = Callable[[str, int, int], None]


async def fingerprint_tables(
    connection: AsyncConnection,
    progress: StepProgress | None = None,
    first_rows: Mapping[str, int] | None = None,
) -> dict[str, TableFingerprint]:
    """Every schema table present in the database: its row count and a hash of its rows in key order.

    Rows are streamed in batches, so a large table never sits in memory. `first_rows` limits a table
    of APPENDED_WHILE_RUNNING to its first N rows in key order (a restore verified under a running
    system: the backup's rows, not those appended since).
    """
    present = await existing_tables(connection)
    result: dict[str, TableFingerprint] = {}
    tables = [table for table in metadata.sorted_tables if table.name in present]
    for done, table in enumerate(tables):
        if progress is not None:
            progress(f"checksum {table.name}", done, len(tables))
        digest = hashlib.sha256()
        rows = 0
        query = select(table).order_by(*table.primary_key.columns)
        if table is system_flags:
            # Running processes rewrite these every few seconds; a backup of a live system could
            # never be verified against them, and a restart writes them afresh anyway.
            query = query.where(
                system_flags.c.name != REPLAY_CLOCK_FLAG, ~system_flags.c.name.startswith(BAR_APPLIED_PREFIX)
            )
        if first_rows is not None and table.name in APPENDED_WHILE_RUNNING and table.name in first_rows:
            query = query.limit(first_rows[table.name])
        stream = await connection.stream(query.execution_options(yield_per=_BATCH))
        async for partition in stream.partitions(_BATCH):
            for row in partition:
                digest.update(repr(tuple(_normalised(value) for value in row)).encode())
                digest.update(b"\n")
                rows += 1
        result[table.name] = TableFingerprint(rows, digest.hexdigest())
    if progress is not None:
        progress("checksums", len(tables), len(tables))
    return result
