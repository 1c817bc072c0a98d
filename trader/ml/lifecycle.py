"""After the gate: a shadow period against the backtest's band, then champion, then rollback.

The band is what the backtest says a live period should look like: the selected trial's mean
excess return per rebalance and its spread. Over n settled live periods the mean excess return
should lie within mean +- z * sd / sqrt(n). A shadow (signals recorded, nothing traded) that
stays at or above the band's floor for `periods` settled rebalances becomes the champion; one
below it is refused. A champion whose last `periods` settled rebalances fall below the floor,
or whose features drift (PSI above the limit), is rolled back. Above the band is not a failure:
the model did better than promised.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Band:
    mean: float  # backtest mean excess return per rebalance period
    deviation: float  # its standard deviation
    z: float = 1.96

    def bounds(self, periods: int) -> tuple[float, float]:
        half = self.z * self.deviation / math.sqrt(max(periods, 1))
        return self.mean - half, self.mean + half

    @classmethod
    def from_card(cls, card: Mapping[str, Any], z: float) -> Band:
        figures = card.get("figures", {})
        mean, deviation = figures.get("mean_excess_return"), figures.get("excess_return_std")
        if mean is None or deviation is None:
            raise ValueError("the model card has no backtest band (mean_excess_return, excess_return_std)")
        return cls(float(mean), float(deviation), z)


class Verdict(enum.StrEnum):
    WAIT = "wait"
    PROMOTE = "promote"
    REFUSE = "refuse"
    KEEP = "keep"
    ROLL_BACK = "roll_back"


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    reason: str
    figures: dict[str, Any]


def _live_figures(excess: Sequence[float], band: Band) -> dict[str, Any]:
    low, high = band.bounds(len(excess))
    mean = sum(excess) / len(excess) if excess else math.nan
    return {
        "periods": len(excess),
        "live_mean_excess": mean,
        "band_low": low,
        "band_high": high,
        "backtest_mean_excess": band.mean,
    }


def judge_shadow(excess: Sequence[float], band: Band, needed: int) -> Judgement:
    """`excess`: settled shadow periods' excess returns, oldest first."""
    if len(excess) < needed:
        figures = _live_figures(excess, band) if excess else {"periods": 0}
        return Judgement(Verdict.WAIT, f"{len(excess)} of {needed} shadow periods settled", figures)
    recent = list(excess[-needed:])
    figures = _live_figures(recent, band)
    if figures["live_mean_excess"] >= figures["band_low"]:
        return Judgement(
            Verdict.PROMOTE,
            f"shadow mean excess {figures['live_mean_excess']:.4f} over {needed} periods is within the "
            f"backtest band (floor {figures['band_low']:.4f})",
            figures,
        )
    return Judgement(
        Verdict.REFUSE,
        f"shadow mean excess {figures['live_mean_excess']:.4f} over {needed} periods is below the "
        f"backtest band (floor {figures['band_low']:.4f})",
        figures,
    )


def judge_champion(
    excess: Sequence[float], band: Band, window: int, drift: Mapping[str, float], psi_limit: float
) -> Judgement:
    """Roll back on leaving the band (last `window` settled periods) or on a feature's PSI."""
    drifted = {name: value for name, value in drift.items() if math.isfinite(value) and value > psi_limit}
    if drifted:
        worst = max(drifted, key=lambda name: drifted[name])
        return Judgement(
            Verdict.ROLL_BACK,
            f"feature drift: PSI of {worst} is {drifted[worst]:.3f} > {psi_limit}"
            + (f" (and {len(drifted) - 1} more)" if len(drifted) > 1 else ""),
            {"psi": dict(drift), "psi_limit": psi_limit},
        )
    if len(excess) < window:
        return Judgement(
            Verdict.KEEP, f"{len(excess)} of {window} live periods settled", {"periods": len(excess)}
        )
    figures = _live_figures(list(excess[-window:]), band)
    if figures["live_mean_excess"] < figures["band_low"]:
        return Judgement(
            Verdict.ROLL_BACK,
            f"live mean excess {figures['live_mean_excess']:.4f} over the last {window} periods left the "
            f"backtest band (floor {figures['band_low']:.4f})",
            figures,
        )
    return Judgement(Verdict.KEEP, "live results inside the backtest band", figures)
