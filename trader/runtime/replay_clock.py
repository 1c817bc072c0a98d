"""The accelerated clock of the embedded default, which survives restarts and is shared by processes.

Orders, fills and bars carry simulated times; starting the clock again from the beginning after
a restart would put the books in the future. The clock's position is saved in `system_flags`
every few seconds and on shutdown, and a restart resumes from it.

With one process per service every process has its own `SimulatedClock`. Started independently,
they would differ by their start-up delays times the speed (two seconds at 21600x is half a
day: the collector could publish a session's bars while the risk manager's clock is already in
the next one). So the saved row is also the shared anchor: it holds a position, the wall time
(epoch seconds, the same for every process on the host) at that position, and the processes
that are running with a heartbeat each. A process that finds a live sibling joins the running
clock (`position + (wall now - wall then) * speed`); when none is alive the whole system was
down, and the clock resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.clock import SimulatedClock
from trader.adapters.db.stores.system_flags import REPLAY_CLOCK_FLAG
from trader.adapters.db.tables import system_flags
from trader.core.sessions import MarketCalendar

log = logging.getLogger(__name__)
FLAG = REPLAY_CLOCK_FLAG
SAVE_EVERY_SECONDS = 5.0
# A process missing three heartbeats in a row is gone (killed, or the machine stopped).
ALIVE_WITHIN_SECONDS = 3 * SAVE_EVERY_SECONDS


def process_key() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class ClockAnchor:
    """The saved row: simulated `at` corresponds to wall time `wall_at` (epoch seconds)."""

    at: datetime
    speed: float
    wall_at: float | None = None
    processes: dict[str, float] = field(default_factory=dict)

    def alive(self, wall_now: float, *, besides: str) -> list[str]:
        return [
            key
            for key, beat in self.processes.items()
            if key != besides and wall_now - beat <= ALIVE_WITHIN_SECONDS
        ]

    def position_at(self, wall_now: float) -> datetime:
        """Where a clock started from this anchor is at wall time `wall_now`."""
        if self.wall_at is None:
            return self.at
        return self.at + timedelta(seconds=max(0.0, wall_now - self.wall_at) * self.speed)


async def saved_anchor(engine: AsyncEngine) -> ClockAnchor | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(select(system_flags.c.value).where(system_flags.c.name == FLAG))
        ).first()
    if row is None or not isinstance(row.value, dict) or "at" not in row.value:
        return None
    value: dict[str, Any] = row.value
    processes = value.get("processes")
    return ClockAnchor(
        at=datetime.fromisoformat(value["at"]).astimezone(UTC),
        speed=float(value.get("speed", 0.0)),
        wall_at=float(value["wall_at"]) if value.get("wall_at") is not None else None,
        processes={str(k): float(v) for k, v in processes.items()} if isinstance(processes, dict) else {},
    )


async def save_position(
    engine: AsyncEngine, clock: SimulatedClock, *, running: bool = True, process: str | None = None
) -> None:
    """Write the clock's position with this process's heartbeat (or without it, on the way out).

    Two processes saving at once may drop each other's heartbeat; the next save puts it back,
    well within ALIVE_WITHIN_SECONDS.
    """
    wall_now = time.time()
    now = clock.now()
    previous = await saved_anchor(engine)
    processes = {
        key: beat
        for key, beat in (previous.processes if previous else {}).items()
        if wall_now - beat <= ALIVE_WITHIN_SECONDS
    }
    me = process or process_key()
    if running:
        processes[me] = wall_now
    else:
        processes.pop(me, None)
    values = {
        "value": {"at": now.isoformat(), "speed": clock.speed, "wall_at": wall_now, "processes": processes},
        "reason": "replay clock position",
        "changed_by": "runtime",
        "updated_at": now,
    }
    async with engine.begin() as connection:
        changed = await connection.execute(update(system_flags).where(system_flags.c.name == FLAG), values)
        if changed.rowcount:
            return
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(system_flags), {"name": FLAG, **values})
    except IntegrityError:
        # A sibling inserted the row in between; its position is ours (same anchor).
        pass


async def open_replay_clock(
    engine: AsyncEngine,
    calendar: MarketCalendar,
    start: datetime,
    speed: float,
    *,
    process: str | None = None,
) -> SimulatedClock:
    """`process` names this process's heartbeat (default: host and pid)."""
    try:
        anchor = await saved_anchor(engine)
    except Exception as error:  # no database yet: /health will say so; the clock starts afresh
        log.warning("replay clock position unreadable (%s); starting from the beginning", error)
        anchor = None
    wall_now = time.time()
    if anchor is not None and anchor.at >= start:
        siblings = anchor.alive(wall_now, besides=process or process_key())
        if siblings and anchor.speed == speed:
            position = anchor.position_at(wall_now)
            log.info(
                "replay clock joins %d running process(es) at %s (x%g)",
                len(siblings),
                position.isoformat(),
                speed,
            )
            clock = SimulatedClock(position, speed=speed)
        else:
            log.info("replay clock resumes at %s (x%g)", anchor.at.isoformat(), speed)
            clock = SimulatedClock(anchor.at, speed=speed)
    else:
        first_open = calendar.next_open(start)
        log.info("replay clock starts at %s (x%g)", first_open.isoformat(), speed)
        clock = SimulatedClock(first_open, speed=speed)
    try:
        # At once, so processes starting a moment later join this clock instead of starting their own.
        await save_position(engine, clock, process=process)
    except Exception as error:
        log.warning("could not save the replay clock anchor (%s); siblings may start their own", error)
    return clock


async def keep_saving(
    engine: AsyncEngine, clock: SimulatedClock, every_seconds: float = SAVE_EVERY_SECONDS
) -> None:
    """Save the position (and this process's heartbeat) every few wall seconds until cancelled,
    and once more on the way out without the heartbeat."""
    try:
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await save_position(engine, clock)
            except Exception:  # a missed save only costs a little replay after a crash
                log.exception("could not save the replay clock position")
    finally:
        try:
            await asyncio.shield(save_position(engine, clock, running=False))
        except Exception:
            log.exception("could not save the replay clock position on shutdown")
