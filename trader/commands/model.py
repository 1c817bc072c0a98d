"""`trader model train|promote|list|show`: the model registry from the command line.

Runs in process against the configured database (the services need not be up), with the same
training, registration and promotion rule as `POST /models/train` and the weekly scheduler job.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from trader.commands.ops import EnvironmentOption, JsonOption, console, errors, fail, settings_for
from trader.settings import Settings

app = typer.Typer(help="ML models: train on stored bars, promote, list the registry.", no_args_is_help=True)
T = TypeVar("T")
NameOption = Annotated[str, typer.Option("--name", help="registry name of the model")]


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from trader.adapters.db.engine import create_engine
    from trader.runtime.bootstrap import prepare_schema

    async def main() -> T:
        await prepare_schema(settings)
        engine = create_engine(settings.effective_database_url, pool_size=2)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _now() -> datetime:
    return datetime.now(UTC)


@app.command()
def train(
    name: NameOption = "gradient_boosting",
    symbols: Annotated[str | None, typer.Option(help="comma-separated (default: the watchlist)")] = None,
    horizon: Annotated[
        int | None,
        typer.Option(
            min=1, max=60, help="bars the trade is held (default 5; ranking: MODEL_HORIZON_SESSIONS)"
        ),
    ] = None,
    folds: Annotated[int, typer.Option(min=1, max=10, help="purged walk-forward folds")] = 4,
    max_bars: Annotated[
        int | None, typer.Option(help="newest stored bars per symbol (default MODEL_TRAINING_MAX_BARS)")
    ] = None,
    promote: Annotated[
        bool, typer.Option(help="promote the candidate when it beats the active model")
    ] = True,
    kind: Annotated[
        str, typer.Option(help="classifier (one symbol at a time) or ranking (cross-sectional, gated)")
    ] = "classifier",
    data: Annotated[
        str, typer.Option(help="ranking: database, or a bundled real data set: bokeh or sp500")
    ] = "database",
    trials: Annotated[
        int | None, typer.Option(min=2, max=500, help="ranking: search trials (MODEL_SEARCH_TRIALS)")
    ] = None,
    estimator: Annotated[
        str | None, typer.Option(help="ranking: lightgbm or sklearn (MODEL_ESTIMATOR)")
    ] = None,
    as_json: JsonOption = False,
    environment: EnvironmentOption = None,
) -> None:
    """Train a candidate and register it. classifier: purged walk-forward, promoted only if it beats
    the active. ranking: CPCV, search, DSR/PBO gate, then a shadow period before it may trade."""
    from trader.core.market import InvalidSymbolError, normalize_symbol
    from trader.ml.retraining import (
        TrainingOutcome,
        TrainingRequest,
        default_symbols,
        models_directory,
        train_candidate,
    )
    from trader.ml.training import TrainingConfig

    settings = settings_for(environment)
    try:
        chosen = (
            tuple(sorted({normalize_symbol(s) for s in symbols.split(",") if s.strip()})) if symbols else ()
        )
    except InvalidSymbolError as error:
        raise fail(str(error), 2) from None
    if kind == "ranking":
        from trader.commands.model_ranking import train_ranking

        name = "cross_sectional" if name == "gradient_boosting" else name
        train_ranking(
            settings,
            _run,
            name=name,
            data=data,
            symbols=chosen,
            horizon=horizon,
            trials=trials,
            estimator=estimator,
            as_json=as_json,
        )
        return
    if kind != "classifier":
        raise fail(f"unknown model kind {kind!r}; use classifier or ranking", 2)

    async def work(engine: Any) -> TrainingOutcome:
        try:
            request = TrainingRequest(
                symbols=chosen or await default_symbols(engine, settings.data_watchlist),
                name=name,
                max_bars=max_bars or settings.model_training_max_bars,
                config=TrainingConfig(horizon=horizon or 5, folds=folds),
                promote=promote,
                metric=settings.model_promotion_metric,
                min_improvement=settings.model_promotion_min_improvement,
            )
        except ValueError as error:
            raise fail(str(error), 2) from None
        with console.status("training") as status:
            return await train_candidate(
                engine, models_directory(settings.data_dir), request, _now, lambda step: status.update(step)
            )

    try:
        outcome = _run(settings, work)
    except ValueError as error:
        raise fail(f"training failed: {error}") from None
    if as_json:
        console.print_json(json.dumps(outcome.as_dict()))
        return
    candidate = outcome.candidate
    metric = settings.model_promotion_metric
    console.print(
        f"registered {candidate.name} v{candidate.version} ({candidate.status}): out-of-sample "
        f"{metric} {_number(candidate.metrics.get(metric))}, "
        f"{int(candidate.metrics.get('samples') or 0)} samples in {int(candidate.metrics.get('folds') or 0)} "
        f"folds, bars {candidate.training_start.date()}..{candidate.training_end.date()}"
    )
    verdict = "[green]promoted[/green]" if outcome.promoted else "[yellow]kept as candidate[/yellow]"
    console.print(f"  {verdict}: {outcome.decision.reason}")
    console.print(f"  artifact: {candidate.artifact_path}")
    for symbol, why in outcome.symbols_skipped.items():
        errors.print(f"[yellow]skipped {symbol}[/yellow]: {why}")


@app.command()
def promote(
    version: Annotated[int, typer.Argument(help="registry version to make active")],
    name: NameOption = "gradient_boosting",
    force: Annotated[
        bool, typer.Option("--force", help="promote even when it does not beat the active model")
    ] = False,
    environment: EnvironmentOption = None,
) -> None:
    """Make a registered version active when it beats the active model (or with --force)."""
    from trader.ml.retraining import promote_version

    settings = settings_for(environment)

    async def work(engine: Any) -> Any:
        return await promote_version(
            engine,
            name,
            version,
            _now(),
            metric=settings.model_promotion_metric,
            min_improvement=settings.model_promotion_min_improvement,
            force=force,
        )

    try:
        promoted, decision = _run(settings, work)
    except LookupError as error:
        raise fail(str(error).strip("'\""), 2) from None
    if promoted:
        note = "" if decision.promote else " (forced)"
        console.print(f"[green]{name} v{version} is now active{note}[/green]: {decision.reason}")
        return
    errors.print(f"[yellow]{name} v{version} not promoted[/yellow]: {decision.reason}")
    raise typer.Exit(1)


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.4f}"


@app.command("list")
def list_command(
    name: Annotated[str | None, typer.Option("--name", help="only this model")] = None,
    as_json: JsonOption = False,
    environment: EnvironmentOption = None,
) -> None:
    """The registry: versions, status, training window and out-of-sample metrics."""
    from trader.adapters.db.stores.models import ModelRegistryStore

    settings = settings_for(environment)

    async def work(engine: Any) -> list[Any]:
        return await ModelRegistryStore(engine).list(name)

    versions = _run(settings, work)
    if as_json:
        console.print_json(json.dumps([version.as_dict() for version in versions]))
        return
    if not versions:
        console.print("no models registered; train one with `trader model train`")
        return
    table = Table(title="model_registry")
    for column in ("name", "version", "status", "bars", "auc", "accuracy", "samples", "created", "promoted"):
        table.add_column(column)
    for version in versions:
        metrics = version.metrics
        table.add_row(
            version.name,
            str(version.version),
            version.status,
            f"{version.training_start.date()}..{version.training_end.date()}",
            _number(metrics.get("auc")),
            _number(metrics.get("accuracy")),
            str(int(metrics.get("samples") or 0)),
            version.created_at.isoformat(timespec="seconds") if version.created_at else "",
            version.promoted_at.isoformat(timespec="seconds") if version.promoted_at else "",
        )
    console.print(table)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="registry name of the model")],
    version: Annotated[
        int | None, typer.Option(help="default: the champion, else the newest version")
    ] = None,
    as_json: JsonOption = False,
    environment: EnvironmentOption = None,
) -> None:
    """The model card: data span, features, costs, CPCV, DSR, PBO, IC, shadow results and every step."""
    from trader.commands.model_ranking import print_card
    from trader.ml.model_card import model_card

    settings = settings_for(environment)

    async def work(engine: Any) -> dict[str, Any]:
        return await model_card(engine, name, version)

    try:
        card = _run(settings, work)
    except LookupError as error:
        raise fail(str(error).strip("'\""), 2) from None
    if as_json:
        console.print_json(json.dumps(card))
        return
    print_card(card["version"])
    for period in card["periods"][-10:]:
        console.print(
            f"  {period['role']} {period['session_at'][:10]}: {len(period['picks'])} picks, "
            f"excess {_number(period['excess'])}"
        )
    for event in card["events"]:
        console.print(f"  {event['at'][:19]} {event['event']}: {event['reason']}")
