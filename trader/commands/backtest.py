"""`trader backtest` and `trader optimize`: run strategies over stored or sample bars.

    trader backtest sma_crossover -p fast_window=10 -p slow_window=30 --symbols AAPL,MSFT \
        --report reports/sma.html --check-lookahead
    trader optimize sma_crossover --grid fast_window=5,10,20 --grid slow_window=30,50 --symbols AAPL
    trader optimize sma_crossover --grid fast_window=5,10 --grid slow_window=30,60 --walk-forward 500:250
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from trader.core.strategies.catalog import InvalidParametersError, StrategyCatalog, UnknownStrategyTypeError
from trader.core.strategies.series import BarSeries

# Plain functions, registered as top-level commands: `app.command("backtest")(backtest)` in trader/cli.py.
console = Console()
errors = Console(stderr=True)

ParamOption = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="parameter as name=value (JSON value), repeatable")
]
SymbolsOption = Annotated[str, typer.Option(help="comma-separated symbols")]
DataOption = Annotated[
    str, typer.Option(help="'sample' (bundled real daily bars) or 'database' (market_data)")
]
StrategiesDirOption = Annotated[Path | None, typer.Option(help="folder of user strategy files")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_parameters(pairs: Sequence[str] | None) -> dict[str, object]:
    parameters: dict[str, object] = {}
    for pair in pairs or []:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise ValueError(f"parameter {pair!r} is not name=value")
        parameters[name.strip()] = _value(value.strip())
    return parameters


def parse_grid(pairs: Sequence[str] | None) -> dict[str, list[object]]:
    space: dict[str, list[object]] = {}
    for pair in pairs or []:
        name, separator, values = pair.partition("=")
        if not separator or not values:
            raise ValueError(f"grid {pair!r} is not name=v1,v2,...")
        space[name.strip()] = [_value(v.strip()) for v in values.split(",") if v.strip()]
    return space


def _catalog(strategies_dir: Path | None) -> StrategyCatalog:
    from trader.adapters.strategy_loader import discover_strategies

    catalog, report = discover_strategies(strategies_dir)
    for problem in report.problems:
        errors.print(f"[yellow]refused[/yellow] {problem.source}: {problem.message}")
    return catalog


def _parse_day(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def load_data(source: str, symbols: Sequence[str], start: str | None, end: str | None) -> list[BarSeries]:
    from trader.backtest.align import align_series

    begin, finish = _parse_day(start), _parse_day(end)
    if source == "sample":
        from trader.adapters.calendar import XNYSCalendar
        from trader.adapters.replay import load_bokeh_bars

        loaded = load_bokeh_bars(XNYSCalendar(), symbols)
        by_symbol: dict[str, list[Any]] = {symbol: [] for symbol in symbols}
        for bar in loaded.accepted:
            if (begin is None or bar.timestamp >= begin) and (finish is None or bar.timestamp < finish):
                by_symbol[bar.symbol].append(bar)
    elif source == "database":
        from trader.adapters.db.engine import create_engine
        from trader.adapters.db.stores.market_data import MarketDataStore
        from trader.settings import load_settings

        async def read() -> dict[str, list[Any]]:
            engine = create_engine(load_settings().effective_database_url)
            try:
                store = MarketDataStore(engine)
                return {symbol: await store.bars(symbol, start=begin, end=finish) for symbol in symbols}
            finally:
                await engine.dispose()

        by_symbol = asyncio.run(read())
    else:
        raise ValueError(f"unknown data source {source!r}; use sample or database")
    missing = [symbol for symbol, bars in by_symbol.items() if len(bars) < 2]
    if missing:
        raise ValueError(f"no bars for {', '.join(missing)} in {source}")
    return align_series([BarSeries.from_bars(bars) for bars in by_symbol.values()])


def _metrics_table(title: str, metrics: Any, benchmark: Any = None) -> Table:
    """The metrics, beside buy-and-hold's of the same symbols and costs when `benchmark` is given."""
    from trader.backtest.report import metric_rows

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("strategy" if benchmark is not None else "value", justify="right")
    if benchmark is None:
        for name, value in metric_rows(metrics):
            table.add_row(name, value)
        return table
    table.add_column("buy and hold", justify="right")
    for (name, value), (_, held) in zip(metric_rows(metrics), metric_rows(benchmark), strict=True):
        table.add_row(name, value, held)
    return table


def fill_model_for(slippage_bps: float | None, commission_per_share: float | None) -> Any:
    """The system's costs (settings), with the command line's slippage and commission where given."""
    from trader.settings import load_settings

    return load_settings().fill_model(
        slippage_bps=None if slippage_bps is None else Decimal(str(slippage_bps)),
        commission_per_share=None if commission_per_share is None else Decimal(str(commission_per_share)),
    )


def _costs_line(model: Any) -> str:
    def plain(value: Decimal) -> str:
        return format(value.normalize(), "f")

    fees = model.fees
    return (
        f"costs: slippage {plain(model.slippage.basis_points)} bps, "
        f"commission {plain(model.commission.per_share)}/share, SEC fee {plain(fees.sec_fee_rate)}/$ sold, "
        f"FINRA TAF {plain(fees.taf_per_share)}/share sold (max {fees.taf_max_per_trade}/trade)"
    )


def backtest(
    strategy_type: Annotated[str, typer.Argument(help="strategy type, e.g. sma_crossover")],
    param: ParamOption = None,
    symbols: SymbolsOption = "AAPL",
    data: DataOption = "sample",
    start: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="day after the last, YYYY-MM-DD")] = None,
    cash: Annotated[float, typer.Option(help="initial cash")] = 100_000.0,
    slippage_bps: Annotated[
        float | None, typer.Option(help="slippage in basis points [default: SIMULATED_SLIPPAGE_BPS]")
    ] = None,
    commission_per_share: Annotated[
        float | None,
        typer.Option(help="commission per share [default: SIMULATED_COMMISSION_PER_SHARE]"),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="write the HTML report here")] = None,
    check_lookahead: Annotated[
        bool, typer.Option("--check-lookahead", help="re-run on truncated histories; fail on changed signals")
    ] = False,
    strategies_dir: StrategiesDirOption = None,
    through_risk: Annotated[
        bool,
        typer.Option(
            "--through-risk",
            help="replay the sample bars (--data database: the bars stored in market_data, daily bars "
            "aggregated from stored minute bars, e.g. a paper session's) through the risk manager's "
            "judgement and the simulated broker with the system's settings (RISK_*, SIMULATED_*, "
            "REPLAY_START as --start); print orders, fills and final equity",
        ),
    ] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="with --through-risk: write the orders and fills here")
    ] = None,
    llm_replay_only: Annotated[
        bool,
        typer.Option(
            "--llm-replay-only",
            help="the llm strategy: never ask a model; prompts never answered before get no vote",
        ),
    ] = False,
    history_until: Annotated[
        str | None,
        typer.Option(
            help="with --through-risk: bars closed by this ISO moment are history, not replayed (default: "
            "the first open on or after --start; a running system's collector logs where its replay began)"
        ),
    ] = None,
) -> None:
    """Backtest one strategy; print its metrics and write an HTML report with equity and drawdown."""
    if strategy_type == "llm":
        from trader.commands.llm_backtest import backtest_llm

        # Asked bar by bar, the llm strategy has no vectorised form: it always runs through risk.
        backtest_llm(param, symbols, start, end, json_path, history_until, replay_only=llm_replay_only)
        return
    if through_risk:
        _backtest_through_risk(
            strategy_type, param, symbols, start, end, strategies_dir, json_path, history_until, data
        )
        return
    from trader.backtest.engine import BacktestConfig, run_backtest
    from trader.backtest.report import render_report
    from trader.core.lookahead import check_lookahead as run_lookahead_check

    catalog = _catalog(strategies_dir)
    try:
        strategy = catalog.build(strategy_type, parse_parameters(param))
        series = load_data(data, [s.strip().upper() for s in symbols.split(",") if s.strip()], start, end)
    except (UnknownStrategyTypeError, InvalidParametersError, ValueError) as error:
        raise _fail(str(error)) from None
    config = BacktestConfig(
        initial_cash=Decimal(str(cash)), fill_model=fill_model_for(slippage_bps, commission_per_share)
    )
    result = run_backtest(strategy, series, config)
    console.print(
        _metrics_table(
            f"{strategy.name} {dict(strategy.parameters())}", result.metrics, result.buy_and_hold().metrics
        )
    )
    console.print(_costs_line(config.fill_model), highlight=False)
    lookahead = None
    if check_lookahead:
        reports = [run_lookahead_check(strategy, one) for one in series]
        lookahead = next((r for r in reports if not r.passed), reports[0])
        if lookahead.passed:
            console.print(
                f"[green]look-ahead check passed[/green] on {len(lookahead.checked_lengths)} truncations"
            )
        else:
            first = lookahead.violations[0]
            errors.print(
                f"[red]look-ahead check FAILED[/red]: {len(lookahead.violations)} signals change, first "
                f"{first.signal} at bar {first.bar_index} when cut to {first.truncated_length} bars"
            )
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        page = render_report(
            result,
            title=f"Backtest: {strategy.name}",
            parameters=strategy.parameters(),
            lookahead=lookahead,
            generated_at=datetime.now(UTC),
            series=series,
            strategy=strategy,
        )
        report.write_text(page, encoding="utf-8")
        console.print(f"report written to {report}")
    if lookahead is not None and not lookahead.passed:
        raise typer.Exit(1)


def optimize(
    strategy_type: Annotated[str, typer.Argument(help="strategy type, e.g. sma_crossover")],
    grid_values: Annotated[
        list[str] | None, typer.Option("--grid", "-g", help="name=v1,v2,... (repeatable)")
    ] = None,
    random_count: Annotated[
        int, typer.Option("--random", help="sample this many points of the grid instead")
    ] = 0,
    objective: Annotated[str, typer.Option(help="metric to maximise")] = "sharpe_ratio",
    symbols: SymbolsOption = "AAPL",
    data: DataOption = "sample",
    start: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="day after the last, YYYY-MM-DD")] = None,
    processes: Annotated[int, typer.Option(help="worker processes (0: one per core)")] = 0,
    cluster: Annotated[
        str | None,
        typer.Option(envvar="OPTIMIZE_CLUSTER", help="Dask scheduler address (tcp://host:8786) to run on"),
    ] = None,
    walk_forward: Annotated[
        str | None, typer.Option("--walk-forward", help="TRAIN:TEST bars for walk-forward optimisation")
    ] = None,
    top: Annotated[int, typer.Option(help="rows to print")] = 10,
    seed: Annotated[int, typer.Option(help="seed of the random search")] = 0,
    strategies_dir: StrategiesDirOption = None,
) -> None:
    """Search parameters in parallel with a progress bar; optionally walk forward, out of sample."""
    from trader.backtest.engine import BacktestConfig
    from trader.backtest.optimize import cluster_executor, grid, random_draws, search
    from trader.backtest.walk_forward import walk_forward as run_walk_forward

    # The system's costs (slippage, commission, regulatory fees), as for `trader backtest`.
    config = BacktestConfig(fill_model=fill_model_for(None, None))

    catalog = _catalog(strategies_dir)
    try:
        catalog.get(strategy_type)
        space = parse_grid(grid_values)
        candidates = random_draws(space, random_count, seed) if random_count else grid(space)
        series = load_data(data, [s.strip().upper() for s in symbols.split(",") if s.strip()], start, end)
    except (UnknownStrategyTypeError, ValueError) as error:
        raise _fail(str(error)) from None
    workers = processes or None
    with ExitStack() as stack, Progress(console=errors, transient=True) as progress:
        try:
            executor = stack.enter_context(cluster_executor(cluster)) if cluster else None
        except ValueError as error:
            raise _fail(str(error)) from None
        task = progress.add_task("optimising", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            if walk_forward:
                train_text, _, test_text = walk_forward.partition(":")
                outcome = run_walk_forward(
                    strategy_type,
                    candidates,
                    series,
                    train_bars=int(train_text),
                    test_bars=int(test_text),
                    objective=objective,
                    processes=workers,
                    catalog=catalog,
                    on_progress=advance,
                    executor=executor,
                    config=config,
                )
            else:
                result = search(
                    strategy_type,
                    candidates,
                    series,
                    objective=objective,
                    processes=workers,
                    catalog=catalog,
                    on_progress=advance,
                    executor=executor,
                    config=config,
                )
        except ValueError as error:
            raise _fail(str(error)) from None
    if walk_forward:
        table = Table(title=f"walk-forward {strategy_type}: out-of-sample windows")
        for column in (
            "test window",
            "parameters",
            f"in-sample {objective}",
            f"OOS {objective}",
            "OOS return",
        ):
            table.add_column(column)
        for window in outcome.windows:
            table.add_row(
                f"{window.test_start}-{window.test_stop}",
                json.dumps(dict(window.parameters)),
                _number(window.in_sample_objective),
                _number(window.out_of_sample[objective]),
                f"{window.out_of_sample['total_return'] * 100:.2f}%",
            )
        console.print(table)
        console.print(_metrics_table("stitched out-of-sample", outcome.metrics))
        return
    table = Table(
        title=f"{strategy_type}: best {min(top, len(result.rows))} of {len(result.rows)} by {objective}"
    )
    table.add_column("parameters")
    for column in (objective, "total_return", "max_drawdown", "trade_count"):
        table.add_column(column, justify="right")
    for row in result.rows[:top]:
        table.add_row(
            json.dumps(dict(row.parameters)),
            _number(row.objective),
            _number(row.metrics["total_return"]),
            _number(row.metrics["max_drawdown"]),
            str(int(row.metrics["trade_count"])),
        )
    console.print(table)
    if result.skipped:
        errors.print(f"{len(result.skipped)} invalid combinations skipped, e.g. {result.skipped[0][1]}")


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.4f}"


def run_through_risk_with_settings(
    settings: Any,
    strategy: Any,
    symbols: Sequence[str],
    first_day: date,
    last_day: date,
    *,
    replay_from: datetime | None = None,
    protection: Any = None,
    data: str = "sample",
) -> Any:
    """Replay the sample bars of `symbols` (or, with data="database", the bars stored in market_data,
    aggregated into daily bars as the strategy engine reads them: a live session's own bars) through
    the risk manager and the simulated broker, built from `settings` as the running system builds
    them, from the replay start (`first_day`, or the moment `replay_from` up to which bars are
    history) to the close of `last_day`'s session."""
    from trader.adapters.calendar import XNYSCalendar
    from trader.adapters.marketdata.sample import load_sample_bars
    from trader.adapters.sector_map import ensure_sector_map
    from trader.adapters.sim_broker import SimulatedBroker
    from trader.backtest.through_risk import SteppedClock, ThroughRiskConfig, run_through_risk
    from trader.core.protective import ProtectiveFractions
    from trader.core.risk.limits import limits_from_environment
    from trader.runtime.brokers import build_broker
    from trader.services.risk_manager.app import breaker_policy, limits_environment, sizing_settings

    calendar = XNYSCalendar()
    start_at = replay_from or calendar.next_open(datetime.combine(first_day, time(0, 0), tzinfo=UTC))
    last_session = calendar.previous_session(last_day + timedelta(days=1))
    clock = SteppedClock(start_at)
    broker = build_broker(settings, clock)
    if not isinstance(broker, SimulatedBroker):
        raise ValueError("--through-risk needs the simulated broker (BROKER=simulated)")
    if data == "database":
        loaded = _stored_daily_bars(
            settings,
            calendar,
            symbols,
            datetime.combine(first_day, time(0, 0), tzinfo=UTC),
            last_session.close_at,
        )
    elif data == "sample":
        loaded = load_sample_bars(calendar, symbols)
    else:
        raise ValueError(f"unknown data source {data!r}; use sample or database")
    missing = sorted(set(symbols) - set(loaded))
    if missing:
        raise ValueError(f"no {data} data for {', '.join(missing)}")
    config = ThroughRiskConfig(
        strategy=strategy,
        symbols=tuple(symbols),
        replay_from=start_at,
        replay_until=last_session.close_at,
        starting_cash=settings.simulated_starting_cash,
        limits=limits_from_environment(limits_environment(settings)),
        sizing=sizing_settings(settings),
        sectors=ensure_sector_map(settings.risk_sector_map_path),
        risk_lookback_bars=settings.risk_lookback_bars,
        breakers=breaker_policy(settings),
        protection=protection or ProtectiveFractions(),
    )
    bars = [bar for series in loaded.values() for bar in series]
    return run_through_risk(config, bars, broker=broker, clock=clock, calendar=calendar)


def _stored_daily_bars(
    settings: Any, calendar: Any, symbols: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[Any]]:
    """The daily bars of `symbols` from market_data: stored as they are when the base timeframe is
    1day, else aggregated from the stored base bars along the sessions (as the strategy engine and the
    collector build the daily bar they announce at the close)."""
    from trader.adapters.db.engine import create_engine
    from trader.adapters.db.stores.market_data import MarketDataStore
    from trader.core.aggregation import aggregate_bars
    from trader.core.market import Timeframe
    from trader.services.common.timeframes import base_timeframe

    base = base_timeframe(settings)

    async def read() -> dict[str, list[Any]]:
        engine = create_engine(settings.effective_database_url)
        try:
            store = MarketDataStore(engine)
            loaded = {}
            for symbol in symbols:
                bars = await store.bars(symbol, start=start, end=end, timeframe=base)
                daily = bars if base is Timeframe.DAY1 else aggregate_bars(bars, Timeframe.DAY1, calendar)
                if daily:
                    loaded[symbol] = daily
            return loaded
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _backtest_through_risk(
    strategy_type: str,
    param: Sequence[str] | None,
    symbols: str,
    start: str | None,
    end: str | None,
    strategies_dir: Path | None,
    json_path: Path | None,
    history_until: str | None = None,
    data: str = "sample",
) -> None:
    from trader.backtest.through_risk import result_as_dict
    from trader.core.protective import ProtectiveFractions
    from trader.settings import load_settings

    settings = load_settings()
    catalog = _catalog(strategies_dir)
    wanted = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    try:
        parameters = parse_parameters(param)
        strategy = catalog.build(strategy_type, parameters)
        first_day = date.fromisoformat(start) if start else settings.replay_start
        if end is None:
            raise ValueError("--through-risk needs --end (the day after the last session replayed)")
        last_day = date.fromisoformat(end) - timedelta(days=1)
        replay_from = None if history_until is None else datetime.fromisoformat(history_until).astimezone(UTC)
        result = run_through_risk_with_settings(
            settings,
            strategy,
            wanted,
            first_day,
            last_day,
            replay_from=replay_from,
            protection=ProtectiveFractions.from_parameters(parameters),
            data=data,
        )
    except (UnknownStrategyTypeError, InvalidParametersError, ValueError) as error:
        raise _fail(str(error)) from None
    print_through_risk(result)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result_as_dict(result), indent=2), encoding="utf-8")
        console.print(f"orders and fills written to {json_path}")


def print_through_risk(result: Any) -> None:
    """The orders, fills and final books of a through-risk run, as tables."""
    orders = Table(
        title=f"orders through the risk manager ({result.approved} approved, {result.denied} denied)"
    )
    for column in ("signal", "symbol", "side", "quantity", "decision", "broker", "reasons"):
        orders.add_column(column)
    for order in result.orders:
        orders.add_row(
            order.signal_bar_at.date().isoformat(),
            order.symbol,
            order.side,
            format(order.quantity, "f"),
            order.decision,
            order.broker_message or order.broker_status or "",
            "; ".join(order.reasons),
        )
    console.print(orders)
    fills = Table(title=f"fills ({len(result.fills)})")
    for column in ("filled at", "symbol", "side", "quantity", "price", "commission"):
        fills.add_column(column)
    for fill in result.fills:
        fills.add_row(
            fill.filled_at.isoformat(),
            fill.symbol,
            fill.side,
            format(fill.quantity, "f"),
            format(fill.price, "f"),
            format(fill.commission, "f"),
        )
    console.print(fills)
    held = ", ".join(f"{symbol} {quantity}" for symbol, quantity in result.positions.items()) or "none"
    console.print(
        f"{result.sessions} sessions, {result.signals} signals; final cash {result.cash}, positions {held}; "
        f"final equity {result.equity} (trading state {result.trading_state})"
    )
