"""The accelerated clock of the embedded default, which survives restarts.

Orders, fills and bars carry simulated times; starting the clock again from the beginning after
a restart would put the books in the future. The clock's position is saved in `system_flags`
every few seconds and on shutdown, and a restart resumes from it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.clock import SimulatedClock
from trader.adapters.db.tables import system_flags
from trader.core.sessions import MarketCalendar

log = logging.getLogger(__name__)
FLAG = "replay_clock"


async def saved_position(engine: AsyncEngine) -> datetime | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(select(system_flags.c.value).where(system_flags.c.name == FLAG))
        ).first()
    if row is None or not isinstance(row.value, dict) or "at" not in row.value:
        return None
    return datetime.fromisoformat(row.value["at"]).astimezone(UTC)


async def save_position(engine: AsyncEngine, clock: SimulatedClock) -> None:
    now = clock.now()
    async with engine.begin() as connection:
        await connection.execute(delete(system_flags).where(system_flags.c.name == FLAG))
        await connection.execute(
            insert(system_flags),
            {
                "name": FLAG,
                "value": {"at": now.isoformat(), "speed": clock.speed},
                "reason": "replay clock position",
                "changed_by": "runtime",
                "updated_at": now,
            },
        )


async def open_replay_clock(
    engine: AsyncEngine, calendar: MarketCalendar, start: datetime, speed: float
) -> SimulatedClock:
    try:
        resumed = await saved_position(engine)
    except Exception as error:  # no database yet: /health will say so; the clock starts afresh
        log.warning("replay clock position unreadable (%s); starting from the beginning", error)
        resumed = None
    if resumed is not None and resumed >= start:
        log.info("replay clock resumes at %s (x%g)", resumed.isoformat(), speed)
        return SimulatedClock(resumed, speed=speed)
    first_open = calendar.next_open(start)
    log.info("replay clock starts at %s (x%g)", first_open.isoformat(), speed)
    return SimulatedClock(first_open, speed=speed)


async def keep_saving(engine: AsyncEngine, clock: SimulatedClock, every_seconds: float = 5.0) -> None:
    """Save the position every few wall seconds until cancelled, and once more on the way out."""
    try:
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await save_position(engine, clock)
            except Exception:  # a missed save only costs a little replay after a crash
                log.exception("could not save the replay clock position")
    finally:
        try:
            await asyncio.shield(save_position(engine, clock))
        except Exception:
            log.exception("could not save the replay clock position on shutdown")
