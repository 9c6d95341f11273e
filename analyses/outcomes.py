"""Analysis-table builders: ADaM frames (adam.adtte, adam.adsl, adam.adae; polars) -> long analysis tables.

Estimators: analyses.survival (Kaplan-Meier, lifelines), analyses.competing_risks (own Aalen-Johansen, Gray's
test), analyses.rates (Clopper-Pearson, Garwood Poisson, median/IQR). See those modules for methods and refs.

Analysis sets and conventions
- adtte: one row per patient and PARAMCD is analysed; when a patient has several infusions the row with the
  smallest INFNUM is used (first infusion = day 0); a row with INFNUM missing is used only when it is the only one.
- Time = AVAL (days from STARTDT), delayed entry = ENTRYT (days; missing -> 0). Month and year lengths,
  landmarks, numbers-at-risk times, endpoints and strata: the analysis plan (analyses/plan.py).
- ADaM encoding (dbt_project/models/adam/endpoints.md): CNSR 0 = event of interest, 1 = censored; a competing
  event has CMPEVFL = 'Y' and CNSR NULL (never on OS, OS_ITT, PFS, EFS, DOR).
- Delayed entry (left truncation, endpoints.md "Delayed entry"): a row flagged PREENTFL = 'Y' (event or
  competing event on or before registry entry) is never at risk in the registry and is excluded, counted in
  ``n_excluded`` with the reason "pre-entry event (PREENTFL = 'Y', left truncation)".
- A row censored at a national registry's completeness date (CNSDTDSC, kocartr.censoring.COMPLETENESS_CENSORINGS)
  before registry entry (patient registered after that date: ENTRYT > AVAL) has no follow-up inside the registry's
  completeness window: excluded and counted under its own reason (NO_WINDOW_REASON), not as a data error.
- Other rows that cannot be analysed are excluded and counted in ``n_excluded`` with the reasons in ``note``:
  AVAL missing or < 0, CNSR invalid (or NULL without CMPEVFL = 'Y'), ENTRYT > AVAL, or an event at the
  patient's own entry time after day 0 (never at risk under the risk-set convention, analyses/_riskset.py).
- Strata: 'overall' plus PRODUCT, DISGRP, SITEID, INFYEAR (copied from adtte / adsl) and REGISTRATION (from
  adsl REGLATFL: 'prospective' = registered on or before day 0, 'late' = registered after day 0), as strings; a
  missing value is the stratum '(missing)'. Strata with zero subjects are skipped. Undefined estimates are null.
  The REGISTRATION = 'prospective' stratum is the sensitivity analysis restricted to patients registered before
  infusion (no delayed entry for the infusion-anchored endpoints), produced beside every main estimate.

Common columns of every table (first five, in order)
  endpoint (str), stratum_variable (str: 'overall' or the ADaM variable), stratum (str: 'overall' or the value),
  method (str: estimator, implementation and CI method), data_cutoff (date).

survival_estimates (KM; endpoints OS, PFS, EFS (ALL) from infusion, DOR (responders) from the first response,
OS_ITT from order)
  row_type       'landmark' (S at the plan's landmark months), 'median', 'risk_table' (numbers at risk at the
                 plan's risk-table months), 'curve' (one row per distinct observed time)
  time_days, time_months   the time of the row (null on 'median' rows)
  estimate, lower_95, upper_95   S(t) and its log(-log) CI; on 'median' rows the median and its CI in MONTHS
  unit           'probability' or 'months'
  n, events, person_years        subjects, events, sum of (AVAL - ENTRYT) / 365.25 in the stratum
  n_delayed_entry                subjects with ENTRYT > 0 (left truncation)
  n_at_risk      at risk at time_days (entry < t <= exit, or entry = t = earliest entry)
  n_event_at_time, n_censored_at_time   ('curve' rows) at that exact time
  n_event_cum, n_censored_cum    events / censorings at or before time_days
  n_excluded, note

cumulative_incidence (own Aalen-Johansen; NRM vs RELAPSE, RELAPSE vs NRM, SPM / SPM_TCELL / ANC_REC / PLT_REC
vs death)
  competing_event (str), row_type 'landmark' | 'risk_table' | 'curve' | 'gray_test'; landmarks at the plan's
  months, or at the endpoint's own landmark days (ANC_REC / PLT_REC); 'risk_table' rows: numbers at risk (delayed
  entry honoured), F(t) and cumulative counts at the plan's risk-table months
  time_days, time_months, estimate (F(t)), std_error (sqrt of the cmprsk Aalen-type variance), lower_95, upper_95
  n, events, competing_events, person_years, n_delayed_entry, n_at_risk, n_event_at_time,
  n_competing_at_time, n_censored_at_time, n_event_cum, n_competing_cum
  test_statistic, test_df, p_value   ('gray_test' rows, one per stratum_variable, stratum = 'all levels'):
                 Gray's test across the non-missing levels. Gray's test has no left-truncated form, so when
                 delayed entry is present the 'all levels' row is null with that reason, and a second row,
                 stratum = 'all levels (prospective registrations)', gives the test on the patients with no
                 delayed entry (REGISTRATION = 'prospective', else ENTRYT = 0): an unbiased test on that subset.
                 Null with a note when fewer than two levels have subjects.
  n_excluded, note

event_rates (SPM, SPM_TCELL: first event per 100 person-years)
  n, events, competing_events, person_years (time at risk from ENTRYT to AVAL), rate_per_100py, lower_95,
  upper_95 (exact Poisson, Garwood), n_excluded, note

proportions (the plan's toxicities from adae: CRS, ICANS, ICAHT_EARLY, ICAHT_LATE; stratum PRODUCT). Denominator =
  patients EVALUABLE for the toxicity: infused (adsl INFFL = 'Y') at least N days before the data cut-off, N per
  toxicity in data/config/toxicity_evaluability.csv (reporting lag: a toxicity of a patient infused days before
  the cut-off is often not reported yet). n_not_evaluable = infused patients excluded by that rule, shown beside n.
  measure: 'any_grade', 'grade_ge3', 'max_grade_0' ... 'max_grade_5', 'max_grade_unknown', 'tocilizumab',
           'steroids', 'icu' (proportions), 'onset_day', 'duration_days', 'icu_days' (median and IQR); ICAHT
           (graded from the ANC series) has the grade measures only
  n (evaluable infused patients), n_not_evaluable, min_days_after_infusion, events (patients with the
  measure), proportion, lower_95, upper_95 (Clopper-Pearson)
  n_values, median, q1, q3, minimum, maximum (Hyndman-Fan type 7 quantiles), note
  An AE row counts as an event when ATOXGR >= 1 or ATOXGR is missing (a graded-0 row is not an event).
  Patient-level values: max grade over all rows of the category (all infusions); onset day = smallest ASTDY;
  duration = ADURN of that first episode; tocilizumab / steroids / ICU = 'Y' on any row of the category;
  ICU days = sum of ICUDAYS among patients with ICU admission.
  Response rates (from adam.adrs, endpoint RESPONSE_D90 / RESPONSE_D180): measures 'cr_rate', 'orr' (PR or
  better), 'not_evaluable' over infused patients whose window has ended (min_days_after_infusion = the window);
  strata PRODUCT, DISGRP and DISGRP/PRODUCT (stratum 'LBCL/AXI_CEL': response criteria differ by disease).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from analyses import competing_risks as cr
from analyses import rates as rt
from analyses import recoding as recode
from analyses import survival as sv
from analyses.followup import median_followup
from analyses.plan import MISSING, load_plan
from analyses.sir import sir_table
from kocartr.censoring import COMPLETENESS_CENSORINGS

# Endpoints, estimators, strata and landmarks come from the analysis plan (data/config/analysis_plan.yaml).
_PLAN = load_plan()
STRATIFIERS: tuple[str, ...] = _PLAN.stratifiers
SURVIVAL_ENDPOINTS: tuple[str, ...] = _PLAN.km_endpoints()
CIF_ENDPOINTS: dict[str, str] = _PLAN.cif_endpoints()
CIF_LANDMARK_DAYS: dict[str, tuple[float, ...]] = _PLAN.cif_landmark_days()
RATE_ENDPOINTS: tuple[str, ...] = _PLAN.rate_endpoints()
AE_CATEGORIES: tuple[str, ...] = tuple(_PLAN.toxicities)
PROSPECTIVE: str = "prospective"
PRE_ENTRY_REASON: str = "pre-entry event (PREENTFL = 'Y', left truncation)"
NO_WINDOW_REASON: str = (
    "registered after the national registry's completeness date: no follow-up inside its completeness window"
)
DERIVED_FROM_LABS: tuple[str, ...] = ("ICAHT_EARLY", "ICAHT_LATE")  # grade and max grade only
DAYS_PER_YEAR: float = _PLAN.days_per_year


def _common_schema() -> dict[str, Any]:
    return {
        "endpoint": pl.Utf8,
        "stratum_variable": pl.Utf8,
        "stratum": pl.Utf8,
        "method": pl.Utf8,
        "data_cutoff": pl.Date,
    }


SURVIVAL_SCHEMA: dict[str, Any] = {
    **_common_schema(),
    "row_type": pl.Utf8,
    "time_days": pl.Float64,
    "time_months": pl.Float64,
    "estimate": pl.Float64,
    "lower_95": pl.Float64,
    "upper_95": pl.Float64,
    "unit": pl.Utf8,
    "n": pl.Int64,
    "events": pl.Int64,
    "person_years": pl.Float64,
    "n_delayed_entry": pl.Int64,
    "n_at_risk": pl.Int64,
    "n_event_at_time": pl.Int64,
    "n_censored_at_time": pl.Int64,
    "n_event_cum": pl.Int64,
    "n_censored_cum": pl.Int64,
    "n_excluded": pl.Int64,
    "note": pl.Utf8,
}

CIF_SCHEMA: dict[str, Any] = {
    **_common_schema(),
    "competing_event": pl.Utf8,
    "row_type": pl.Utf8,
    "time_days": pl.Float64,
    "time_months": pl.Float64,
    "estimate": pl.Float64,
    "std_error": pl.Float64,
    "lower_95": pl.Float64,
    "upper_95": pl.Float64,
    "n": pl.Int64,
    "events": pl.Int64,
    "competing_events": pl.Int64,
    "person_years": pl.Float64,
    "n_delayed_entry": pl.Int64,
    "n_at_risk": pl.Int64,
    "n_event_at_time": pl.Int64,
    "n_competing_at_time": pl.Int64,
    "n_censored_at_time": pl.Int64,
    "n_event_cum": pl.Int64,
    "n_competing_cum": pl.Int64,
    "test_statistic": pl.Float64,
    "test_df": pl.Int64,
    "p_value": pl.Float64,
    "n_excluded": pl.Int64,
    "note": pl.Utf8,
}

RATE_SCHEMA: dict[str, Any] = {
    **_common_schema(),
    "n": pl.Int64,
    "events": pl.Int64,
    "competing_events": pl.Int64,
    "person_years": pl.Float64,
    "rate_per_100py": pl.Float64,
    "lower_95": pl.Float64,
    "upper_95": pl.Float64,
    "n_excluded": pl.Int64,
    "note": pl.Utf8,
}

PROPORTION_SCHEMA: dict[str, Any] = {
    **_common_schema(),
    "measure": pl.Utf8,
    "n": pl.Int64,
    "n_not_evaluable": pl.Int64,
    "min_days_after_infusion": pl.Int64,
    "events": pl.Int64,
    "proportion": pl.Float64,
    "lower_95": pl.Float64,
    "upper_95": pl.Float64,
    "n_values": pl.Int64,
    "median": pl.Float64,
    "q1": pl.Float64,
    "q3": pl.Float64,
    "minimum": pl.Float64,
    "maximum": pl.Float64,
    "note": pl.Utf8,
}


def _nan_to_none(x: float | np.floating | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if np.isnan(x) else x


def _as_str(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    # INFYEAR may arrive as float: print 2023 not 2023.0
    if dtype.is_float():
        col = pl.when(col == col.round(0)).then(col.cast(pl.Int64).cast(pl.Utf8)).otherwise(col.cast(pl.Utf8))
    return col.cast(pl.Utf8).fill_null(MISSING)


# ----------------------------------------------------------------------------------------------------------
# adtte preparation


@dataclass(frozen=True)
class _Prepared:
    data: pl.DataFrame  # USUBJID, AVAL, CNSR, ENTRYT, stratifiers as str
    n_excluded: int
    note: str | None


def _status(df: pl.DataFrame) -> pl.Expr:
    """Internal status: 0 event, 1 censored, 2 competing (CMPEVFL = 'Y' with CNSR NULL); NULL when invalid."""
    cnsr = pl.col("CNSR").cast(pl.Int64)
    if "CMPEVFL" not in df.columns:
        return cnsr
    competing = pl.col("CMPEVFL").cast(pl.Utf8) == "Y"
    return pl.when(competing & cnsr.is_null()).then(pl.lit(2, pl.Int64)).when(competing).then(None).otherwise(cnsr)


_PREPARE_COLUMNS: tuple[str, ...] = ("USUBJID", "INFNUM", "AVAL", "CNSR", "CMPEVFL", "ENTRYT", "PREENTFL", "CNSDTDSC")


def _prepare_adtte(adtte: pl.DataFrame, paramcd: str, allowed_status: tuple[int, ...]) -> _Prepared:
    # only the columns read below are filtered and sorted (adtte has ~20; the filter copies what it keeps)
    keep = [c for c in adtte.columns if c in _PREPARE_COLUMNS or c in STRATIFIERS]
    df = adtte.lazy().filter(pl.col("PARAMCD") == paramcd).select(keep).collect()
    strat = [c for c in STRATIFIERS if c in df.columns]
    if df.height == 0:
        return _Prepared(pl.DataFrame(), 0, None)
    if "INFNUM" in df.columns:
        df = df.sort(["USUBJID", "INFNUM"], nulls_last=True).unique(
            subset=["USUBJID"], keep="first", maintain_order=True
        )
    elif df.select(pl.col("USUBJID").is_duplicated().any()).item():
        raise ValueError(f"adtte {paramcd}: several rows per USUBJID and no INFNUM")
    entry = pl.col("ENTRYT").cast(pl.Float64).fill_null(0.0) if "ENTRYT" in df.columns else pl.lit(0.0)
    pre = (pl.col("PREENTFL").cast(pl.Utf8) == "Y").fill_null(False) if "PREENTFL" in df.columns else pl.lit(False)
    at_completeness = (
        pl.col("CNSDTDSC").cast(pl.Utf8).is_in(COMPLETENESS_CENSORINGS).fill_null(False)
        if "CNSDTDSC" in df.columns
        else pl.lit(False)
    )
    df = df.select(
        "USUBJID",
        pl.col("AVAL").cast(pl.Float64),
        _status(df).alias("CNSR"),  # internal status from here on: 0 event, 1 censored, 2 competing
        entry.alias("ENTRYT"),
        pre.alias("_PRE"),
        at_completeness.alias("_ADMIN"),
        *[_as_str(pl.col(c), df.schema[c]).alias(c) for c in strat],
    )
    min_entry = df["ENTRYT"].min() if df.height else 0.0
    allowed = "CNSR 0/1" + (" or CMPEVFL = 'Y'" if 2 in allowed_status else "")
    reasons = {
        PRE_ENTRY_REASON: pl.col("_PRE"),
        "AVAL missing or < 0": pl.col("AVAL").is_null() | pl.col("AVAL").is_nan() | (pl.col("AVAL") < 0),
        f"status missing or not {allowed}": pl.col("CNSR").is_null() | ~pl.col("CNSR").is_in(list(allowed_status)),
        NO_WINDOW_REASON: pl.col("_ADMIN") & (pl.col("CNSR") == 1) & (pl.col("ENTRYT") > pl.col("AVAL")),
        "ENTRYT < 0 or > AVAL": (pl.col("ENTRYT") < 0) | (pl.col("ENTRYT") > pl.col("AVAL")),
        "event at own entry time after day 0": (pl.col("CNSR") != 1)
        & (pl.col("ENTRYT") == pl.col("AVAL"))
        & (pl.col("AVAL") > min_entry),
    }
    flags = df.select(**{k: v.fill_null(True) for k, v in reasons.items()})
    bad = np.zeros(df.height, dtype=bool)
    parts = []
    for k in reasons:
        m = flags[k].to_numpy() & ~bad  # each row counted under its first reason
        if m.any():
            parts.append(f"{int(m.sum())} excluded: {k}")
        bad |= m
    return _Prepared(df.filter(pl.Series(~bad)).drop("_PRE", "_ADMIN"), int(bad.sum()), "; ".join(parts) or None)


def _strata(df: pl.DataFrame) -> Iterator[tuple[str, str, pl.DataFrame]]:
    """('overall', 'overall', all) then (variable, level, subset) for each stratifier level with subjects."""
    if df.height == 0:
        return
    yield "overall", "overall", df
    for var in STRATIFIERS:
        if var not in df.columns:
            continue
        for (level,), sub in df.partition_by(var, as_dict=True, maintain_order=False).items():
            if sub.height:
                yield var, str(level), sub
    return


def _sorted_strata(df: pl.DataFrame) -> list[tuple[str, str, pl.DataFrame]]:
    order = {"overall": -1, **{v: i for i, v in enumerate(STRATIFIERS)}}
    return sorted(_strata(df), key=lambda x: (order[x[0]], x[1] == MISSING, x[1]))


def _cum_at(times: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
    cum = np.concatenate(([0], np.cumsum(counts)))
    return cum[np.searchsorted(times, q, side="right")].astype(np.int64)


# ----------------------------------------------------------------------------------------------------------
# survival_estimates


def _km_method(engine: str) -> str:
    ver = sv.lifelines_version()
    if engine == "lifelines":
        return f"Kaplan-Meier (lifelines {ver}), log(-log) CI"
    return f"Kaplan-Meier (own product-limit; lifelines {ver} refused the delayed-entry data), log(-log) CI"


def _km_point_rows(
    base: dict[str, Any], row_type: str, curve: sv.KMCurve, t: np.ndarray, e: np.ndarray, months: tuple[float, ...]
) -> list[dict[str, Any]]:
    """Landmark or risk-table rows of one KM curve: S(t), its CI, numbers at risk (delayed entry) and counts."""
    q = np.asarray(months, dtype=float) * sv.DAYS_PER_MONTH
    at = sv.survival_at(curve, q)
    nrisk = sv.number_at_risk(t, e, q)
    ncum = _cum_at(curve.time, curve.n_event, q)
    ccum = _cum_at(curve.time, curve.n_censored, q)
    return [
        {
            **base,
            "row_type": row_type,
            "time_days": float(q[i]),
            "time_months": float(m),
            "estimate": _nan_to_none(at["estimate"][i]),
            "lower_95": _nan_to_none(at["lower"][i]),
            "upper_95": _nan_to_none(at["upper"][i]),
            "unit": "probability",
            "n_at_risk": int(nrisk[i]),
            "n_event_cum": int(ncum[i]),
            "n_censored_cum": int(ccum[i]),
        }
        for i, m in enumerate(months)
    ]


def _fit_once(fits: dict[bytes, sv.KMCurve], t: np.ndarray, ev: np.ndarray, e: np.ndarray) -> sv.KMCurve:
    """kaplan_meier, fitted once per distinct input: a stratum often holds the same subjects, in the same order, as
    another (a disease group with one product, an endpoint equal to another in a group); the curve is a function of
    the arrays (in order: the person-time sum depends on it), so the key is a digest of their bytes."""
    import hashlib

    h = hashlib.blake2b(digest_size=32)
    for a in (t, ev, e):
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    key = h.digest()
    if key not in fits:
        fits[key] = sv.kaplan_meier(t, ev, e)
    return fits[key]


def survival_estimates(
    adtte: pl.DataFrame,
    data_cutoff: dt.date,
    endpoints: tuple[str, ...] = SURVIVAL_ENDPOINTS,
    landmark_months: tuple[float, ...] = sv.LANDMARK_MONTHS,
    risk_table_months: tuple[float, ...] = sv.RISK_TABLE_MONTHS,
    include_curve: bool = True,
) -> pl.DataFrame:
    """KM landmarks, median, risk table and step curve per endpoint and stratum (long format)."""
    rows: list[dict[str, Any]] = []
    parts: list[pl.DataFrame] = []
    fits: dict[bytes, sv.KMCurve] = {}
    for ep in endpoints:
        prep = _prepare_adtte(adtte, ep, (0, 1))
        for var, level, sub in _sorted_strata(prep.data):
            t = sub["AVAL"].to_numpy()
            ev = (sub["CNSR"].to_numpy() == 0).astype(np.int64)
            e = sub["ENTRYT"].to_numpy()
            curve = _fit_once(fits, t, ev, e)
            base: dict[str, Any] = {
                "endpoint": ep,
                "stratum_variable": var,
                "stratum": level,
                "method": _km_method(curve.engine),
                "data_cutoff": data_cutoff,
                "n": curve.n,
                "events": curve.events,
                "person_years": curve.person_time / DAYS_PER_YEAR,
                "n_delayed_entry": int((e > 0).sum()),
                "n_excluded": prep.n_excluded,
                "note": prep.note,
            }
            for row_type, months in (("landmark", landmark_months), ("risk_table", risk_table_months)):
                rows.extend(_km_point_rows(base, row_type, curve, t, e, months))
            med = sv.median_survival(curve)
            to_m = lambda x: None if x is None else x / sv.DAYS_PER_MONTH  # noqa: E731
            rows.append(
                {
                    **base,
                    "method": base["method"] + "; median CI: Brookmeyer-Crowley from the log(-log) band",
                    "row_type": "median",
                    "estimate": to_m(med.median),
                    "lower_95": to_m(med.lower),
                    "upper_95": to_m(med.upper),
                    "unit": "months",
                }
            )
            if include_curve and curve.time.size:
                ncum = np.cumsum(curve.n_event)
                ccum = np.cumsum(curve.n_censored)
                cols = {
                    "time_days": curve.time,
                    "time_months": curve.time / sv.DAYS_PER_MONTH,
                    "estimate": curve.estimate,
                    "lower_95": curve.lower,
                    "upper_95": curve.upper,
                    "n_at_risk": curve.n_at_risk,
                    "n_event_at_time": curve.n_event,
                    "n_censored_at_time": curve.n_censored,
                    "n_event_cum": ncum,
                    "n_censored_cum": ccum,
                }
                parts.append(_curve_frame({**base, "row_type": "curve", "unit": "probability"}, cols, SURVIVAL_SCHEMA))
    return _rows_to_frame(rows, SURVIVAL_SCHEMA, parts)


def _conform(df: pl.DataFrame, schema: dict[str, Any]) -> pl.DataFrame:
    return df.select(
        [pl.col(c).cast(t) if c in df.columns else pl.lit(None, dtype=t).alias(c) for c, t in schema.items()]
    )


def _curve_frame(base: dict[str, Any], cols: dict[str, np.ndarray], schema: dict[str, Any]) -> pl.DataFrame:
    """Curve rows built column-wise (they dominate the table size); NaN becomes null."""
    df = pl.DataFrame(
        {
            k: pl.Series(k, np.asarray(v), nan_to_null=True) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
            for k, v in cols.items()
        }
    )
    # one select: the stratum's constants, the arrays cast to the schema, the other columns null
    return df.select(
        [
            pl.lit(base[c], dtype=t).alias(c)
            if c in base
            else pl.col(c).cast(t)
            if c in cols
            else pl.lit(None, dtype=t).alias(c)
            for c, t in schema.items()
        ]
    )


def _rows_to_frame(
    rows: list[dict[str, Any]], schema: dict[str, Any], parts: list[pl.DataFrame] | None = None
) -> pl.DataFrame:
    frames = [pl.from_dicts(rows, schema=schema)] if rows else []
    frames += parts or []
    if not frames:
        return pl.DataFrame(schema=schema)
    # frames already in the schema (the curve frames) need no second cast
    return pl.concat([f if f.schema == pl.Schema(schema) else _conform(f, schema) for f in frames], how="vertical")


# ----------------------------------------------------------------------------------------------------------
# cumulative_incidence


AJ_METHOD = "Aalen-Johansen (own), cmprsk Aalen-type variance, log(-log) CI"
GRAY_METHOD = "Gray's test (own, as R cmprsk::cuminc), rho = 0"


def cumulative_incidence(
    adtte: pl.DataFrame,
    data_cutoff: dt.date,
    endpoints: dict[str, str] = CIF_ENDPOINTS,
    landmark_months: tuple[float, ...] = sv.LANDMARK_MONTHS,
    include_curve: bool = True,
    risk_table_months: tuple[float, ...] = sv.RISK_TABLE_MONTHS,
) -> pl.DataFrame:
    """Aalen-Johansen CIF (CNSR 0 event, 2 competing, 1 censored) per endpoint and stratum, with Gray's test."""
    rows: list[dict[str, Any]] = []
    parts: list[pl.DataFrame] = []
    for ep, competing in endpoints.items():
        prep = _prepare_adtte(adtte, ep, (0, 1, 2))
        if ep in CIF_LANDMARK_DAYS:
            q_all = np.asarray(CIF_LANDMARK_DAYS[ep], dtype=float)
        else:
            q_all = np.asarray(landmark_months, dtype=float) * sv.DAYS_PER_MONTH
        q_risk = np.asarray(risk_table_months, dtype=float) * sv.DAYS_PER_MONTH
        for var, level, sub in _sorted_strata(prep.data):
            t = sub["AVAL"].to_numpy()
            cnsr = sub["CNSR"].to_numpy()  # internal status: 0 event, 1 censored, 2 competing
            status = np.where(cnsr == 0, 1, np.where(cnsr == 2, 2, 0))
            e = sub["ENTRYT"].to_numpy()
            ci = cr.aalen_johansen(t, status, cause=1, entry=e)
            base = {
                "endpoint": ep,
                "stratum_variable": var,
                "stratum": level,
                "method": AJ_METHOD,
                "data_cutoff": data_cutoff,
                "competing_event": competing,
                "n": ci.n,
                "events": int((status == 1).sum()),
                "competing_events": int((status == 2).sum()),
                "person_years": float((t - e).sum()) / DAYS_PER_YEAR,
                "n_delayed_entry": int((e > 0).sum()),
                "n_excluded": prep.n_excluded,
                "note": prep.note,
            }
            for row_type, q_rows in (("landmark", q_all), ("risk_table", q_risk)):
                rows.extend(_cif_point_rows(base, row_type, ci, t, e, q_rows))
            if include_curve and ci.time.size:
                cols = {
                    "time_days": ci.time,
                    "time_months": ci.time / sv.DAYS_PER_MONTH,
                    "estimate": ci.estimate,
                    "std_error": np.sqrt(ci.variance),
                    "lower_95": ci.lower,
                    "upper_95": ci.upper,
                    "n_at_risk": ci.n_at_risk,
                    "n_event_at_time": ci.n_event,
                    "n_competing_at_time": ci.n_competing,
                    "n_censored_at_time": ci.n_censored,
                    "n_event_cum": np.cumsum(ci.n_event),
                    "n_competing_cum": np.cumsum(ci.n_competing),
                }
                parts.append(_curve_frame({**base, "row_type": "curve"}, cols, CIF_SCHEMA))
        rows.extend(_gray_rows(prep, ep, competing, data_cutoff))
    return _rows_to_frame(rows, CIF_SCHEMA, parts)


def _cif_point_rows(
    base: dict[str, Any], row_type: str, ci: cr.CumulativeIncidence, t: np.ndarray, e: np.ndarray, q: np.ndarray
) -> list[dict[str, Any]]:
    """Landmark or risk-table rows of one CIF: F(t), its CI, numbers at risk (delayed entry) and counts at q."""
    at = cr.cif_at(ci, q)
    nrisk = sv.number_at_risk(t, e, q)
    ecum = _cum_at(ci.time, ci.n_event, q)
    ccum = _cum_at(ci.time, ci.n_competing, q)
    out = []
    for i, qi in enumerate(q):
        var_i = at["variance"][i]
        out.append(
            {
                **base,
                "row_type": row_type,
                "time_days": float(qi),
                "time_months": float(qi) / sv.DAYS_PER_MONTH,
                "estimate": _nan_to_none(at["estimate"][i]),
                "std_error": _nan_to_none(np.sqrt(var_i)) if not np.isnan(var_i) else None,
                "lower_95": _nan_to_none(at["lower"][i]),
                "upper_95": _nan_to_none(at["upper"][i]),
                "n_at_risk": int(nrisk[i]),
                "n_event_cum": int(ecum[i]),
                "n_competing_cum": int(ccum[i]),
            }
        )
    return out


def _gray_row(
    sub: pl.DataFrame,
    var: str,
    stratum: str,
    note: str | None,
    prep: _Prepared,
    ep: str,
    competing: str,
    data_cutoff: dt.date,
) -> dict[str, Any]:
    levels = sub[var].unique().to_list()
    stat = dfree = p = None
    if note is None and len(levels) < 2:
        note = "not computed: fewer than two non-missing levels"
    elif note is None:
        res = cr.gray_test(sub["AVAL"].to_numpy(), sub["CNSR"].to_numpy(), sub[var], cause=1)  # labels stay polars
        stat, dfree, p = res.statistic, res.df, res.p_value
        if stat is None:
            note = "not computed: singular covariance"
    return {
        "endpoint": ep,
        "stratum_variable": var,
        "stratum": stratum,
        "method": GRAY_METHOD,
        "data_cutoff": data_cutoff,
        "competing_event": competing,
        "row_type": "gray_test",
        "n": sub.height,
        "events": int((sub["CNSR"] == 1).sum()),
        "competing_events": int((sub["CNSR"] == 2).sum()),
        "test_statistic": stat,
        "test_df": dfree if dfree is not None else max(len(levels) - 1, 0),
        "p_value": p,
        "n_excluded": prep.n_excluded,
        # a test not computed says only why: the exclusions are on the estimate rows (and a note must fit the
        # 200 bytes of a SAS transport v5 value; the release refuses a longer one)
        "note": "; ".join(x for x in (note, prep.note if stat is not None else None) if x) or None,
    }


def _gray_rows(prep: _Prepared, ep: str, competing: str, data_cutoff: dt.date) -> list[dict[str, Any]]:
    """Gray's test per stratifier. It has no left-truncated form: with delayed entry the test is reported on the
    prospectively registered patients (no delayed entry), labelled so, beside a null row stating why."""
    df = prep.data
    out: list[dict[str, Any]] = []
    if df.height == 0:
        return out
    # status for cr.gray_test: 1 event, 2 competing, 0 censored
    df = df.with_columns(pl.col("CNSR").replace_strict({0: 1, 1: 0, 2: 2}, return_dtype=pl.Int64).alias("CNSR"))
    delayed = bool((df["ENTRYT"] > 0).any())
    if "REGISTRATION" in df.columns:
        prospective = df.filter((pl.col("REGISTRATION") == PROSPECTIVE) & (pl.col("ENTRYT") == 0))
    else:
        prospective = df.filter(pl.col("ENTRYT") == 0)
    for var in STRATIFIERS:
        if var not in df.columns or var == "REGISTRATION":
            continue
        sub = df.filter(pl.col(var) != MISSING)
        if not delayed:
            out.append(_gray_row(sub, var, "all levels", None, prep, ep, competing, data_cutoff))
            continue
        out.append(
            _gray_row(
                sub,
                var,
                "all levels",
                "not computed: delayed entry present (Gray's test has no left-truncated form); see the "
                "'all levels (prospective registrations)' row",
                prep,
                ep,
                competing,
                data_cutoff,
            )
        )
        out.append(
            _gray_row(
                prospective.filter(pl.col(var) != MISSING),
                var,
                "all levels (prospective registrations)",
                None,
                prep,
                ep,
                competing,
                data_cutoff,
            )
        )
    return out


# ----------------------------------------------------------------------------------------------------------
# event_rates

RATE_METHOD = "events per 100 person-years, exact Poisson (Garwood) CI"


def event_rates(adtte: pl.DataFrame, data_cutoff: dt.date, endpoints: tuple[str, ...] = RATE_ENDPOINTS) -> pl.DataFrame:
    """Incidence of the first event per 100 person-years at risk (ENTRYT to AVAL), by stratum."""
    rows: list[dict[str, Any]] = []
    for ep in endpoints:
        prep = _prepare_adtte(adtte, ep, (0, 1, 2))
        for var, level, sub in _sorted_strata(prep.data):
            py = float((sub["AVAL"] - sub["ENTRYT"]).sum()) / DAYS_PER_YEAR
            events = int((sub["CNSR"] == 0).sum())
            r = rt.poisson_rate(events, py)
            rows.append(
                {
                    "endpoint": ep,
                    "stratum_variable": var,
                    "stratum": level,
                    "method": RATE_METHOD,
                    "data_cutoff": data_cutoff,
                    "n": sub.height,
                    "events": events,
                    "competing_events": int((sub["CNSR"] == 2).sum()),
                    "person_years": py,
                    "rate_per_100py": r.rate_per_100py,
                    "lower_95": r.lower,
                    "upper_95": r.upper,
                    "n_excluded": prep.n_excluded,
                    "note": prep.note,
                }
            )
    return _rows_to_frame(rows, RATE_SCHEMA)


# ----------------------------------------------------------------------------------------------------------
# proportions

CP_METHOD = "crude proportion, Clopper-Pearson exact CI"
MED_METHOD = "median (IQR), Hyndman-Fan type 7 quantiles"


def _patient_ae(adae: pl.DataFrame, infused: pl.DataFrame, cat: str) -> pl.DataFrame:
    ae = adae.filter(pl.col("AECAT") == cat).join(infused.select("USUBJID"), on="USUBJID", how="semi")
    grade = pl.col("ATOXGR").cast(pl.Float64)
    ae = ae.filter(grade.is_null() | (grade >= 1))

    def flag(c: str) -> pl.Expr:
        return (pl.col(c).cast(pl.Utf8) == "Y").any() if c in ae.columns else pl.lit(False)

    first = ae.sort(["USUBJID", "ASTDY"], nulls_last=True).group_by("USUBJID", maintain_order=True).first()
    per = ae.group_by("USUBJID").agg(
        pl.col("ATOXGR").cast(pl.Float64).max().alias("maxgr"),
        flag("AETOCI").alias("toci"),
        flag("AESTER").alias("ster"),
        flag("AEICU").alias("icu"),
        (pl.col("ICUDAYS").cast(pl.Float64).sum() if "ICUDAYS" in ae.columns else pl.lit(None, pl.Float64)).alias(
            "icudays"
        ),
    )
    per = per.with_columns(pl.lit(True).alias("has_ev"))
    return per.join(
        first.select(
            "USUBJID", pl.col("ASTDY").cast(pl.Float64).alias("onset"), pl.col("ADURN").cast(pl.Float64).alias("dur")
        ),
        on="USUBJID",
        how="left",
    )


def load_evaluability(path: str | None = None) -> dict[str, int]:
    """{toxicity: minimum days from infusion to the cut-off} from data/config/toxicity_evaluability.csv."""
    from kocartr.paths import CONFIG_DIR

    df = pl.read_csv(path or CONFIG_DIR / "toxicity_evaluability.csv")
    return {str(t): int(d) for t, d in zip(df["toxicity"], df["min_days_after_infusion"])}


@dataclass(frozen=True)
class Pending:
    """Patients with a row of one of a toxicity's forms pending in quarantine (an open site query): the toxicity
    occurred, its details are unknown. keys: USUBJID (patient_key); unkeyed: pending rows whose patient id itself
    is defective (no patient key: counted apart in the note)."""

    forms: tuple[str, ...]
    keys: frozenset[str]
    unkeyed: int = 0


# Quarantine rules whose row holds no pending information: duplicate_record is a later row with the record id of
# a row kept from the same file (kocartr/ingest/validate.py; the kept row is what the registry has for the record)
NOT_PENDING_RULES: tuple[str, ...] = ("duplicate_record",)


def load_pending_forms(path: str | None = None) -> dict[str, tuple[str, ...]]:
    """{toxicity: forms whose pending quarantined rows mean the toxicity occurred} (pending_forms column of
    data/config/toxicity_evaluability.csv, space-separated; empty = none)."""
    from kocartr.paths import CONFIG_DIR

    df = pl.read_csv(path or CONFIG_DIR / "toxicity_evaluability.csv", infer_schema_length=0)
    return {str(t): tuple((f or "").split()) for t, f in zip(df["toxicity"], df["pending_forms"])}


def read_pending(con: Any, month: str, forms: dict[str, tuple[str, ...]] | None = None) -> dict[str, Pending]:
    """{toxicity: Pending} from audit.quarantine as of registry month ``month``: the rows whose site query is
    still open (kocartr.feedback.queries.pending_quarantine: not superseded by the same record accepted in a later
    month), with the patient key ingest wrote on them; rows failing a NOT_PENDING_RULES rule left out."""
    from kocartr.feedback.queries import pending_quarantine

    forms = load_pending_forms() if forms is None else forms
    rows = pending_quarantine(con, month)
    if rows.height == 0:
        return {t: Pending(f, frozenset()) for t, f in forms.items() if f}
    keys = con.sql("select distinct source_file, source_row, patient_key from audit.quarantine").pl()
    dups = con.sql(  # a row failing NOT_PENDING_RULES is no pending information, whatever else it fails
        "select distinct source_file, source_row from audit.quarantine where list_contains($r, rule)",
        params={"r": list(NOT_PENDING_RULES)},
    ).pl()
    rows = (
        rows.select("form", "source_file", "source_row")
        .unique()
        .join(dups, on=["source_file", "source_row"], how="anti")
        .join(keys, on=["source_file", "source_row"], how="left")
    )
    out = {}
    for tox, fs in forms.items():
        if fs:
            sub = rows.filter(pl.col("form").is_in(list(fs)))
            out[tox] = Pending(
                fs, frozenset(sub["patient_key"].drop_nulls().to_list()), int(sub["patient_key"].null_count())
            )
    return out


def _evaluable(adsl: pl.DataFrame, data_cutoff: dt.date, min_days: int) -> pl.Expr:
    """Infused at least ``min_days`` before the cut-off (TRTSDT missing: evaluable, nothing to judge by)."""
    if "TRTSDT" not in adsl.columns or min_days <= 0:
        return pl.lit(True)
    last = data_cutoff - dt.timedelta(days=min_days)
    return pl.col("TRTSDT").cast(pl.Date).is_null() | (pl.col("TRTSDT").cast(pl.Date) <= pl.lit(last))


def icaht_phases(adae: pl.DataFrame) -> pl.DataFrame:
    """ADAE with the derived ICAHT rows split by phase: AECAT 'ICAHT' + AEDECOD 'ICAHT EARLY' / 'ICAHT LATE' become
    AECAT 'ICAHT_EARLY' / 'ICAHT_LATE', so early (day 0-30) and late (after day 30) ICAHT are graded apart as in
    the EHA/EBMT consensus (Rejeski et al., Blood 2023;142:865-877)."""
    if "AEDECOD" not in adae.columns:
        return adae
    phase = pl.col("AEDECOD").cast(pl.Utf8).str.to_uppercase().str.replace("ICAHT ", "ICAHT_")
    return adae.with_columns(pl.when(pl.col("AECAT") == "ICAHT").then(phase).otherwise(pl.col("AECAT")).alias("AECAT"))


def _append_proportions(
    rows: list[dict[str, Any]], base: dict[str, Any], counts: dict[str, tuple[int, int]], note: str | None, why: str
) -> None:
    """counts: {measure: (events, patients with a pending row whose value of the measure is unknown)}; those are
    left out of the row's n and counted in its n_not_evaluable, ``why`` in the note."""
    for measure, (k, unknown) in counts.items():
        n = base["n"] - unknown
        p = rt.clopper_pearson(k, n)
        rows.append(
            {
                **base,
                "n": n,
                "n_not_evaluable": base["n_not_evaluable"] + unknown,
                "method": CP_METHOD,
                "measure": measure,
                "events": k,
                "proportion": p.proportion,
                "lower_95": p.lower,
                "upper_95": p.upper,
                "note": "; ".join(x for x in (note, f"{unknown} {why}" if unknown else None) if x) or None,
            }
        )


def _evaluability_note(lag: int, n_lag: int, n_pend: int, pend: Pending | None) -> str | None:
    """Why patients are left out of a toxicity's denominator (reporting lag) or counted as events (a form row
    pending in quarantine)."""
    parts = []
    if lag:
        parts.append(
            f"denominator: infused at least {lag} days before the cut-off (reporting lag); "
            f"{n_lag} infused patients not evaluable yet"
        )
    if pend is not None and (n_pend or pend.unkeyed):
        parts.append(
            f"{n_pend} with their {'/'.join(pend.forms)} form row pending in quarantine (open site query) counted "
            "as having the toxicity (a row exists only when it occurred)"
            + (f"; {pend.unkeyed} pending rows with a defective patient id, patient unknown" if pend.unkeyed else "")
        )
    return "; ".join(parts) or None


def _median_rows(base: dict[str, Any], sub: pl.DataFrame, has: np.ndarray, why: str) -> list[dict[str, Any]]:
    """Onset day, duration and ICU days: median and IQR over the patients with the event (ICU: admitted), none with
    a pending row (its episode's onset, duration or ICU days are unknown: counted beside n, ``why`` in the note)."""
    pend = sub["_pend"].to_numpy()
    has = has & ~pend
    icu_mask = sub["icu"].fill_null(False).to_numpy() & ~pend
    n_pend = int(pend.sum())
    out = []
    for measure, vals, note in (
        ("onset_day", sub["onset"].to_numpy()[has], "patients with the event; ASTDY of the first episode"),
        ("duration_days", sub["dur"].to_numpy()[has], "patients with the event; ADURN of the first episode"),
        ("icu_days", sub["icudays"].to_numpy()[icu_mask], "patients admitted to ICU; sum of ICUDAYS"),
    ):
        m = rt.median_iqr(np.asarray(vals, dtype=float))
        out.append(
            {
                **base,
                "n": base["n"] - n_pend,
                "n_not_evaluable": base["n_not_evaluable"] + n_pend,
                "method": MED_METHOD,
                "measure": measure,
                "events": int(has.sum()) if measure != "icu_days" else int(icu_mask.sum()),
                "n_values": m.n,
                "median": m.median,
                "q1": m.q1,
                "q3": m.q3,
                "minimum": m.minimum,
                "maximum": m.maximum,
                "note": note + (f"; {n_pend} {why}" if n_pend else ""),
            }
        )
    return out


def _measure_counts(sub: pl.DataFrame, lab_graded: bool) -> dict[str, tuple[int, int]]:
    """{measure: (events, patients whose value is unknown)}. A patient with a pending row (_pend) had the toxicity
    (a row exists only then), so any grade = yes and max grade 0 = no; any other measure is known only when the
    accepted rows settle it whatever the pending row says: grade >= 3 or a treatment already shown = yes, an
    accepted grade above g = max grade g no, accepted grade 5 = max grade 5 yes, any known grade = not unknown."""
    pend = sub["_pend"].to_numpy()
    acc = sub["maxgr"].to_numpy()  # accepted rows' max grade (NaN: none, or none graded)
    has = sub["has_ev"].fill_null(False).to_numpy() | pend
    maxgr = np.where(pend & (acc < 5), np.nan, acc)  # with a pending row the max is known only at grade 5
    known = ~pend

    def count(value: np.ndarray, settled: np.ndarray) -> tuple[int, int]:
        ok = known | settled
        return int((value & ok).sum()), int((~ok).sum())

    out = {
        "any_grade": count(has, pend),
        "grade_ge3": count(acc >= 3, acc >= 3),
        "max_grade_0": count(~has, pend),
    }
    for g in range(1, 6):
        out[f"max_grade_{g}"] = count(maxgr == g, (acc > g) | ((g == 5) & (acc == 5)))
    out["max_grade_unknown"] = count(has & np.isnan(acc), ~np.isnan(acc))
    if not lab_graded:
        for measure, col in (("tocilizumab", "toci"), ("steroids", "ster"), ("icu", "icu")):
            flag = sub[col].fill_null(False).to_numpy()
            out[measure] = count(flag, flag)
    return out


def _toxicity_strata(
    adsl: pl.DataFrame, data_cutoff: dt.date, lag: int, pend: Pending | None
) -> tuple[pl.DataFrame, list[tuple[str, str, pl.DataFrame, int, int]]]:
    """Evaluable infused patients (PRODUCT as text, _pend: a row pending in quarantine) and the strata (variable,
    level, evaluable patients, not evaluable for the lag, evaluable with a pending row). Lag comes first: a patient
    infused too recently counts there even with a pending row."""
    keys = list(pend.keys) if pend is not None else []
    flagged = adsl.filter(pl.col("INFFL") == "Y").select(
        "USUBJID",
        _as_str(pl.col("PRODUCT"), adsl.schema["PRODUCT"]).alias("PRODUCT"),
        _evaluable(adsl, data_cutoff, lag).alias("_eval"),
        pl.col("USUBJID").cast(pl.Utf8).is_in(keys).alias("_pend"),
    )
    infused = flagged.filter(pl.col("_eval")).drop("_eval")
    lagged = flagged.filter(~pl.col("_eval"))
    pending = flagged.filter(pl.col("_eval") & pl.col("_pend"))
    strata: list[tuple[str, str, pl.DataFrame, int, int]] = [
        ("overall", "overall", infused, lagged.height, pending.height)
    ]
    order = lambda xs: sorted(set(xs), key=lambda x: (x == MISSING, x))  # noqa: E731
    seen = order(infused["PRODUCT"].to_list())  # levels with evaluable patients first, then the others
    levels = seen + order(set(flagged["PRODUCT"].to_list()) - set(seen))
    for level in levels:
        strata.append(
            (
                "PRODUCT",
                str(level),
                infused.filter(pl.col("PRODUCT") == level),
                int((lagged["PRODUCT"] == level).sum()),
                int((pending["PRODUCT"] == level).sum()),
            )
        )
    return infused, strata


def proportions(
    adae: pl.DataFrame,
    adsl: pl.DataFrame,
    data_cutoff: dt.date,
    min_days: dict[str, int] | None = None,
    pending: dict[str, Pending] | None = None,
) -> pl.DataFrame:
    """CRS / ICANS / early and late ICAHT proportions with Clopper-Pearson CIs, grade distribution, onset/duration,
    resource use, over the patients evaluable for the toxicity (infused at least min_days[toxicity] days before the
    cut-off). A patient with a row of the toxicity's forms pending in quarantine (``pending``, from read_pending)
    had the toxicity: an event for any grade, not evaluable for the measures its row would settle
    (_measure_counts)."""
    min_days, pending = min_days or {}, pending or {}
    adae = icaht_phases(adae)
    rows: list[dict[str, Any]] = []
    for cat in AE_CATEGORIES:
        lag, pend = int(min_days.get(cat, 0)), pending.get(cat)
        infused, strata = _toxicity_strata(adsl, data_cutoff, lag, pend)
        pts = infused.join(_patient_ae(adae, infused, cat), on="USUBJID", how="left")
        for var, level, evaluable, n_lag, n_pend in strata:
            sub = pts.join(evaluable.select("USUBJID"), on="USUBJID", how="semi")
            n = sub.height
            note = _evaluability_note(lag, n_lag, n_pend, pend)
            base = {
                "endpoint": cat,
                "stratum_variable": var,
                "stratum": level,
                "data_cutoff": data_cutoff,
                "n": n,
                "n_not_evaluable": n_lag,
                "min_days_after_infusion": lag,
            }
            if n == 0:
                why = f"no evaluable patient: all {n_lag} infused fewer than {lag} days before the cut-off "
                why += "(reporting lag)"
                rows.append({**base, "method": CP_METHOD, "measure": "any_grade", "events": 0, "note": why})
                continue
            unknown = (
                f"with their {'/'.join(pend.forms)} form row pending in quarantine not evaluable for this measure "
                "(the row's content is unknown)"
                if pend is not None
                else ""
            )
            _append_proportions(rows, base, _measure_counts(sub, cat in DERIVED_FROM_LABS), note, unknown)
            if cat not in DERIVED_FROM_LABS:  # graded from the lab series: no onset, duration or treatment to report
                rows.extend(_median_rows(base, sub, sub["has_ev"].fill_null(False).to_numpy(), unknown))
    return _rows_to_frame(rows, PROPORTION_SCHEMA)


RESPONSE_WINDOWS: tuple[str, ...] = _PLAN.response_windows


def response_rates(adrs: pl.DataFrame, data_cutoff: dt.date) -> pl.DataFrame:
    """CR rate and overall response rate (PR or better) by day 90 / 180 from adam.adrs (the one best-response
    definition), Clopper-Pearson CIs. Denominator: infused patients whose window has ended by the cut-off
    (WINDCMFL = 'Y'); a not-evaluable best response (AVALC = NE) stays in the denominator as a non-responder, as
    in an intention-to-treat response rate, and is counted beside (measure 'not_evaluable')."""
    rows: list[dict[str, Any]] = []
    for window in RESPONSE_WINDOWS:
        w = adrs.filter((pl.col("PARAMCD") == "BOR") & (pl.col("AVISIT") == window))
        if w.height == 0:
            continue
        w = w.with_columns(_as_str(pl.col("PRODUCT"), w.schema["PRODUCT"]).alias("PRODUCT"))
        by = ["PRODUCT"]
        if "DISGRP" in w.columns:  # response criteria differ by disease: also by disease group, and product within it
            w = w.with_columns(_as_str(pl.col("DISGRP"), w.schema["DISGRP"]).alias("DISGRP"))
            w = w.with_columns(pl.concat_str("DISGRP", pl.lit("/"), "PRODUCT").alias("DISGRP/PRODUCT"))
            by += ["DISGRP", "DISGRP/PRODUCT"]
        done = w.filter(pl.col("WINDCMFL") == "Y")
        strata = [("overall", "overall", done, w.height - done.height)]
        for var in by:
            for (level,), sub in sorted(
                done.partition_by(var, as_dict=True).items(), key=lambda kv: (kv[0][0] == MISSING, kv[0][0])
            ):
                strata.append((var, str(level), sub, int(((w[var] == level) & (w["WINDCMFL"] != "Y")).sum())))
        for var, level, sub, n_not in strata:
            n = sub.height
            for measure, k in (
                ("cr_rate", int((sub["CRFL"] == "Y").sum())),
                ("orr", int((sub["RSPFL"] == "Y").sum())),
                ("not_evaluable", int((sub["AVALC"] == "NE").sum())),
            ):
                p = rt.clopper_pearson(k, n)
                rows.append(
                    {
                        "endpoint": f"RESPONSE_{window}",
                        "stratum_variable": var,
                        "stratum": level,
                        "method": CP_METHOD,
                        "data_cutoff": data_cutoff,
                        "measure": measure,
                        "n": n,
                        "n_not_evaluable": n_not,
                        "min_days_after_infusion": int(window[1:]),
                        "events": k,
                        "proportion": p.proportion,
                        "lower_95": p.lower,
                        "upper_95": p.upper,
                        "note": f"infused patients whose day-{window[1:]} window ended by the cut-off; "
                        f"{n_not} with the window still open not counted",
                    }
                )
    return _rows_to_frame(rows, PROPORTION_SCHEMA)


def with_registration(adtte: pl.DataFrame, adsl: pl.DataFrame) -> pl.DataFrame:
    """adtte + REGISTRATION from adsl REGLATFL: 'prospective' (registered on or before day 0) or 'late'."""
    if "REGLATFL" not in adsl.columns or "REGISTRATION" in adtte.columns:
        return adtte
    reg = adsl.select(
        "USUBJID",
        pl.when(pl.col("REGLATFL") == "Y")
        .then(pl.lit("late"))
        .when(pl.col("REGLATFL") == "N")
        .then(pl.lit(PROSPECTIVE))
        .otherwise(None)
        .alias("REGISTRATION"),
    )
    return adtte.join(reg, on="USUBJID", how="left")


def build_all(
    adtte: pl.DataFrame,
    adsl: pl.DataFrame,
    adae: pl.DataFrame,
    data_cutoff: dt.date,
    min_days: dict[str, int] | None = None,
    adrs: pl.DataFrame | None = None,
    late: Any = None,
    pending: dict[str, Pending] | None = None,
) -> dict[str, pl.DataFrame]:
    """All analysis tables keyed by their table name in schema ``analysis``. ``min_days``: toxicity
    evaluability (default: data/config/toxicity_evaluability.csv); ``adrs``: response rates into proportions;
    ``pending``: patients with a toxicity form row pending in quarantine (read_pending): events for any grade, not
    evaluable for the measures the pending row would settle.
    Disease groups and products are stratified as published (publication_recoding_table: the plan's recoding)."""
    mapping = publication_recoding_table(adsl)
    adsl, adtte, adae = (recode.apply_recoding(f, mapping) for f in (adsl, adtte, adae))
    adrs = recode.apply_recoding(adrs, mapping) if adrs is not None else None
    adtte = with_registration(adtte, adsl)
    props = proportions(adae, adsl, data_cutoff, load_evaluability() if min_days is None else min_days, pending)
    if adrs is not None and adrs.height:
        props = pl.concat([props, response_rates(adrs, data_cutoff)], how="vertical")
    from analyses.late_effects import build_late  # late-effect tables; ``late``: its LateInputs

    return {
        "survival_estimates": survival_estimates(adtte, data_cutoff),
        "cumulative_incidence": cumulative_incidence(adtte, data_cutoff),
        "event_rates": event_rates(adtte, data_cutoff),
        "proportions": props,
        "median_followup": median_followup(adtte, data_cutoff),
        **build_late(adtte, adsl, adae, data_cutoff, late),
        "sir": sir_table(adtte, adsl, data_cutoff),
        "publication_recoding": mapping,
    }


def publication_recoding_table(adsl: pl.DataFrame) -> pl.DataFrame:
    """analysis.publication_recoding: the disease group and product categories as published (the analysis plan's
    table redesign, analyses/recoding.py), one row per (DISGRP, PRODUCT) pair of adsl with the rule that moved it."""
    return recode.recoding_map(adsl, _PLAN.recoding)
