"""The gate a candidate passes before it may even shadow: figures against thresholds, each check named.

Every figure is of excess returns: the strategy's net period returns minus buy-and-hold of the
same universe over the same periods. A candidate passes when its deflated Sharpe ratio (over
every trial of its search) reaches `min_dsr`, its probability of backtest overfitting is at most
`max_pbo`, its median out-of-sample excess Sharpe ratio is positive (it beats buy-and-hold after
costs; required unless switched off), and,
when there is a champion of the same name (hence the same horizon), it beats the champion's
parameters refitted on the very same CPCV splits by more than `min_improvement`. An undefined
figure fails its check: a model that cannot be measured is not promoted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class GateThresholds:
    min_dsr: float = 0.95
    max_pbo: float = 0.5
    beat_buy_and_hold: bool = True
    min_improvement: float = 0.0  # per-period Sharpe ratio over the champion's, same splits


@dataclass(frozen=True, slots=True)
class GateFigures:
    deflated_sharpe: float
    overfitting_probability: float
    median_sharpe: float  # per-period excess Sharpe ratio, median over the CPCV paths
    champion_sharpe: float | None  # the champion's parameters on the same splits; None without one


@dataclass(frozen=True, slots=True)
class GateCheck:
    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class GateDecision:
    checks: tuple[GateCheck, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def reason(self) -> str:
        failed = [check.detail for check in self.checks if not check.passed]
        if failed:
            return "refused: " + "; ".join(failed)
        return "passed: " + "; ".join(check.detail for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reason": self.reason,
            "checks": [check.as_dict() for check in self.checks],
        }


def _at_least(name: str, value: float, threshold: float, label: str) -> GateCheck:
    if not math.isfinite(value):
        return GateCheck(name, False, f"{label} could not be measured")
    passed = value >= threshold
    return GateCheck(name, passed, f"{label} {value:.3f} {'>=' if passed else '<'} {threshold}")


def decide_gate(figures: GateFigures, thresholds: GateThresholds) -> GateDecision:
    checks = [_at_least("deflated_sharpe", figures.deflated_sharpe, thresholds.min_dsr, "DSR")]
    pbo = figures.overfitting_probability
    if math.isfinite(pbo):
        fine = pbo <= thresholds.max_pbo
        checks.append(GateCheck("pbo", fine, f"PBO {pbo:.3f} {'<=' if fine else '>'} {thresholds.max_pbo}"))
    else:
        checks.append(GateCheck("pbo", False, "PBO could not be measured (needs two or more trials)"))
    if thresholds.beat_buy_and_hold:
        checks.append(_beats("buy_and_hold", figures.median_sharpe, 0.0, 0.0, "buy-and-hold"))
    if figures.champion_sharpe is not None:
        checks.append(
            _beats(
                "champion",
                figures.median_sharpe,
                figures.champion_sharpe,
                thresholds.min_improvement,
                "the champion on the same splits",
            )
        )
    return GateDecision(tuple(checks))


def _beats(name: str, value: float, other: float, margin: float, label: str) -> GateCheck:
    if not (math.isfinite(value) and math.isfinite(other)):
        return GateCheck(name, False, f"median Sharpe against {label} could not be measured")
    passed = value - other > margin
    verb = "beats" if passed else "does not beat"
    return GateCheck(
        name,
        passed,
        f"median excess Sharpe per rebalance {value:.3f} {verb} {label} ({other:.3f}) by more than {margin}",
    )
