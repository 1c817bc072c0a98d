"""Sharpe ratios that know how they were found: probabilistic and deflated (Bailey & López de Prado).

All figures here are per period (not annualised): a Sharpe ratio of period returns, its standard
error from the returns' skewness and kurtosis (Mertens 2002), the probabilistic Sharpe ratio
PSR(SR*) = P[true SR > SR*], the expected maximum Sharpe ratio of N independent trials of zero
skill, and the deflated Sharpe ratio: the PSR against that maximum, i.e. the probability that
the best of N trials has a real edge once the search itself is accounted for.

Reference: D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio: Correcting for
Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5),
2014. Its numerical example (SR 2.5 a year, T = 1250 days, skew -3, kurtosis 10, N = 100 trials
whose Sharpe ratios vary by 0.5 a year) gives SR0 = 0.1132 a day and DSR = 0.9004; the unit
tests reproduce it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
EULER_MASCHERONI = 0.5772156649015329
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class ReturnMoments:
    """What the PSR needs of a return series: its per-period Sharpe ratio, length and shape."""

    sharpe: float
    observations: int
    skewness: float
    kurtosis: float  # not excess: 3 for a normal distribution


def sharpe_ratio(returns: FloatArray) -> float:
    """Mean over standard deviation (ddof=1) of period returns; NaN below two or with no spread."""
    finite = returns[np.isfinite(returns)]
    if finite.size < 2:
        return math.nan
    deviation = float(np.std(finite, ddof=1))
    return float(np.mean(finite)) / deviation if deviation > 0 else math.nan


def return_moments(returns: FloatArray) -> ReturnMoments:
    finite = returns[np.isfinite(returns)]
    sharpe = sharpe_ratio(finite)
    centred = finite - finite.mean() if finite.size else finite
    spread = float(np.sqrt(np.mean(centred**2))) if finite.size else 0.0
    if spread == 0.0:
        return ReturnMoments(sharpe, int(finite.size), 0.0, 3.0)
    skewness = float(np.mean(centred**3)) / spread**3
    kurtosis = float(np.mean(centred**4)) / spread**4
    return ReturnMoments(sharpe, int(finite.size), skewness, kurtosis)


def probabilistic_sharpe_ratio(moments: ReturnMoments, benchmark: float) -> float:
    """P[true SR > benchmark] given the observed SR, T, skewness and kurtosis (all per period)."""
    sharpe, count = moments.sharpe, moments.observations
    if count < 2 or not math.isfinite(sharpe) or not math.isfinite(benchmark):
        return math.nan
    variance_term = 1.0 - moments.skewness * sharpe + (moments.kurtosis - 1.0) / 4.0 * sharpe**2
    if variance_term <= 0:
        return math.nan
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(count - 1) / math.sqrt(variance_term))


def expected_maximum_sharpe(trials: int, sharpe_variance: float) -> float:
    """E[max SR] of `trials` independent zero-skill trials whose SRs vary by `sharpe_variance`."""
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if trials == 1 or sharpe_variance <= 0:
        return 0.0
    first = _NORMAL.inv_cdf(1.0 - 1.0 / trials)
    second = _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_MASCHERONI) * first + EULER_MASCHERONI * second)


@dataclass(frozen=True, slots=True)
class DeflatedSharpe:
    value: float  # the DSR, a probability
    benchmark: float  # SR0, the expected maximum Sharpe of the trials under no skill
    trials: int
    trial_sharpe_variance: float


def deflated_sharpe_ratio(
    selected: ReturnMoments, trial_sharpes: Sequence[float], *, trials: int | None = None
) -> DeflatedSharpe:
    """The DSR of the selected trial, deflated by every trial of the search.

    `trial_sharpes` are the per-period Sharpe ratios of all trials (the selected one included);
    `trials` overrides their count when more were run than have a usable Sharpe ratio.
    """
    usable = [value for value in trial_sharpes if math.isfinite(value)]
    count = max(trials if trials is not None else len(usable), 1)
    variance = float(np.var(usable, ddof=1)) if len(usable) > 1 else 0.0
    benchmark = expected_maximum_sharpe(count, variance)
    return DeflatedSharpe(probabilistic_sharpe_ratio(selected, benchmark), benchmark, count, variance)
