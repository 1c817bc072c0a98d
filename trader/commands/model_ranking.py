"""`trader model train --kind ranking` and `trader model show`: cross-sectional models and their cards.

Training reads the universe from the database (default), or straight from a bundled real data
set (`--data bokeh` or `--data sp500`, nothing to import first), and registers the version with
its figures whatever they are: a refusal by the gate is a result, printed like a pass.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from trader.commands.ops import console, errors, fail
from trader.core.strategies.series import BarSeries
from trader.settings import Settings

DATA_SOURCES = ("database", "bokeh", "sp500")


def bundled_universe(source: str, symbols: tuple[str, ...]) -> tuple[list[BarSeries], dict[str, str]]:
    """Bars of a bundled data set (validated; rejected rows stay out) and the S&P 500 sector map."""
    from trader.adapters.calendar import XNYSCalendar
    from trader.adapters.replay import load_bokeh_bars, load_sector_map, load_sp500_bars

    loader = load_bokeh_bars if source == "bokeh" else load_sp500_bars
    loaded = loader(XNYSCalendar(), symbols or None)
    by_symbol: dict[str, list[Any]] = defaultdict(list)
    for bar in loaded.accepted:
        by_symbol[bar.symbol].append(bar)
    sectors = {symbol: info.sector for symbol, info in load_sector_map().items()}
    return [BarSeries.from_bars(bars) for _, bars in sorted(by_symbol.items())], sectors


def train_ranking(
    settings: Settings,
    run: Any,
    *,
    name: str,
    data: str,
    symbols: tuple[str, ...],
    horizon: int | None,
    trials: int | None,
    estimator: str | None,
    as_json: bool,
) -> None:
    from trader.adapters.sector_map import ensure_sector_map
    from trader.ml.ranking_retraining import (
        RankingOutcome,
        RankingRequest,
        load_universe,
        train_ranking_candidate,
    )
    from trader.ml.ranking_settings import gate_thresholds_from, ranking_config_from
    from trader.ml.retraining import default_symbols, models_directory

    if data not in DATA_SOURCES:
        raise fail(f"unknown data source {data!r}; use one of {', '.join(DATA_SOURCES)}", 2)
    request = RankingRequest(
        name=name,
        config=ranking_config_from(settings, horizon=horizon, trials=trials, estimator=estimator),
        thresholds=gate_thresholds_from(settings),
        symbols_named=bool(symbols),
    )

    async def work(engine: Any) -> RankingOutcome:
        if data == "database":
            universe = symbols or await default_symbols(engine, settings.data_watchlist)
            series = await load_universe(
                engine, universe, datetime.now(UTC), settings.model_ranking_history_sessions
            )
            sectors = dict(ensure_sector_map(settings.risk_sector_map_path))
        else:
            series, sectors = bundled_universe(data, symbols)
        with console.status("training") as status:
            return await train_ranking_candidate(
                engine,
                models_directory(settings.data_dir),
                series,
                sectors,
                request,
                lambda: datetime.now(UTC),
                progress=lambda step: status.update(step),
            )

    try:
        outcome = run(settings, work)
    except ValueError as error:
        raise fail(f"training refused: {error}; no model was registered", 2) from None
    if as_json:
        console.print_json(json.dumps(outcome.as_dict()))
        return
    print_card(outcome.version.as_dict())
    for symbol, why in outcome.symbols_left_out.items():
        errors.print(f"[yellow]left out {symbol}[/yellow]: {why}")


def _figure(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def print_card(version: dict[str, Any]) -> None:
    """The model card as text: data, labels, costs, validation, figures beside buy-and-hold, gate."""
    card = version.get("card") or {}
    figures, data = card.get("figures", {}), card.get("data", {})
    kind = card.get("kind", version.get("kind"))
    console.print(f"[bold]{version['name']} v{version['version']}[/bold] ({version['status']}, {kind})")
    if not card:
        console.print(f"  metrics: {version.get('metrics')}")
        return
    console.print(
        f"  data: {data.get('symbols')} symbols, {data.get('sessions')} sessions "
        f"{str(data.get('first_session'))[:10]}..{str(data.get('last_session'))[:10]}, "
        f"{data.get('samples')} samples, warm-up {data.get('warmup_sessions')} sessions"
    )
    labels, costs, validation = card.get("labels", {}), card.get("costs", {}), card.get("validation", {})
    console.print(
        f"  labels: horizon {labels.get('horizon')} sessions; in at the {labels.get('entry')}; "
        f"out at the {labels.get('exit')}"
    )
    console.print(
        f"  costs: slippage {costs.get('slippage_bps')} bps, "
        f"commission {costs.get('commission_per_share')}/share; "
        f"round trip {_figure(costs.get('round_trip_cost'), 5)}"
    )
    console.print(
        f"  validation: CPCV {validation.get('groups')} groups, {validation.get('test_groups')} test "
        f"({validation.get('splits')} splits, {validation.get('paths')} paths), embargo "
        f"{validation.get('embargo_sessions')} sessions; search {card.get('search', {}).get('trials')} trials"
    )
    console.print(f"  features: {', '.join(card.get('features', []))}")
    console.print(
        f"  out of sample, net of costs: median Sharpe {_figure(figures.get('median_sharpe_annual'))} a year "
        f"vs buy-and-hold {_figure(figures.get('buy_and_hold_sharpe_annual'))}; excess Sharpe "
        f"{_figure(figures.get('median_excess_sharpe_annual'))} a year; total return (median path) "
        f"{_figure(figures.get('total_return_median_path'), 4)} vs buy-and-hold "
        f"{_figure(figures.get('buy_and_hold_total_return'), 4)}"
    )
    console.print(
        f"  DSR {_figure(figures.get('deflated_sharpe'))} "
        f"(alone: PSR {_figure(figures.get('probabilistic_sharpe'))}), "
        f"PBO {_figure(figures.get('pbo'))}, rank IC {_figure(figures.get('ic_mean'), 4)} "
        f"(sd {_figure(figures.get('ic_std'), 4)}, IR {_figure(figures.get('ic_information_ratio'))}, "
        f"{figures.get('ic_sessions')} sessions), {figures.get('periods')} rebalances"
    )
    gate = card.get("gate", {})
    verdict = "[green]passed[/green]" if gate.get("passed") else "[yellow]refused[/yellow]"
    console.print(f"  gate {verdict}: {gate.get('reason')}")
