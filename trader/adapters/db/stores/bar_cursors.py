"""`bar_cursors`: per (symbol, timeframe), the start of the newest bar the collector has decided
about (announced, passed over as history, or found empty). A cursor only moves forward."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import bar_cursors
from trader.core.market import Timeframe

SeriesKey = tuple[str, Timeframe]


class BarCursorStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def load(self) -> dict[SeriesKey, datetime]:
        query = select(bar_cursors.c.symbol, bar_cursors.c.timeframe, bar_cursors.c.published_through)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {(symbol, Timeframe(timeframe)): through for symbol, timeframe, through in rows}

    async def advance(self, cursors: Mapping[SeriesKey, datetime], at: datetime) -> None:
        """Store the cursors in one transaction; a stored cursor further ahead is kept."""
        if not cursors:
            return
        rows = [
            {"symbol": symbol, "timeframe": timeframe.value, "published_through": through, "updated_at": at}
            for (symbol, timeframe), through in cursors.items()
        ]
        dialect: Any = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(bar_cursors)
        statement = statement.on_conflict_do_update(
            index_elements=[bar_cursors.c.symbol, bar_cursors.c.timeframe],
            set_={
                "published_through": statement.excluded.published_through,
                "updated_at": statement.excluded.updated_at,
            },
            where=bar_cursors.c.published_through < statement.excluded.published_through,
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement, rows)
