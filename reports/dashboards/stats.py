"""Statistics for the dashboards. Pure: numbers in, numbers out; no Flask, no database.

Every function accepts any 1-D sequence of numbers, ignores NaN (a missing value is not a
zero) and returns NaN where a statistic cannot be computed (too few values, no spread).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

#: Two-sided 95% confidence level used throughout.
LEVEL = 0.95
_Z = float(sps.norm.ppf(0.5 + LEVEL / 2))  # 1.959963984540054

#: Jacobson & Truax (1991) reliable change: |RCI| > 1.96 is unlikely (p < .05) from measurement error.
RCI_CRITICAL = _Z


def _clean(values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[~np.isnan(array)]


@dataclass(frozen=True, slots=True)
class MeanCI:
    """A mean with its t-based 95% confidence interval."""

    n: int
    mean: float
    sd: float
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)


def mean_ci(values: ArrayLike, level: float = LEVEL) -> MeanCI:
    """Mean, SD and Student-t confidence interval of the non-missing values."""
    x = _clean(values)
    n = int(x.size)
    if n == 0:
        return MeanCI(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return MeanCI(n, mean, math.nan, math.nan, math.nan)
    sd = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return MeanCI(n, mean, sd, mean - half, mean + half)


@dataclass(frozen=True, slots=True)
class Quartiles:
    """A box-plot summary: quartiles and Tukey whiskers (furthest values within 1.5 IQR)."""

    n: int
    minimum: float
    q1: float
    median: float
    q3: float
    maximum: float
    lower_whisker: float
    upper_whisker: float


def quartiles(values: ArrayLike) -> Quartiles:
    """Quartiles (linear interpolation, as numpy and pandas default) and Tukey whiskers."""
    x = _clean(values)
    if x.size == 0:
        nan = math.nan
        return Quartiles(0, nan, nan, nan, nan, nan, nan, nan)
    q1, median, q3 = (float(v) for v in np.quantile(x, [0.25, 0.5, 0.75]))
    iqr = q3 - q1
    inside = x[(x >= q1 - 1.5 * iqr) & (x <= q3 + 1.5 * iqr)]
    return Quartiles(
        int(x.size), float(x.min()), q1, median, q3, float(x.max()), float(inside.min()), float(inside.max())
    )


@dataclass(frozen=True, slots=True)
class PairedChange:
    """Change from baseline in paired data (after - before).

    `p_wilcoxon` is the two-sided Wilcoxon signed-rank p-value (zero differences dropped,
    Wilcoxon's method); `d_z` is the paired Cohen's d_z = mean difference / SD of differences.
    """

    n: int
    mean: float
    sd: float
    low: float
    high: float
    median: float
    p_wilcoxon: float
    d_z: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)


def wilcoxon_p(differences: ArrayLike) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences; NaN if all are zero."""
    d = _clean(differences)
    if np.count_nonzero(d) == 0:
        return math.nan
    return float(sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def cohens_dz(differences: ArrayLike) -> float:
    """Paired effect size d_z: mean of the differences over their SD (ddof=1)."""
    d = _clean(differences)
    if d.size < 2:
        return math.nan
    sd = float(d.std(ddof=1))
    return math.nan if sd == 0 else float(d.mean()) / sd


def paired_change(before: ArrayLike, after: ArrayLike) -> PairedChange:
    """Summarise after - before over the pairs where both values are present."""
    b = np.asarray(before, dtype=float).ravel()
    a = np.asarray(after, dtype=float).ravel()
    if b.shape != a.shape:
        raise ValueError("before and after must have the same length")
    d = (a - b)[~(np.isnan(a) | np.isnan(b))]
    ci = mean_ci(d)
    return PairedChange(
        n=ci.n,
        mean=ci.mean,
        sd=ci.sd,
        low=ci.low,
        high=ci.high,
        median=float(np.median(d)) if d.size else math.nan,
        p_wilcoxon=wilcoxon_p(d),
        d_z=cohens_dz(d),
    )


@dataclass(frozen=True, slots=True)
class Proportion:
    """A proportion with its Wilson score 95% interval."""

    k: int
    n: int
    p: float
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)


def wilson_ci(k: int, n: int, level: float = LEVEL) -> Proportion:
    """Wilson score interval (Wilson 1927) for k successes out of n; NaN when n is 0."""
    if not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n")
    if n == 0:
        return Proportion(k, n, math.nan, math.nan, math.nan)
    z = float(sps.norm.ppf(0.5 + level / 2))
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Proportion(k, n, p, max(0.0, centre - half), min(1.0, centre + half))


def reliable_change_index(
    before: ArrayLike, after: ArrayLike, sd_baseline: float, reliability: float
) -> np.ndarray:
    """Jacobson & Truax (1991) RCI = (after - before) / S_diff, S_diff = sqrt(2) * SD * sqrt(1 - r)."""
    if not 0 <= reliability < 1:
        raise ValueError("reliability must be in [0, 1)")
    s_diff = math.sqrt(2) * sd_baseline * math.sqrt(1 - reliability)
    diff = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    if not s_diff > 0:
        return np.full(diff.shape, np.nan)
    return diff / s_diff


def reliable_change_threshold(sd_baseline: float, reliability: float) -> float:
    """The smallest change (in score points) that counts as reliable: 1.96 x S_diff."""
    return RCI_CRITICAL * math.sqrt(2) * sd_baseline * math.sqrt(1 - reliability)
