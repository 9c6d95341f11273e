"""Median follow-up by the reverse Kaplan-Meier method (table ``analysis.median_followup``).

Method (Schemper & Smith, Control Clin Trials 1996;17:343): the Kaplan-Meier estimator with the censoring
indicator reversed, so that being alive at last contact is the "event" and death censors. Its median is the
median potential follow-up: how long patients would have been followed had none died. It is what CIBMTR / EBMT
reports and HTA submissions quote as "median follow-up of survivors".

- Analysis set: the OS analysis set of adam.adtte (PARAMCD = 'OS', first infusion per patient, the same
  exclusions as survival_estimates, counted in ``n_excluded``), so N equals the OS table's N.
- Time: AVAL, days from infusion (day 0) to death or last contact. The reverse KM runs from day 0 without
  delayed entry: follow-up is the time from infusion to the data's end, whenever the patient was registered.
- Median, its 95% CI (Brookmeyer-Crowley from the log(-log) band) and the quartiles (IQR) by R survival's
  quantile rule (analyses.survival.quantile_r), so they equal R's
  ``quantile(survfit(Surv(AVAL, 1 - event) ~ 1, conf.type = "log-log"))``; a quantile never reached is null.
- Strata as every analysis table: 'overall', then PRODUCT, DISGRP, SITEID, INFYEAR, REGISTRATION.

Columns: endpoint ('OS'), stratum_variable, stratum, method, data_cutoff, n, n_alive (censored on OS = reverse
events), n_dead, median_months, lower_95, upper_95 (months), q1_months, q3_months, max_months (longest observed
follow-up), n_excluded, note.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from analyses import survival as sv

FOLLOWUP_ENDPOINT: str = "OS"
METHOD: str = (
    "reverse Kaplan-Meier (Schemper & Smith 1996; death censors), median with Brookmeyer-Crowley log(-log) CI, "
    "quartiles by R survival's quantile rule"
)

SCHEMA: dict[str, Any] = {
    "endpoint": pl.Utf8,
    "stratum_variable": pl.Utf8,
    "stratum": pl.Utf8,
    "method": pl.Utf8,
    "data_cutoff": pl.Date,
    "n": pl.Int64,
    "n_alive": pl.Int64,
    "n_dead": pl.Int64,
    "median_months": pl.Float64,
    "lower_95": pl.Float64,
    "upper_95": pl.Float64,
    "q1_months": pl.Float64,
    "q3_months": pl.Float64,
    "max_months": pl.Float64,
    "n_excluded": pl.Int64,
    "note": pl.Utf8,
}


def _months(days: float | None) -> float | None:
    return None if days is None else days / sv.DAYS_PER_MONTH


def reverse_km_summary(time_days: np.ndarray, died: np.ndarray) -> dict[str, float | int | None]:
    """Reverse-KM median (95% CI), quartiles and maximum, in months, of one group."""
    t = np.asarray(time_days, dtype=float)
    dead = np.asarray(died).astype(bool)
    out: dict[str, float | int | None] = {"n": int(t.size), "n_alive": int((~dead).sum()), "n_dead": int(dead.sum())}
    if t.size == 0:
        return out | dict.fromkeys(("median_months", "lower_95", "upper_95", "q1_months", "q3_months", "max_months"))
    curve = sv.kaplan_meier(t, (~dead).astype(int))  # alive at last contact = the reverse "event"
    med = sv.median_survival(curve)
    q = {p: sv.quantile_r(curve.time, curve.estimate, curve.max_time, p) for p in (0.25, 0.75)}
    return out | {
        "median_months": _months(med.median),
        "lower_95": _months(med.lower),
        "upper_95": _months(med.upper),
        "q1_months": _months(q[0.25]),
        "q3_months": _months(q[0.75]),
        "max_months": _months(float(t.max())),
    }


def median_followup(adtte: pl.DataFrame, data_cutoff: dt.date) -> pl.DataFrame:
    """One row per stratum of the OS analysis set (see the module docstring)."""
    from analyses.outcomes import _prepare_adtte, _sorted_strata  # the one definition of the analysis set

    prep = _prepare_adtte(adtte, FOLLOWUP_ENDPOINT, (0, 1))
    rows = []
    for var, level, sub in _sorted_strata(prep.data):
        s = reverse_km_summary(sub["AVAL"].to_numpy(), sub["CNSR"].to_numpy() == 0)
        rows.append(
            {
                "endpoint": FOLLOWUP_ENDPOINT,
                "stratum_variable": var,
                "stratum": level,
                "method": METHOD,
                "data_cutoff": data_cutoff,
                **s,
                "n_excluded": prep.n_excluded,
                "note": prep.note,
            }
        )
    return pl.from_dicts(rows, schema=SCHEMA) if rows else pl.DataFrame(schema=SCHEMA)
