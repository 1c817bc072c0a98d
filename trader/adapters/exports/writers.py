"""Write row batches to CSV, JSON or Parquet as they arrive: a table never sits in memory whole."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("csv", "json", "parquet")


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    kind: str  # "text" | "integer" | "float" | "decimal" | "timestamp" | "boolean" | "json"
    precision: int = 0
    scale: int = 0


@dataclass(frozen=True, slots=True)
class WriteResult:
    rows: int
    bytes: int


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")  # exact: a float would lose digits
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _arrow_type(column: ColumnSpec) -> pa.DataType:
    if column.kind == "decimal":
        return pa.decimal128(column.precision, column.scale)
    if column.kind == "timestamp":
        return pa.timestamp("us", tz="UTC")
    if column.kind == "integer":
        return pa.int64()
    if column.kind == "float":
        return pa.float64()
    if column.kind == "boolean":
        return pa.bool_()
    return pa.string()


def _arrow_value(column: ColumnSpec, value: Any) -> Any:
    if value is None:
        return None
    if column.kind == "decimal":
        return Decimal(value).quantize(Decimal(1).scaleb(-column.scale))
    if column.kind == "json":
        return json.dumps(value, sort_keys=True, default=str)
    if column.kind == "text":
        return str(value)
    return value


async def write_batches(
    batches: AsyncIterator[Sequence[Sequence[Any]]],
    columns: Sequence[ColumnSpec],
    output_format: str,
    path: Path,
) -> WriteResult:
    """Write `batches` (rows as value tuples in `columns` order) to `path` in `output_format`."""
    if output_format not in FORMATS:
        raise ValueError(f"unknown format {output_format!r}; use one of {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [column.name for column in columns]
    rows = 0
    if output_format == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            async for batch in batches:
                writer.writerows([_text(value) for value in row] for row in batch)
                rows += len(batch)
    elif output_format == "json":
        with path.open("w", encoding="utf-8") as handle:
            handle.write("[")
            async for batch in batches:
                for row in batch:
                    handle.write(",\n" if rows else "\n")
                    handle.write(
                        json.dumps(dict(zip(names, map(_json_value, row), strict=True)), default=str)
                    )
                    rows += 1
            handle.write("\n]\n" if rows else "]\n")
    else:
        schema = pa.schema([pa.field(column.name, _arrow_type(column)) for column in columns])
        with pq.ParquetWriter(path, schema, compression="zstd") as parquet:
            async for batch in batches:
                if not batch:
                    continue
                arrays = [
                    pa.array(
                        [_arrow_value(column, row[index]) for row in batch], type=schema.field(index).type
                    )
                    for index, column in enumerate(columns)
                ]
                parquet.write_table(pa.Table.from_arrays(arrays, schema=schema))
                rows += len(batch)
    return WriteResult(rows, os.path.getsize(path))  # noqa: ASYNC240 - one stat of a local file
