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
- Median: smallest time t with S(t) <= 0.5 (lifelines ``qth_survival_times`` convention). R and SAS instead
  take the midpoint of the flat stretch when S equals exactly 0.5 on an interval; the two differ only then.
  A tolerance of 1e-10 absorbs floating-point error in lifelines' exp(sum(log)) product (a plateau that is
  exactly 0.5 in rational arithmetic must count as <= 0.5).
- Median CI: Brookmeyer & Crowley (Biometrics 1982;38:29) style, from the log(-log) band: lower limit = first
  time the lower band is <= 0.5, upper limit = first time the upper band is <= 0.5 (what lifelines'
  median_survival_times applied to ``confidence_interval_`` gives). None when the curve never reaches 0.5.
- Landmarks: month = 365.25 / 12 days (= 30.4375 days). S at a landmark is the right-continuous step value.
  Beyond the largest observed time (event or censoring) the estimate is missing (as R
  summary.survfit(extend = FALSE)).
- Numbers at risk at a time t: the same risk-set rule (entry < t <= exit, or entry == t == earliest entry).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyses._riskset import number_at_risk, validate_entry

DAYS_PER_MONTH: float = 365.25 / 12
LANDMARK_MONTHS: tuple[int, ...] = (6, 12, 24, 36, 60)
RISK_TABLE_MONTHS: tuple[int, ...] = (0, 3, 6, 9, 12, 18, 24, 30, 36, 48, 60)
_MEDIAN_TOL: float = 1e-10


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


def _first_below(time: np.ndarray, values: np.ndarray, q: float) -> float | None:
    hit = np.nonzero(values <= q + _MEDIAN_TOL)[0]
    return float(time[hit[0]]) if hit.size else None


def median_survival(curve: KMCurve) -> Median:
    """Median and its Brookmeyer-Crowley-style CI from the log(-log) band (see module docstring)."""
    if curve.n == 0:
        return Median(None, None, None)
    # the band is NaN where S is 0 or 1; where S = 0 the band is [0, 0] by continuity
    lo = np.where(curve.estimate <= 0, 0.0, curve.lower)
    hi = np.where(curve.estimate <= 0, 0.0, curve.upper)
    return Median(
        _first_below(curve.time, curve.estimate, 0.5),
        _first_below(curve.time, np.nan_to_num(lo, nan=1.0), 0.5),
        _first_below(curve.time, np.nan_to_num(hi, nan=1.0), 0.5),
    )
