"""Adjustment factors for provider bars: the raw series and the provider's adjusted series of the same
range, paired by timestamp, give each raw bar its factor (adjusted close / raw close).

Factors are NOT normalised to the newest bar of the fetch: a provider adjusts relative to its present
(a bar after the last corporate action has factor 1), so two fetches made between the same two actions
agree, whatever ranges they cover. A backfill of an old range is then consistent with recent bars.

When the adjusted series cannot be had or does not pair with the raw one, the raw bars keep factor 1
and the batch is counted and logged as unadjusted; a factor is never guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from trader.core.adjustments import derive_adjustment_factors
from trader.core.validation import BarCandidate

log = logging.getLogger(__name__)


class AdjustmentMismatchError(ValueError):
    """The adjusted series does not cover the raw bars (a bar missing or without a usable close)."""


def _usable(price: Decimal) -> bool:
    return price.is_finite() and price > 0


def attach_factors(raw: Sequence[BarCandidate], adjusted: Sequence[BarCandidate]) -> list[BarCandidate]:
    """The raw candidates carrying factor = adjusted close / raw close of the bar with the same timestamp.

    A raw bar whose own close is unusable keeps factor 1 (the validator rejects it anyway). A usable raw
    bar without a usable adjusted partner makes the whole batch unpairable: one bar at factor 1 among
    halved neighbours would be a spike, so the caller stores the batch raw instead.
    """
    adjusted_closes: dict[datetime, Decimal] = {}
    for candidate in adjusted:
        if candidate.timestamp in adjusted_closes and adjusted_closes[candidate.timestamp] != candidate.close:
            raise AdjustmentMismatchError(
                f"the adjusted series has two different bars at {candidate.timestamp.isoformat()}"
            )
        adjusted_closes[candidate.timestamp] = candidate.close
    usable = [index for index, candidate in enumerate(raw) if _usable(candidate.close)]
    for index in usable:
        partner = adjusted_closes.get(raw[index].timestamp)
        if partner is None:
            raise AdjustmentMismatchError(
                f"the adjusted series has no bar at {raw[index].timestamp.isoformat()}"
            )
        if not _usable(partner):
            raise AdjustmentMismatchError(
                f"the adjusted close at {raw[index].timestamp.isoformat()} is unusable: {partner}"
            )
    factors = derive_adjustment_factors(
        [raw[index].close for index in usable],
        [adjusted_closes[raw[index].timestamp] for index in usable],
        normalize_to_last=False,
    )
    by_index = dict(zip(usable, factors, strict=True))
    return [
        replace(candidate, adjustment_factor=by_index[index]) if index in by_index else candidate
        for index, candidate in enumerate(raw)
    ]


@dataclass(slots=True)
class AdjustmentStats:
    """How often a provider's adjusted series was had, and what went wrong when it was not."""

    adjusted_batches: int = 0
    unadjusted_batches: int = 0
    unadjusted_bars: int = 0
    last_problem: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "adjusted_batches": self.adjusted_batches,
            "unadjusted_batches": self.unadjusted_batches,
            "unadjusted_bars": self.unadjusted_bars,
            "last_problem": self.last_problem,
        }


def with_factors_or_raw(
    provider: str,
    symbol: str,
    raw: Sequence[BarCandidate],
    adjusted: Sequence[BarCandidate] | None,
    problem: str | None,
    stats: AdjustmentStats,
) -> tuple[list[BarCandidate], bool]:
    """Raw candidates with factors when `adjusted` pairs with them; else unchanged (factor 1), flagged.

    `adjusted` is None when the call for it failed, `problem` then says why. The flag says whether
    the factors are the provider's current ones (so older stored factors may be rescaled to them).
    """
    if not raw:
        return [], False
    if adjusted is not None:
        try:
            paired = attach_factors(raw, adjusted)
        except AdjustmentMismatchError as error:
            problem = str(error)
        else:
            stats.adjusted_batches += 1
            return paired, True
    stats.unadjusted_batches += 1
    stats.unadjusted_bars += len(raw)
    stats.last_problem = f"{symbol}: {problem}"
    log.warning(
        "%s: no adjusted series for %s %s..%s (%s); %d bars stored raw with factor 1",
        provider,
        symbol,
        raw[0].timestamp.isoformat(),
        raw[-1].timestamp.isoformat(),
        problem,
        len(raw),
    )
    return list(raw), False


class AdjustmentMetricsCollector(Collector):
    """Prometheus counters read from the providers' `adjustment_stats` at scrape time.

    Register on the data collector's registry:
    `registry.register(AdjustmentMetricsCollector(lambda: [slot.provider for slot in router.slots]))`.
    """

    def __init__(self, providers: Callable[[], Iterable[object]]) -> None:
        self._providers = providers

    def collect(self) -> Iterator[CounterMetricFamily]:
        batches = CounterMetricFamily(
            "market_data_unadjusted_batches",
            "Provider answers stored raw with factor 1 because the adjusted series failed or did not pair.",
            labels=["provider"],
        )
        bars = CounterMetricFamily(
            "market_data_unadjusted_bars",
            "Bars stored raw with factor 1 because the provider's adjusted series was not had.",
            labels=["provider"],
        )
        for provider in self._providers():
            stats = getattr(provider, "adjustment_stats", None)
            if isinstance(stats, AdjustmentStats):
                name = str(getattr(provider, "name", type(provider).__name__))
                batches.add_metric([name], stats.unadjusted_batches)
                bars.add_metric([name], stats.unadjusted_bars)
        yield batches
        yield bars

    def describe(self) -> Iterator[CounterMetricFamily]:
        # Described empty so registering never calls `collect` (the providers may not exist yet).
        return iter(())
