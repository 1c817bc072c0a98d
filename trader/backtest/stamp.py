"""Run stamps: what a backtest ran on and with, so a result can be reproduced and checked."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trader.core.strategies.series import BarSeries

# The sources whose change can change a result; their digest is part of the code version.
_RESULT_SOURCES = (
    "core/fills.py",
    "core/indicators.py",
    "core/money.py",
    "core/strategies",
    "backtest",
)


@dataclass(frozen=True, slots=True)
class RunStamp:
    run_id: str  # digest of everything below: equal ids mean the same inputs and code
    data_hash: str
    strategy_name: str
    parameters: str  # canonical JSON of strategy parameters and backtest configuration
    code_version: str
    seed: int


class ReproductionMismatchError(ValueError):
    """A re-run's inputs differ from the stamp it claims to reproduce."""


def hash_bar_data(series_list: Sequence[BarSeries]) -> str:
    digest = hashlib.sha256()
    for series in series_list:
        digest.update(series.symbol.encode())
        digest.update(len(series).to_bytes(8, "little"))
        for column in (
            series.timestamps_ns,
            series.open,
            series.high,
            series.low,
            series.close,
            series.volume,
        ):
            # Little-endian, contiguous bytes: a no-op view for the usual arrays, so no copy.
            digest.update(np.ascontiguousarray(column, dtype=column.dtype.newbyteorder("<")).data)
    return digest.hexdigest()


@functools.cache
def code_version() -> str:
    """Package version plus a digest of the sources that compute results."""
    try:
        version = importlib.metadata.version("full-ai-trader")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for relative in _RESULT_SOURCES:
        target = root / relative
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for path in files:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return f"{version}+{digest.hexdigest()[:16]}"


def stamp_run(
    series_list: Sequence[BarSeries],
    *,
    strategy_name: str,
    parameters: Mapping[str, object],
    config: Mapping[str, object],
    seed: int,
) -> RunStamp:
    canonical = json.dumps(
        {"strategy": dict(parameters), "backtest": dict(config)}, sort_keys=True, separators=(",", ":")
    )
    data_hash = hash_bar_data(series_list)
    version = code_version()
    run_id = hashlib.sha256(
        "\n".join((data_hash, strategy_name, canonical, version, str(seed))).encode()
    ).hexdigest()[:32]
    return RunStamp(
        run_id=run_id,
        data_hash=data_hash,
        strategy_name=strategy_name,
        parameters=canonical,
        code_version=version,
        seed=seed,
    )


def check_reproduction(original: RunStamp, rerun: RunStamp) -> None:
    """Raise with the differing inputs if `rerun` did not run on what `original` ran on."""
    differences = [
        name
        for name in ("data_hash", "strategy_name", "parameters", "code_version", "seed")
        if getattr(original, name) != getattr(rerun, name)
    ]
    if differences:
        raise ReproductionMismatchError(
            f"the re-run differs from run {original.run_id} in: {', '.join(differences)}"
        )
