"""Data integrity checks over the stored data, with a report a person can read.

Errors are data that is wrong (impossible prices, fills without an order, positions that do
not match their fills); warnings are data that may be right but deserves a look (a 50% jump,
a missing intraday bar, which Alpaca omits when nothing traded).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trader.adapters.db.tables import fills, market_data, positions, risk_decisions, signals, trades
from trader.core.market import Timeframe
from trader.core.sessions import Session
from trader.core.validation import find_gaps

ERROR = "error"
WARNING = "warning"
JUMP_THRESHOLD = 0.5
QUANTITY_TOLERANCE = Decimal("0.000001")
SessionsBetween = Callable[[date, date], "list[Session] | tuple[Session, ...]"]


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    severity: str
    count: int
    summary: str
    examples: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "count": self.count,
            "summary": self.summary,
            "examples": list(self.examples),
        }


@dataclass(slots=True)
class IntegrityReport:
    checked_at: datetime
    database: str
    checks: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked_at": self.checked_at.isoformat(),
            "database": self.database,
            "checks": self.checks,
            "counts": self.counts,
            "findings": [finding.as_dict() for finding in self.findings],
        }

    def render(self, *, detailed: bool) -> str:
        lines = [
            f"Data integrity report — {self.database} — {self.checked_at.isoformat(timespec='seconds')}",
            "rows: " + ", ".join(f"{table} {count}" for table, count in self.counts.items()),
            "",
        ]
        by_check: dict[str, list[Finding]] = defaultdict(list)
        for finding in self.findings:
            by_check[finding.check].append(finding)
        for check in self.checks:
            found = by_check.get(check, [])
            if not found:
                lines.append(f"  [ OK  ] {check}")
            for finding in found:
                label = "ERROR" if finding.severity == ERROR else "WARN "
                lines.append(f"  [{label}] {check}: {finding.summary}")
                if detailed:
                    lines.extend(f"            - {example}" for example in finding.examples)
        lines.append("")
        if self.ok:
            lines.append(f"RESULT: OK ({len(self.warnings)} warning(s))")
        else:
            lines.append(
                f"RESULT: FAILED — {len(self.errors)} problem(s), {len(self.warnings)} warning(s);"
                " run with --detailed to list the rows"
            )
        return "\n".join(lines)


class _Checker:
    def __init__(self, connection: AsyncConnection, report: IntegrityReport, example_limit: int) -> None:
        self.connection = connection
        self.report = report
        self.example_limit = example_limit

    async def rows(self, query: Select[Any]) -> list[Any]:
        return list((await self.connection.execute(query)).all())

    async def count(self, query: Select[Any]) -> int:
        counted = select(func.count()).select_from(query.subquery())
        return int((await self.connection.execute(counted)).scalar_one())

    async def flag(
        self,
        check: str,
        severity: str,
        query: Select[Any],
        summary: Callable[[int], str],
        describe: Callable[[Any], str],
    ) -> None:
        if check not in self.report.checks:
            self.report.checks.append(check)
        total = await self.count(query)
        if not total:
            return
        examples = await self.rows(query.limit(self.example_limit))
        self.report.findings.append(
            Finding(check, severity, total, summary(total), tuple(describe(row) for row in examples))
        )


def _price_is_impossible() -> Any:
    m = market_data.c
    return or_(
        m.high_price < m.low_price,
        m.close_price <= 0,
        m.open_price <= 0,
        m.low_price <= 0,
        m.open_price > m.high_price,
        m.open_price < m.low_price,
        m.close_price > m.high_price,
        m.close_price < m.low_price,
        m.volume < 0,
    )


async def _market_data_checks(checker: _Checker, now: datetime) -> None:
    m = market_data.c
    duplicates = (
        select(m.symbol, m.timestamp, func.count().label("copies"))
        .group_by(m.symbol, m.timestamp)
        .having(func.count() > 1)
    )
    await checker.flag(
        "duplicate_market_data",
        ERROR,
        duplicates,
        lambda n: f"{n} (symbol, timestamp) pair(s) stored more than once",
        lambda row: f"{row.symbol} {row.timestamp.isoformat()} ×{row.copies}",
    )
    impossible = select(
        m.id, m.symbol, m.timestamp, m.open_price, m.high_price, m.low_price, m.close_price, m.volume
    ).where(_price_is_impossible())
    await checker.flag(
        "ohlc_outliers",
        ERROR,
        impossible.order_by(m.timestamp.desc()),
        lambda n: (
            f"{n} bar(s) with impossible OHLC values (high < low, price <= 0, open/close outside the range)"
        ),
        lambda row: (
            f"id {row.id} {row.symbol} {row.timestamp.isoformat()} "
            f"O={row.open_price} H={row.high_price} L={row.low_price} C={row.close_price} V={row.volume}"
        ),
    )
    previous = func.lag(m.close_price).over(partition_by=(m.symbol, m.timeframe), order_by=m.timestamp)
    ordered = select(m.id, m.symbol, m.timestamp, m.close_price, previous.label("previous_close")).subquery()
    jumps = select(ordered).where(
        and_(
            ordered.c.previous_close > 0,
            or_(
                ordered.c.close_price > ordered.c.previous_close * (1 + JUMP_THRESHOLD),
                ordered.c.close_price < ordered.c.previous_close * (1 - JUMP_THRESHOLD),
            ),
        )
    )
    await checker.flag(
        "price_jumps",
        WARNING,
        jumps.order_by(ordered.c.timestamp.desc()),
        lambda n: (
            f"{n} bar(s) closing more than {JUMP_THRESHOLD:.0%} away from the previous close "
            "(a split not adjusted, or a bad print)"
        ),
        lambda row: (
            f"{row.symbol} {row.timestamp.isoformat()} close {row.close_price} after {row.previous_close}"
        ),
    )
    future = select(m.id, m.symbol, m.timestamp).where(m.timestamp > now + timedelta(days=1))
    await checker.flag(
        "future_timestamps",
        ERROR,
        future,
        lambda n: f"{n} bar(s) stamped more than a day in the future",
        lambda row: f"id {row.id} {row.symbol} {row.timestamp.isoformat()}",
    )


async def _gap_check(checker: _Checker, sessions_between: SessionsBetween) -> None:
    checker.report.checks.append("market_data_gaps")
    m = market_data.c
    series = (
        await checker.connection.execute(
            select(m.symbol, m.timeframe, func.min(m.timestamp), func.max(m.timestamp)).group_by(
                m.symbol, m.timeframe
            )
        )
    ).all()
    missing_sessions: list[str] = []
    missing_bars: list[str] = []
    missing_bar_count = 0
    missing_session_count = 0
    for symbol, timeframe_text, first, last in series:
        try:
            timeframe = Timeframe.parse(timeframe_text)
        except ValueError:
            continue
        try:
            sessions = [
                s
                for s in sessions_between(first.date(), last.date())
                if s.open_at >= first - timedelta(minutes=1) and s.open_at <= last
            ]
        except ValueError:
            continue  # outside the calendar's range: nothing to compare with
        stamps = await checker.connection.stream_scalars(
            select(m.timestamp).where(m.symbol == symbol, m.timeframe == timeframe_text)
        )
        stored = [stamp async for stamp in stamps if first <= stamp <= last]
        report = find_gaps(stored, sessions, timeframe)
        interior = [moment for moment in report.missing_at if first < moment < last]
        empty = [day for day in report.missing_sessions]
        if empty:
            missing_session_count += len(empty)
            missing_sessions.append(
                f"{symbol} {timeframe_text}: no bars on {len(empty)} session(s), e.g. "
                + ", ".join(day.isoformat() for day in empty[:5])
            )
        partial = [moment for moment in interior if moment.date() not in set(empty)]
        if partial and timeframe.is_intraday:
            missing_bar_count += len(partial)
            missing_bars.append(
                f"{symbol} {timeframe_text}: {len(partial)} bar(s) missing, first at {partial[0].isoformat()}"
            )
    if missing_sessions:
        checker.report.findings.append(
            Finding(
                "market_data_gaps",
                ERROR,
                missing_session_count,
                f"{missing_session_count} whole trading session(s) missing inside the stored range",
                tuple(missing_sessions[: checker.example_limit]),
            )
        )
    if missing_bars:
        checker.report.findings.append(
            Finding(
                "market_data_gaps",
                WARNING,
                missing_bar_count,
                f"{missing_bar_count} intraday bar(s) missing (normal for thinly traded minutes)",
                tuple(missing_bars[: checker.example_limit]),
            )
        )


async def _order_checks(checker: _Checker) -> None:
    t, f = trades.c, fills.c
    orphan_fills = (
        select(f.id, f.trade_id, f.symbol, f.execution_id)
        .select_from(fills.outerjoin(trades, f.trade_id == t.id))
        .where(t.id.is_(None))
    )
    await checker.flag(
        "orphaned_fills",
        ERROR,
        orphan_fills,
        lambda n: f"{n} fill(s) pointing at no order",
        lambda row: f"fill {row.id} ({row.execution_id}) {row.symbol} -> missing order {row.trade_id}",
    )
    mismatched = (
        select(f.id, f.trade_id, f.symbol, f.side, t.symbol.label("order_symbol"), t.side.label("order_side"))
        .select_from(fills.join(trades, f.trade_id == t.id))
        .where(or_(f.symbol != t.symbol, f.side != t.side))
    )
    await checker.flag(
        "fills_disagree_with_order",
        ERROR,
        mismatched,
        lambda n: f"{n} fill(s) whose symbol or side differs from their order",
        lambda row: (
            f"fill {row.id} {row.side} {row.symbol} on order {row.trade_id} "
            f"{row.order_side} {row.order_symbol}"
        ),
    )
    parent = trades.alias("parent")
    orphan_orders = (
        select(t.id, t.client_order_id, t.symbol, t.signal_id, t.risk_decision_id, t.parent_trade_id)
        .select_from(
            trades.outerjoin(signals, t.signal_id == signals.c.id)
            .outerjoin(risk_decisions, t.risk_decision_id == risk_decisions.c.id)
            .outerjoin(parent, t.parent_trade_id == parent.c.id)
        )
        .where(
            or_(
                and_(t.signal_id.is_not(None), signals.c.id.is_(None)),
                and_(t.risk_decision_id.is_not(None), risk_decisions.c.id.is_(None)),
                and_(t.parent_trade_id.is_not(None), parent.c.id.is_(None)),
            )
        )
    )
    await checker.flag(
        "orphaned_orders",
        ERROR,
        orphan_orders,
        lambda n: f"{n} order(s) referring to a signal, risk decision or parent order that does not exist",
        lambda row: (
            f"order {row.id} ({row.client_order_id}) {row.symbol}: signal={row.signal_id} "
            f"decision={row.risk_decision_id} parent={row.parent_trade_id}"
        ),
    )
    filled = select(f.trade_id, func.sum(f.quantity).label("fill_quantity")).group_by(f.trade_id).subquery()
    fill_quantity = func.coalesce(filled.c.fill_quantity, literal(0))
    disagreeing = (
        select(t.id, t.client_order_id, t.status, t.filled_quantity, fill_quantity.label("fill_quantity"))
        .select_from(trades.outerjoin(filled, filled.c.trade_id == t.id))
        .where(func.abs(t.filled_quantity - fill_quantity) > QUANTITY_TOLERANCE)
    )
    await checker.flag(
        "order_fill_totals",
        ERROR,
        disagreeing,
        lambda n: f"{n} order(s) whose filled_quantity differs from the sum of their fills",
        lambda row: (
            f"order {row.id} ({row.client_order_id}) {row.status}: "
            f"filled_quantity {row.filled_quantity}, fills sum to {row.fill_quantity}"
        ),
    )


async def _position_check(checker: _Checker) -> None:
    checker.report.checks.append("positions_match_fills")
    f, p = fills.c, positions.c
    signed = func.sum(case((f.side == "buy", f.quantity), else_=-f.quantity))
    net = {
        symbol: Decimal(str(total or 0))
        for symbol, total in (
            await checker.connection.execute(select(f.symbol, signed).group_by(f.symbol))
        ).all()
    }
    held = {
        symbol: Decimal(str(quantity))
        for symbol, quantity in (await checker.connection.execute(select(p.symbol, p.quantity))).all()
    }
    problems = []
    for symbol in sorted(set(net) | set(held)):
        expected = net.get(symbol, Decimal(0))
        actual = held.get(symbol, Decimal(0))
        if abs(expected - actual) > QUANTITY_TOLERANCE:
            problems.append(
                f"{symbol}: position {actual.normalize():f}, fills net to {expected.normalize():f}"
            )
    if problems:
        checker.report.findings.append(
            Finding(
                "positions_match_fills",
                ERROR,
                len(problems),
                f"{len(problems)} position(s) differ from the signed sum of their fills",
                tuple(problems[: checker.example_limit]),
            )
        )


async def run_integrity_checks(
    engine: AsyncEngine,
    *,
    database: str,
    now: datetime,
    sessions_between: SessionsBetween | None = None,
    example_limit: int = 10,
) -> IntegrityReport:
    """Run every check; `sessions_between` (a calendar) enables the gap check."""
    report = IntegrityReport(checked_at=now, database=database)
    async with engine.connect() as connection:
        for table in (market_data, trades, fills, positions):
            report.counts[table.name] = int(
                (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            )
        checker = _Checker(connection, report, example_limit)
        await _market_data_checks(checker, now)
        if sessions_between is not None:
            await _gap_check(checker, sessions_between)
        await _order_checks(checker)
        await _position_check(checker)
    return report
