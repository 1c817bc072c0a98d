"""What the risk manager reads and writes: versioned limits, decisions, and the books it judges.

The books (positions, marks, cash, the equity history behind drawdown and the day's loss, the
day's trade count, the last signal per strategy and symbol) are read with plain SQL from the
tables the executor and the collector write, so the risk manager depends on their schema only.
Nothing here holds state between calls: after a restart the same rows give the same portfolio.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import RowMapping, Text, and_, case, delete, exists, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trader.adapters.db.newest_rows import Bound, NewestRows, Probe
from trader.adapters.db.stores.account import (
    AccountProblem,
    account_problem,
    broker_day_start_equity,
    equity_before,
    high_water_mark,
    latest_snapshot,
)
from trader.adapters.db.stores.signals import SignalRecord, signal_row
from trader.adapters.db.tables import (
    fills,
    market_data,
    positions,
    risk_decisions,
    risk_parameters,
    signals,
    system_flags,
    trades,
)
from trader.core.account import AccountSnapshot
from trader.core.day_trades import DayFill, DayTrading, day_trading
from trader.core.money import to_cash, to_price, to_quantity
from trader.core.orders import OrderSide
from trader.core.portfolio import Mark
from trader.core.positions import Position
from trader.core.risk.limits import RiskLimits

APPROVED = "approved"
DENIED = "denied"
# The equity drawdown is measured from, set when a person resumes after a drawdown halt.
DRAWDOWN_BASELINE_FLAG = "risk.drawdown_baseline"
MAX_DECISIONS_PAGE = 500


class ConcurrentLimitsChangeError(RuntimeError):
    """Someone else wrote a new limits version between our read and our write; read again and retry."""


@dataclass(frozen=True, slots=True)
class LimitsVersion:
    version: int
    limits: RiskLimits
    updated_by: str
    reason: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    decision_id: str
    signal_event_id: str | None
    strategy_name: str | None
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal | None
    notional: Decimal | None
    decision: str
    reasons: tuple[str, ...]
    # The proposed order, the portfolio it was judged against and the context (JSON values).
    snapshot: dict[str, Any]
    risk_parameters_version: int | None
    trading_state: str
    decided_at: datetime
    # The account equity the decision sized and judged on.
    equity: Decimal | None = None

    @property
    def approved(self) -> bool:
        return self.decision == APPROVED

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reason.split(":", 1)[0] for reason in self.reasons)


@dataclass(frozen=True, slots=True)
class DrawdownBaseline:
    equity: Decimal
    set_at: datetime
    set_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Books:
    """The account as the tables show it at one moment, before it becomes a Portfolio."""

    positions: tuple[Position, ...]
    marks: dict[str, Mark]
    cash: Decimal
    buying_power: Decimal | None
    # Highest equity any account snapshot recorded since the baseline (all history without one).
    snapshot_peak_equity: Decimal | None
    has_snapshots: bool
    baseline: DrawdownBaseline | None
    # Equity of the last account snapshot before the trading day began.
    previous_day_equity: Decimal | None
    # The day-start equity the first decision of the day recorded (when no snapshot precedes the day).
    first_decision_day_start_equity: Decimal | None
    trades_today: int
    last_signal_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    # The reading of the broker's account cash is moved on from (in step with the books), the
    # newest reading of any kind, the broker's last answer when it was unusable, and the broker's
    # equity at the previous close as the day's latest reading states it.
    account: AccountSnapshot | None = None
    latest_account: AccountSnapshot | None = None
    account_problem: AccountProblem | None = None
    broker_day_start_equity: Decimal | None = None
    day_trading: DayTrading = field(default_factory=lambda: DayTrading(frozenset(), {}))


@dataclass(frozen=True, slots=True)
class History:
    """A symbol's recent bars, oldest first, as the risk figures read them."""

    timeframe: str | None
    closes: list[tuple[datetime, Decimal]]
    bars: list[tuple[Decimal, Decimal, Decimal]]


def _insert_ignoring_duplicates(connection: AsyncConnection, table: Any, key: str) -> Any:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])


def _limits_version(row: RowMapping) -> LimitsVersion:
    payload = row["limits"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    return LimitsVersion(
        version=row["version"],
        limits=RiskLimits.from_dict(payload),
        updated_by=row["updated_by"],
        reason=row["reason"],
        updated_at=row["updated_at"],
    )


def _decision(row: RowMapping) -> DecisionRecord:
    snapshot = row["portfolio_snapshot"] or {}
    if isinstance(snapshot, str):
        snapshot = json.loads(snapshot)
    reasons = row["reasons"]
    if isinstance(reasons, str):
        reasons = json.loads(reasons)
    return DecisionRecord(
        decision_id=row["decision_id"],
        signal_event_id=row["signal_event_id"],
        strategy_name=row["strategy_name"],
        symbol=row["symbol"],
        side=row["side"],
        quantity=row["quantity"],
        price=row["price"],
        notional=row["notional"],
        decision=row["decision"],
        reasons=tuple(reasons),
        snapshot=snapshot,
        risk_parameters_version=row["risk_parameters_version"],
        trading_state=row["trading_state"],
        decided_at=row["timestamp"],
        equity=row["equity"],
    )


class RiskStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # Limits

    async def current_limits(self) -> LimitsVersion | None:
        async with self._engine.connect() as connection:
            row = (
                (
                    await connection.execute(
                        select(risk_parameters).order_by(risk_parameters.c.version.desc()).limit(1)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _limits_version(row)

    async def limits_history(self, limit: int = 20) -> list[LimitsVersion]:
        async with self._engine.connect() as connection:
            rows = (
                (
                    await connection.execute(
                        select(risk_parameters).order_by(risk_parameters.c.version.desc()).limit(limit)
                    )
                )
                .mappings()
                .all()
            )
        return [_limits_version(row) for row in rows]

    async def record_limits(
        self,
        limits: RiskLimits,
        *,
        updated_by: str,
        reason: str,
        updated_at: datetime,
        expected_version: int | None,
    ) -> LimitsVersion:
        """Write the next version. `expected_version` is the version the change was based on (None
        for the first); if another writer got there first, nothing is written and the caller hears so."""
        try:
            async with self._engine.begin() as connection:
                latest = (
                    await connection.execute(select(func.max(risk_parameters.c.version)))
                ).scalar_one_or_none()
                if latest != expected_version:
                    raise ConcurrentLimitsChangeError(
                        f"risk limits changed meanwhile (now version {latest}, the change was based on "
                        f"version {expected_version}); read them again and repeat the change"
                    )
                version = (latest or 0) + 1
                await connection.execute(
                    insert(risk_parameters),
                    {
                        "version": version,
                        "limits": limits.to_dict(),
                        "updated_by": updated_by,
                        "reason": reason,
                        "updated_at": updated_at,
                    },
                )
        except IntegrityError as error:  # the unique version: a concurrent writer won the race
            raise ConcurrentLimitsChangeError(
                f"risk limits changed meanwhile (version {expected_version} was superseded); "
                "read them again and repeat the change"
            ) from error
        return LimitsVersion(version, limits, updated_by, reason, updated_at)

    # Decisions

    async def decisions_for_signals(self, signal_event_ids: Sequence[str]) -> dict[str, DecisionRecord]:
        """The stored decision (the first one) of each of these signals that has one."""
        if not signal_event_ids:
            return {}
        async with self._engine.connect() as connection:
            return await self._decisions_for_signals(connection, signal_event_ids)

    @staticmethod
    async def _decisions_for_signals(
        connection: AsyncConnection, signal_event_ids: Sequence[str]
    ) -> dict[str, DecisionRecord]:
        found: dict[str, DecisionRecord] = {}
        rows = await connection.execute(
            select(risk_decisions)
            .where(risk_decisions.c.signal_event_id.in_(sorted(set(signal_event_ids))))
            .order_by(risk_decisions.c.id)
        )
        for row in rows.mappings():
            found.setdefault(row["signal_event_id"], _decision(row))
        return found

    async def record_decisions(
        self, entries: Sequence[tuple[DecisionRecord, SignalRecord | None]]
    ) -> dict[str, DecisionRecord]:
        """Store the decisions and their signals (unless the strategy engine already did), all in one
        transaction, all or none. Returns the decisions already stored for any of these signals (a
        redelivered event judged elsewhere meanwhile): when there are some, nothing is written, and
        the caller judges again knowing them."""
        if not entries:
            return {}
        keys = sorted({decision.signal_event_id for decision, _ in entries if decision.signal_event_id})
        async with self._engine.begin() as connection:
            if keys:
                await _lock_signals(connection, keys)
                existing = await self._decisions_for_signals(connection, keys)
                if existing:
                    return existing
            signal_ids = await self._store_signals(connection, [s for _, s in entries if s is not None])
            await connection.execute(
                insert(risk_decisions),
                [
                    _decision_row(decision, None if signal is None else signal_ids[signal.event_id])
                    for decision, signal in entries
                ],
            )
        return {}

    @staticmethod
    async def _store_signals(connection: AsyncConnection, records: Sequence[SignalRecord]) -> dict[str, int]:
        """Event id -> row id of each signal, inserting those not stored yet."""
        if not records:
            return {}
        statement = _insert_ignoring_duplicates(connection, signals, "event_id")
        await connection.execute(statement, [signal_row(record) for record in records])
        rows = await connection.execute(
            select(signals.c.event_id, signals.c.id).where(
                signals.c.event_id.in_(sorted({record.event_id for record in records}))
            )
        )
        return {row.event_id: row.id for row in rows}

    async def recent_decisions(
        self,
        *,
        symbol: str | None = None,
        decision: str | None = None,
        reason_code: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[DecisionRecord]:
        """Newest first. `reason_code` matches decisions that carry that code among their reasons."""
        query = select(risk_decisions)
        if symbol is not None:
            query = query.where(risk_decisions.c.symbol == symbol)
        if decision is not None:
            query = query.where(risk_decisions.c.decision == decision)
        if since is not None:
            query = query.where(risk_decisions.c.timestamp >= since)
        if reason_code is not None:
            # Each stored reason is a JSON string starting `"CODE: `; both back ends keep the text.
            query = query.where(
                risk_decisions.c.reasons.cast(Text()).contains(f'"{reason_code}:', autoescape=True)
            )
        query = query.order_by(risk_decisions.c.timestamp.desc(), risk_decisions.c.id.desc())
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query.limit(min(limit, MAX_DECISIONS_PAGE)))).mappings().all()
        records = [_decision(row) for row in rows]
        if reason_code is not None:
            records = [record for record in records if reason_code in record.codes]
        return records

    # Drawdown baseline

    async def drawdown_baseline(self) -> DrawdownBaseline | None:
        async with self._engine.connect() as connection:
            return await self._baseline(connection)

    @staticmethod
    async def _baseline(connection: AsyncConnection) -> DrawdownBaseline | None:
        row = (
            (
                await connection.execute(
                    select(system_flags).where(system_flags.c.name == DRAWDOWN_BASELINE_FLAG)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        value = row["value"]
        if isinstance(value, str):
            value = json.loads(value)
        return DrawdownBaseline(
            equity=Decimal(value["equity"]),
            set_at=row["updated_at"],
            set_by=row["changed_by"],
            reason=row["reason"],
        )

    async def set_drawdown_baseline(self, baseline: DrawdownBaseline) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(system_flags).where(system_flags.c.name == DRAWDOWN_BASELINE_FLAG)
            )
            await connection.execute(
                insert(system_flags),
                {
                    "name": DRAWDOWN_BASELINE_FLAG,
                    "value": {"equity": format(to_cash(baseline.equity), "f")},
                    "reason": baseline.reason,
                    "changed_by": baseline.set_by,
                    "updated_at": baseline.set_at,
                },
            )

    # Books

    async def load_books(
        self,
        *,
        at: datetime,
        day_started_at: datetime,
        starting_cash: Decimal,
        signal_keys: Sequence[tuple[str, str]] = (),
        newest_closes: Mapping[str, Sequence[tuple[datetime, Decimal]]] | None = None,
    ) -> Books:
        """The books at `at`. `newest_closes`: closes up to `at` already read for some symbols
        (oldest first), whose last one marks a position held there instead of reading it again."""
        async with self._engine.connect() as connection:
            held = [
                Position(
                    symbol=row.symbol,
                    quantity=row.quantity,
                    average_cost=row.average_cost if row.quantity != 0 else Decimal(0),
                    realized_pnl=row.realized_pnl,
                )
                for row in await connection.execute(
                    select(
                        positions.c.symbol,
                        positions.c.quantity,
                        positions.c.average_cost,
                        positions.c.realized_pnl,
                    )
                    .where(positions.c.quantity != 0)
                    .order_by(positions.c.symbol)
                )
            ]
            marks = await self._marks(
                connection, [position.symbol for position in held], at, newest_closes or {}
            )
            account = await latest_snapshot(connection, at, in_step=True)
            latest = await latest_snapshot(connection, at)
            cash, buying_power = await self._cash(connection, at, starting_cash, account or latest)
            baseline = await self._baseline(connection)
            snapshot_peak = await high_water_mark(
                connection, at, None if baseline is None else baseline.set_at
            )
            previous_day_equity = await equity_before(connection, day_started_at)
            first_decision = (
                await connection.execute(
                    select(risk_decisions.c.portfolio_snapshot)
                    .where(risk_decisions.c.timestamp >= day_started_at, risk_decisions.c.timestamp <= at)
                    .order_by(risk_decisions.c.timestamp, risk_decisions.c.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
            return Books(
                positions=tuple(held),
                marks=marks,
                cash=cash,
                buying_power=buying_power,
                snapshot_peak_equity=snapshot_peak,
                has_snapshots=latest is not None,
                baseline=baseline,
                previous_day_equity=previous_day_equity,
                first_decision_day_start_equity=_day_start_from(first_decision),
                trades_today=await self._trades_today(connection, day_started_at, at),
                last_signal_at=await self._last_signals(connection, signal_keys, at),
                account=account,
                latest_account=latest,
                account_problem=await account_problem(connection),
                broker_day_start_equity=await broker_day_start_equity(connection, at, day_started_at),
                day_trading=await self._day_trading(connection, day_started_at, at, held),
            )

    @staticmethod
    async def _marks(
        connection: AsyncConnection,
        symbols: Sequence[str],
        at: datetime,
        known: Mapping[str, Sequence[tuple[datetime, Decimal]]],
    ) -> dict[str, Mark]:
        found: dict[str, Mark] = {}
        for symbol in symbols:
            if closes := known.get(symbol):
                moment, price = closes[-1]
                found[symbol] = Mark(price, moment)
        unread = [symbol for symbol in symbols if symbol not in found]
        latest = await _newest_rows(
            connection, unread, at, 1, (market_data.c.close_price, market_data.c.timestamp)
        )
        for symbol in unread:
            rows = latest.get(symbol)
            if rows:
                found[symbol] = Mark(rows[0].close_price, rows[0].timestamp)
                continue
            # No bar yet (a symbol bought before its data arrived): the executor's last price.
            fallback = (
                await connection.execute(
                    select(positions.c.market_price, positions.c.average_cost, positions.c.updated_at).where(
                        positions.c.symbol == symbol
                    )
                )
            ).first()
            if fallback is not None:
                price = fallback.market_price or fallback.average_cost
                found[symbol] = Mark(price, fallback.updated_at)
        return {symbol: found[symbol] for symbol in symbols if symbol in found}

    async def held_symbols(self) -> list[str]:
        """The symbols of the open positions, sorted."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(positions.c.symbol).where(positions.c.quantity != 0).order_by(positions.c.symbol)
            )
            return [row.symbol for row in rows]

    @staticmethod
    async def _cash(
        connection: AsyncConnection, at: datetime, starting_cash: Decimal, snapshot: AccountSnapshot | None
    ) -> tuple[Decimal, Decimal | None]:
        """Cash (and buying power) of the account reading, moved on by the fills it does not include:
        those recorded after it when it was in step with the books, else (a reading seeded by hand)
        those timed after it; without a reading, the starting cash moved on by every fill."""
        signed_value = case(
            (fills.c.side == "buy", fills.c.quantity * fills.c.price),
            else_=-(fills.c.quantity * fills.c.price),
        )
        query = select(
            func.coalesce(func.sum(signed_value), 0), func.coalesce(func.sum(fills.c.commission), 0)
        ).where(fills.c.timestamp <= at)
        if snapshot is not None and snapshot.fills_through_id is not None:
            query = query.where(fills.c.id > snapshot.fills_through_id)
        elif snapshot is not None:
            query = query.where(fills.c.timestamp > snapshot.taken_at)
        spent, commission = (await connection.execute(query)).one()
        moved = Decimal(str(spent)) + Decimal(str(commission))
        base = snapshot.cash if snapshot is not None else starting_cash
        cash = to_cash(Decimal(base) - moved)
        buying_power = None
        if snapshot is not None and snapshot.buying_power is not None:
            buying_power = to_cash(Decimal(snapshot.buying_power) - moved)
        return cash, buying_power

    @staticmethod
    async def _day_trading(
        connection: AsyncConnection, day_started_at: datetime, at: datetime, held: Sequence[Position]
    ) -> DayTrading:
        """Positions opened today and the day trades made, from today's fills."""
        rows = await connection.execute(
            select(fills.c.symbol, fills.c.side, fills.c.quantity, fills.c.timestamp, fills.c.trade_id)
            .where(fills.c.timestamp >= day_started_at, fills.c.timestamp <= at)
            .order_by(fills.c.timestamp, fills.c.id)
        )
        today = [
            DayFill(row.symbol, OrderSide(row.side), row.quantity, _as_utc(row.timestamp), row.trade_id)
            for row in rows
        ]
        if not today:
            return DayTrading(frozenset(), {})
        return day_trading(today, {position.symbol: position.quantity for position in held})

    @staticmethod
    async def _trades_today(connection: AsyncConnection, day_started_at: datetime, at: datetime) -> int:
        """Orders placed today, plus orders approved today that the executor had not recorded by `at`
        (an order recorded after `at` counts as approved, or it would be counted by neither)."""
        placed = (
            await connection.execute(
                select(func.count())
                .select_from(trades)
                .where(trades.c.timestamp >= day_started_at, trades.c.timestamp <= at)
            )
        ).scalar_one()
        approved_not_placed = (
            await connection.execute(
                select(func.count())
                .select_from(risk_decisions)
                .where(
                    risk_decisions.c.decision == APPROVED,
                    risk_decisions.c.timestamp >= day_started_at,
                    risk_decisions.c.timestamp <= at,
                    ~exists().where(
                        trades.c.risk_decision_id == risk_decisions.c.id, trades.c.timestamp <= at
                    ),
                )
            )
        ).scalar_one()
        return int(placed) + int(approved_not_placed)

    @staticmethod
    async def _last_signals(
        connection: AsyncConnection, keys: Sequence[tuple[str, str]], at: datetime
    ) -> dict[tuple[str, str], datetime]:
        """The newest signal already judged per (strategy, symbol); a signal counts once it has a decision."""
        found: dict[tuple[str, str], datetime] = {}
        if not keys:
            return found
        wanted = set(keys)
        rows = await connection.execute(
            select(signals.c.strategy_name, signals.c.symbol, func.max(signals.c.bar_timestamp))
            .select_from(signals.join(risk_decisions, risk_decisions.c.signal_id == signals.c.id))
            .where(
                and_(
                    signals.c.strategy_name.in_(sorted({name for name, _ in wanted})),
                    signals.c.symbol.in_(sorted({symbol for _, symbol in wanted})),
                    risk_decisions.c.timestamp <= at,
                )
            )
            .group_by(signals.c.strategy_name, signals.c.symbol)
        )
        for strategy_name, symbol, latest in rows:
            if (strategy_name, symbol) in wanted and latest is not None:
                found[(strategy_name, symbol)] = _as_utc(latest)
        return found

    async def recent_closes(
        self, symbols: Sequence[str], *, at: datetime, count: int
    ) -> dict[str, list[tuple[datetime, Decimal]]]:
        """The last `count` (time, close) pairs per symbol up to `at`, oldest first."""
        async with self._engine.connect() as connection:
            newest = await _newest_rows(
                connection, symbols, at, count, (market_data.c.timestamp, market_data.c.close_price)
            )
        return {
            symbol: [(row.timestamp, row.close_price) for row in reversed(newest.get(symbol, []))]
            for symbol in symbols
        }

    async def recent_history(self, symbols: Sequence[str], *, at: datetime, count: int) -> dict[str, History]:
        """Per symbol, the last `count` bars up to `at`: closes with their times, (high, low, close)
        triples and the base timeframe, in one read for the closes and the bars alike."""
        columns = (
            market_data.c.timestamp,
            market_data.c.timeframe,
            market_data.c.high_price,
            market_data.c.low_price,
            market_data.c.close_price,
        )
        async with self._engine.connect() as connection:
            newest = await _newest_rows(connection, symbols, at, count, columns)
        result: dict[str, History] = {}
        for symbol in symbols:
            rows = list(reversed(newest.get(symbol, [])))
            result[symbol] = History(
                timeframe=rows[-1].timeframe if rows else None,
                closes=[(row.timestamp, row.close_price) for row in rows],
                bars=[(row.high_price, row.low_price, row.close_price) for row in rows],
            )
        return result


async def _newest_rows(
    connection: AsyncConnection, symbols: Sequence[str], at: datetime, count: int, columns: Sequence[Any]
) -> dict[str, list[Any]]:
    """Per symbol, the newest `count` market_data rows up to `at`, newest first, as rows named after
    `columns` (symbols without a row are left out): each symbol still read through its own index
    range, all of them in one statement or a few (see NewestRows)."""
    unique = sorted(set(symbols))
    found = await _newest_reader(tuple(column.name for column in columns)).read(
        connection, [Probe(symbol, count, at) for symbol in unique]
    )
    return {symbol: rows for symbol, rows in zip(unique, found, strict=True) if rows}


@cache
def _newest_reader(columns: tuple[str, ...]) -> NewestRows:
    # One reader per column set: its statements are cached with it.
    return NewestRows(columns, bound=Bound.THROUGH)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _day_start_from(snapshot: Any) -> Decimal | None:
    if snapshot is None:
        return None
    if isinstance(snapshot, str):
        snapshot = json.loads(snapshot)
    value = snapshot.get("portfolio", {}).get("day_start_equity")
    return None if value is None else Decimal(value)


async def _lock_signals(connection: AsyncConnection, keys: Sequence[str]) -> None:
    """On PostgreSQL, hold each signal's lock until the transaction ends: two workers handed the same
    redelivered signal serialise here. Taken in one fixed order, so overlapping batches cannot deadlock.
    (SQLite lets one writer in at a time anyway.)"""
    if connection.dialect.name != "postgresql":
        return
    await connection.execute(
        text(
            "SELECT pg_advisory_xact_lock(lock_key) FROM (SELECT DISTINCT hashtext(key) AS lock_key"
            " FROM unnest(CAST(:keys AS text[])) AS key ORDER BY lock_key) AS ordered"
        ),
        {"keys": [f"risk_decision:{key}" for key in keys]},
    )


def _decision_row(decision: DecisionRecord, signal_id: int | None) -> dict[str, Any]:
    return {
        "decision_id": decision.decision_id,
        "signal_event_id": decision.signal_event_id,
        "signal_id": signal_id,
        "strategy_name": decision.strategy_name,
        "symbol": decision.symbol,
        "side": decision.side,
        "quantity": to_quantity(decision.quantity),
        "price": None if decision.price is None else to_price(decision.price),
        "notional": None if decision.notional is None else to_cash(decision.notional),
        "decision": decision.decision,
        "reasons": list(decision.reasons),
        "portfolio_snapshot": decision.snapshot,
        "risk_parameters_version": decision.risk_parameters_version,
        "trading_state": decision.trading_state,
        "timestamp": decision.decided_at,
        "equity": None if decision.equity is None else to_cash(decision.equity),
    }
