"""Exact confidence intervals for proportions and incidence rates, and a median (IQR) helper.

Methods and references
- Proportion: Clopper-Pearson exact binomial interval (Clopper & Pearson, Biometrika 1934;26:404),
  computed from beta quantiles: lower = Beta^-1(alpha/2; x, n-x+1) (0 when x = 0),
  upper = Beta^-1(1-alpha/2; x+1, n-x) (1 when x = n). Identical to scipy.stats.binomtest(...).proportion_ci
  (method="exact"), R binom.test and SAS PROC FREQ EXACT BINOMIAL.
- Incidence rate: events / person-time, reported per 100 person-years (1 year = 365.25 days), with the exact
  Poisson interval of Garwood (Biometrika 1936;28:437): lower = chi2^-1(alpha/2; 2x)/2 (0 when x = 0),
  upper = chi2^-1(1-alpha/2; 2x+2)/2, divided by person-time. Same as R poisson.test / epitools.
- Median and IQR: sample quantiles of Hyndman & Fan (Am Stat 1996;50:361) definition 7 (linear interpolation
  between order statistics; R quantile() default, numpy "linear"). SAS PROC UNIVARIATE's default (QNTLDEF=5)
  is Hyndman-Fan definition 2; pass ``method="averaged_inverted_cdf"`` to reproduce it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

DAYS_PER_YEAR: float = 365.25


# The two definitions the registry reports (type 7 = R/numpy default, type 2 = SAS PROC UNIVARIATE default).
QuantileMethod = Literal["linear", "averaged_inverted_cdf"]


@dataclass(frozen=True)
class ProportionCI:
    events: int
    n: int
    proportion: float | None
    lower: float | None
    upper: float | None
    method: str = "Clopper-Pearson exact"


@dataclass(frozen=True)
class RateCI:
    events: int
    person_years: float
    rate_per_100py: float | None
    lower: float | None
    upper: float | None
    method: str = "exact Poisson (Garwood chi-square)"


@dataclass(frozen=True)
class MedianIQR:
    n: int
    median: float | None
    q1: float | None
    q3: float | None
    minimum: float | None
    maximum: float | None
    method: str = "Hyndman-Fan type 7"


@dataclass(frozen=True)
class MeanCI:
    n: int
    mean: float | None
    lower: float | None
    upper: float | None
    method: str = "Student t interval of the mean"


def mean_t_interval(values: Sequence[float] | np.ndarray, conf_level: float = 0.95) -> MeanCI:
    """Mean of the non-missing values with the Student t interval mean +/- t(1 - alpha/2, n - 1) s / sqrt(n)
    (s: sample SD, ddof 1; R t.test). Mean None when empty; limits None when n < 2 (no SD)."""
    from scipy.stats import t

    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return MeanCI(0, None, None, None)
    mean = float(x.mean())
    if x.size < 2:
        return MeanCI(1, mean, None, None)
    half = float(t.ppf(1 - (1.0 - conf_level) / 2, x.size - 1)) * float(x.std(ddof=1)) / float(np.sqrt(x.size))
    return MeanCI(int(x.size), mean, mean - half, mean + half)


def clopper_pearson(events: int, n: int, conf_level: float = 0.95) -> ProportionCI:
    """Exact binomial CI for events/n; all None when n == 0 (proportion undefined)."""
    from scipy.stats import beta

    if n < 0 or events < 0 or events > n:
        raise ValueError(f"need 0 <= events <= n, got events={events}, n={n}")
    if n == 0:
        return ProportionCI(events, n, None, None, None)
    alpha = 1.0 - conf_level
    lower = 0.0 if events == 0 else float(beta.ppf(alpha / 2, events, n - events + 1))
    upper = 1.0 if events == n else float(beta.ppf(1 - alpha / 2, events + 1, n - events))
    return ProportionCI(events, n, events / n, lower, upper)


def poisson_rate(events: int, person_years: float, conf_level: float = 0.95, per: float = 100.0) -> RateCI:
    """Incidence rate per ``per`` person-years with Garwood's exact CI; None when person-time is 0."""
    from scipy.stats import chi2

    if events < 0 or person_years < 0:
        raise ValueError("events and person_years must be non-negative")
    if person_years == 0:
        return RateCI(events, person_years, None, None, None)
    alpha = 1.0 - conf_level
    lo = 0.0 if events == 0 else float(chi2.ppf(alpha / 2, 2 * events)) / 2
    hi = float(chi2.ppf(1 - alpha / 2, 2 * events + 2)) / 2
    return RateCI(
        events,
        person_years,
        per * events / person_years,
        per * lo / person_years,
        per * hi / person_years,
    )


def median_iqr(values: Sequence[float] | np.ndarray, method: QuantileMethod = "linear") -> MedianIQR:
    """Median, quartiles, min and max of the non-missing values (NaN dropped); None when empty."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    label = {"linear": "Hyndman-Fan type 7", "averaged_inverted_cdf": "Hyndman-Fan type 2"}.get(method, method)
    if x.size == 0:
        return MedianIQR(0, None, None, None, None, None, label)
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75], method=method)
    return MedianIQR(int(x.size), float(med), float(q1), float(q3), float(x.min()), float(x.max()), label)
