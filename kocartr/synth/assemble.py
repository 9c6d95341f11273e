"""FormRows -> a polars frame of submission strings, typed by the dictionary, with the registry month of each row.

Meta columns (dropped before writing): _site (index), _month (month index), _ord (order within the file).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from kocartr.dictionary import Dictionary
from kocartr.synth import params as P
from kocartr.synth.cohort import NEVER, Cohort, day_to_month, month_label
from kocartr.synth.forms import FormRows

META = ("_site", "_month", "_ord")


def record_prefix(form: str) -> str:
    return "".join(w[0] for w in form.split("_")).upper() if "_" in form else form[:3].upper()


def submission_month(c: Cohort, rows: FormRows, rng: np.random.Generator) -> np.ndarray:
    """The month a site sends the row: after the event plus a reporting lag, never before enrolment
    (retrospective patients send everything earlier in their enrolment month)."""
    lag = rng.integers(P.LAG_DAYS[0], P.LAG_DAYS[1] + 1, len(rows.pidx))
    m = day_to_month(rows.report_day + lag)
    return np.maximum(m, day_to_month(c.enrol_day[rows.pidx]))


def _as_strings(d: Dictionary, form: str, name: str, arr: np.ndarray | pl.Series, decimals) -> pl.Series:
    f = next(x for x in d.all_fields(form) if x.name == name)
    if f.type == "date":
        a = pl.Series(name, np.asarray(arr, dtype=np.int64))
        return pl.select(pl.when(a < NEVER).then(a.cast(pl.Int32).cast(pl.Date).cast(pl.Utf8)).alias(name)).to_series()
    if f.type in ("integer", "decimal"):
        vals = np.asarray(arr, dtype=float)
        if f.type == "integer":
            return pl.Series(name, vals).fill_nan(None).cast(pl.Int64).cast(pl.Utf8)
        dec = np.broadcast_to(np.asarray(decimals if decimals is not None else 2), vals.shape)
        out = pl.Series(name, np.round(vals, 2)).fill_nan(None)
        as_int = pl.Series(name, np.round(vals)).fill_nan(None).cast(pl.Int64).cast(pl.Utf8)
        one = pl.Series(name, np.round(vals, 1)).fill_nan(None).cast(pl.Utf8)
        return pl.select(
            pl.when(pl.Series(dec) == 0)
            .then(as_int)
            .when(pl.Series(dec) == 1)
            .then(one)
            .otherwise(out.cast(pl.Utf8))
            .alias(name)
        ).to_series()
    s = arr.alias(name) if isinstance(arr, pl.Series) else pl.Series(name, np.asarray(arr, dtype=object), dtype=pl.Utf8)
    return pl.select(pl.when(s == "").then(None).otherwise(s).alias(name)).to_series()


def _month_labels(month: np.ndarray) -> pl.Series:
    uniq = np.unique(month)
    return pl.Series([month_label(int(m)) for m in uniq], dtype=pl.Utf8).gather(np.searchsorted(uniq, month))


def to_frame(
    d: Dictionary,
    form: str,
    c: Cohort,
    rows: FormRows,
    month: np.ndarray,
    last_month: int,
    ord_offset: int = 0,
    suffix: str = "",
) -> pl.DataFrame:
    """Columns exactly the dictionary's, in its order; rows submitted after `last_month` are dropped."""
    own = {f.name for f in d.form(form).fields}
    unknown = set(rows.cols) - own
    if unknown:
        raise KeyError(f"{form}: builder made columns the dictionary does not have: {sorted(unknown)}")
    keep = month <= last_month
    pidx = rows.pidx[keep]
    n = len(pidx)
    # record_id: patient + form prefix + sequence of the patient's rows in this form (stable, unique per site).
    first = np.r_[True, pidx[1:] != pidx[:-1]] if n else np.zeros(0, bool)
    starts = np.maximum.accumulate(np.where(first, np.arange(n), 0)) if n else np.zeros(0, int)
    seq = np.arange(n) - starts + 1
    pid = pl.Series(c.patient_id.astype(str)).gather(pidx)
    cols: dict[str, pl.Series] = {
        "site_code": pl.Series(c.sites).gather(c.site[pidx]),
        "patient_id": pid,
        "record_id": pid + f"-{record_prefix(form)}{suffix}" + pl.Series(seq).cast(pl.Utf8),
        "submission_month": _month_labels(month[keep]),
        "action": pl.Series([None] * n, dtype=pl.Utf8),
    }
    for f in d.form(form).fields:
        if f.name in rows.cols:
            dec = rows.decimals.get(f.name)
            if isinstance(dec, np.ndarray):
                dec = dec[keep]
            v = rows.cols[f.name]
            v = v[keep] if isinstance(v, np.ndarray) else v.filter(keep)
            cols[f.name] = _as_strings(d, form, f.name, v, dec)
        else:
            cols[f.name] = pl.Series([None] * n, dtype=pl.Utf8)
    df = pl.DataFrame({name: cols[name].alias(name) for name in d.columns(form)})
    return df.with_columns(
        pl.Series("_site", c.site[pidx].astype(np.int64)),
        pl.Series("_month", month[keep].astype(np.int64)),
        pl.Series("_ord", np.arange(n, dtype=np.int64) + ord_offset),
    )
