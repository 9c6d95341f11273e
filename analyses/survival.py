"""Kaplan-Meier survival with delayed entry, log(-log) CIs, landmarks, median and numbers at risk.

Method
- Estimator: Kaplan-Meier (Kaplan & Meier, JASA 1958;53:457) fitted with lifelines KaplanMeierFitter
  (lifelines 0.30.3), with delayed entry (left truncation) through ``entry=``. Risk-set convention of the
  lifelines estimator (see analyses/_riskset.py): at risk at t when entry < t <= exit, or entry == t == the
  earliest entry; at tied times events are removed before censorings (censored subjects stay in the risk set
  of their own time). Events at t = 0 count. Numbers at risk are computed with this same rule (lifelines'
  event_table "at_risk" column also counts subjects entering at t, which its estimator does not use).
  With delayed entry and no subject at risk from time 0, the curve is conditional on survival to the
  earliest entry.
- CI: pointwise 95% log(-log) ("exponential Greenwood") interval from lifelines: Greenwood variance
  (Greenwood 1926), transformed by log(-log S) (Kalbfleisch & Prentice 2002; SAS LIFETEST default;
  R survfit's default is conf.type = "log", so R users must set conf.type = "log-log" to reproduce it).
  Where S is 0 or 1 the transform is undefined and the CI is reported as missing (lifelines gives the
  degenerate interval [S, S] there; R gives NA).
- Median and its CI: R survival's rule (quantile.survfit / findq, survival 3.x), so that they equal R's
  survfit(conf.type = "log-log"): on the curve of F = 1 - S (plus the origin, F(0-) = 0), the median is the
  first time F >= 0.5 (tolerance sqrt(machine epsilon), absorbing floating-point error in lifelines' product).
  When S equals 0.5 exactly over a stretch, the median is the midpoint of that stretch: (time S reaches 0.5 +
  time of the next drop) / 2, or (time S reaches 0.5 + last follow-up time) / 2 when S stays at 0.5 to the end of
  the curve (Kaplan-Meier 1958; R, SAS). The CI (Brookmeyer & Crowley, Biometrics 1982;38:29, from the log(-log)
  band): lower limit = the same rule applied to the lower band, upper limit = applied to the upper band. The band is
  undefined (NaN) where S is 0 or 1 and those points are skipped, as R does: a limit the band never reaches below
  0.5 is None (R: NA). In particular a last step of the curve to 0 does NOT give the degenerate CI [t, t].
- Landmarks and the month length: the analysis plan (data/config/analysis_plan.yaml, analyses/plan.py).
  S at a landmark is the right-continuous step value.
  Beyond the largest observed time (event or censoring) the estimate is missing (as R
  summary.survfit(extend = FALSE)).
- Numbers at risk at a time t: the same risk-set rule (entry < t <= exit, or entry == t == earliest entry).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyses._riskset import number_at_risk, validate_entry
from analyses.plan import load_plan

# From the analysis plan, the one place they are defined (kept as names for the modules that import them).
DAYS_PER_MONTH: float = load_plan().days_per_month
LANDMARK_MONTHS: tuple[float, ...] = load_plan().landmark_months
RISK_TABLE_MONTHS: tuple[float, ...] = load_plan().risk_table_months
_QUANTILE_TOL: float = float(np.sqrt(np.finfo(float).eps))  # R: sqrt(.Machine$double.eps)


def lifelines_version() -> str:
    import lifelines

    return lifelines.__version__


@dataclass(frozen=True)
class KMCurve:
    """Full step curve at every distinct observed time (right-continuous values)."""

    time: np.ndarray
    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_at_risk: np.ndarray
    n_event: np.ndarray
    n_censored: np.ndarray
    n: int
    events: int
    max_time: float
    person_time: float  # sum of (exit - entry), same unit as time
    engine: str = "lifelines"


@dataclass(frozen=True)
class Median:
    median: float | None
    lower: float | None
    upper: float | None


def _check(time: np.ndarray, event: np.ndarray, entry: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float)
    ev = np.asarray(event)
    if t.ndim != 1 or ev.shape != t.shape:
        raise ValueError("time and event must be 1-d arrays of the same length")
    if np.isnan(t).any() or (t < 0).any():
        raise ValueError("time must be non-negative and non-missing")
    if not np.isin(ev, [0, 1, True, False]).all():
        raise ValueError("event must be 0/1")
    e = np.zeros_like(t) if entry is None else np.asarray(entry, dtype=float)
    if e.shape != t.shape or np.isnan(e).any() or (e < 0).any():
        raise ValueError("entry must be non-negative, non-missing and aligned with time")
    validate_entry(t, ev.astype(bool), e)
    return t, ev.astype(bool), e


def kaplan_meier(
    time: np.ndarray, event: np.ndarray, entry: np.ndarray | None = None, conf_level: float = 0.95
) -> KMCurve:
    """Fit KM with lifelines and return the step curve; an empty input gives an empty curve."""
    t, ev, e = _check(time, event, entry)
    if t.size == 0:
        z = np.array([], dtype=float)
        zi = np.array([], dtype=np.int64)
        return KMCurve(z, z, z, z, zi, zi, zi, 0, 0, float("nan"), 0.0)
    from lifelines import KaplanMeierFitter
    from lifelines.exceptions import StatError

    kmf = KaplanMeierFitter(alpha=1.0 - conf_level)
    # Subjects with identical (exit, event, entry) are exchangeable: fit on the distinct triples with their
    # counts as integer frequency weights (same event table, estimate and Greenwood variance; ~50x faster).
    order = np.lexsort((e, ev, t))
    ts, evs, es = t[order], ev[order], e[order]
    new = np.ones(t.size, dtype=bool)
    new[1:] = (np.diff(ts) != 0) | (np.diff(evs.astype(np.int8)) != 0) | (np.diff(es) != 0)
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, t.size))
    triples = np.column_stack([ts[starts], evs[starts], es[starts]])
    try:
        kmf.fit(
            triples[:, 0],
            event_observed=triples[:, 1].astype(bool),
            entry=triples[:, 2] if entry is not None else None,
            weights=counts.astype(float),
        )
    except StatError:
        # lifelines refuses delayed-entry data whose risk set empties in the first half of the timeline
        # (even when emptied by censoring); the product-limit estimate is still defined there.
        return _product_limit(t, ev, e, conf_level)
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_
    tab = kmf.event_table
    # lifelines' timeline also holds entry-only times and a leading 0; keep the rows of observed exit times
    obs = np.unique(t)
    sel = np.isin(sf.index.to_numpy(dtype=float), obs)
    est = sf.to_numpy(dtype=float)[sel]
    lo = ci.iloc[:, 0].to_numpy(dtype=float)[sel]
    hi = ci.iloc[:, 1].to_numpy(dtype=float)[sel]
    undefined = (est <= 0) | (est >= 1)
    lo = np.where(undefined, np.nan, lo)
    hi = np.where(undefined, np.nan, hi)
    tab = tab.loc[tab.index.isin(obs)]
    tt = tab.index.to_numpy(dtype=float)
    if not np.array_equal(tt, obs) or not np.array_equal(sf.index.to_numpy(dtype=float)[sel], obs):
        raise RuntimeError("lifelines timeline does not align with observed times")
    return KMCurve(
        time=obs,
        estimate=est,
        lower=lo,
        upper=hi,
        n_at_risk=number_at_risk(t, e, obs),
        n_event=tab["observed"].to_numpy().astype(np.int64),
        n_censored=tab["censored"].to_numpy().astype(np.int64),
        n=int(t.size),
        events=int(ev.sum()),
        max_time=float(t.max()),
        person_time=float((t - e).sum()),
    )


def _product_limit(t: np.ndarray, ev: np.ndarray, e: np.ndarray, conf_level: float) -> KMCurve:
    """Same estimator and log(-log) Greenwood CI as lifelines, in numpy (fallback; tested equal)."""
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + conf_level / 2))
    obs, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=ev, minlength=obs.size)
    c = np.bincount(inv, weights=~ev, minlength=obs.size)
    n = number_at_risk(t, e, obs).astype(float)
    surv = np.cumprod(np.where(d > 0, 1.0 - d / np.where(n > 0, n, 1.0), 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        gw = np.cumsum(np.where((d > 0) & (n > d), d / (n * (n - d)), 0.0))  # lifelines maps inf to 0
        log_s = np.log(surv)
        lo = np.exp(-np.exp(np.log(-log_s) - z * np.sqrt(gw) / log_s))
        hi = np.exp(-np.exp(np.log(-log_s) + z * np.sqrt(gw) / log_s))
    undefined = (surv <= 0) | (surv >= 1)
    return KMCurve(
        time=obs,
        estimate=surv,
        lower=np.where(undefined, np.nan, lo),
        upper=np.where(undefined, np.nan, hi),
        n_at_risk=n.astype(np.int64),
        n_event=d.astype(np.int64),
        n_censored=c.astype(np.int64),
        n=int(t.size),
        events=int(ev.sum()),
        max_time=float(t.max()),
        person_time=float((t - e).sum()),
        engine="numpy product-limit (lifelines StatError fallback)",
    )


def survival_at(curve: KMCurve, times: np.ndarray) -> dict[str, np.ndarray]:
    """Step-function values at ``times``: 1 before the first observed time, NaN beyond the last."""
    q = np.asarray(times, dtype=float)
    out = {k: np.full(q.shape, np.nan) for k in ("estimate", "lower", "upper")}
    if curve.n == 0:
        return out
    idx = np.searchsorted(curve.time, q, side="right") - 1
    before = idx < 0
    inside = (~before) & (q <= curve.max_time)
    out["estimate"][before] = 1.0
    for k, arr in (("estimate", curve.estimate), ("lower", curve.lower), ("upper", curve.upper)):
        out[k][inside] = arr[idx[inside]]
    return out


def quantile_r(time: np.ndarray, surv: np.ndarray, xmax: float, p: float = 0.5) -> float | None:
    """R survival findq(): time where 1 - S first reaches p; midpoint of an exact plateau; None if never."""
    x = np.concatenate(([0.0], np.asarray(time, dtype=float)))
    y = np.concatenate(([0.0], 1.0 - np.asarray(surv, dtype=float)))
    keep = ~np.isnan(y)
    if not keep.any() or np.nanmax(y) < p:
        return None
    # R drops duplicated levels (censorings) before searching, keeping the first time each level is reached
    x, y = x[keep], y[keep]
    first = np.concatenate(([True], np.diff(y) != 0))
    x, y = x[first], y[first]
    i1 = np.nonzero(y + _QUANTILE_TOL >= p)[0]
    if not i1.size:
        return None
    i2 = np.nonzero(y - _QUANTILE_TOL >= p)[0]
    if abs(p - y[-1]) < _QUANTILE_TOL:  # flat at p to the end of the curve
        return float((x[i1[0]] + xmax) / 2)
    if not i2.size:
        return None
    return float((x[i1[0]] + x[i2[0]]) / 2)


def median_survival(curve: KMCurve) -> Median:
    """Median and its Brookmeyer-Crowley CI from the log(-log) band, with R's rules (module docstring)."""
    if curve.n == 0:
        return Median(None, None, None)
    return Median(
        quantile_r(curve.time, curve.estimate, curve.max_time),
        quantile_r(curve.time, curve.lower, curve.max_time),
        quantile_r(curve.time, curve.upper, curve.max_time),
    )
