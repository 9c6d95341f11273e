"""Standardized incidence ratio (SIR) of secondary malignancies against population incidence.

SIR = observed / expected. Observed: first new malignancy after infusion (adam.adtte SPM; SPM_TCELL for T-cell
neoplasms), events on or before registry entry excluded (PREENTFL). Expected: person-years at risk from entry
(STARTDT + ENTRYT; day 0 = infusion) to ADT (the malignancy, death or censoring), split by calendar year and
5-year age group (age in a calendar year = year - BIRTHYR, ADSL), times the population rate for the patient's sex,
age group and year (data/config/population_cancer_rates.csv, per 100,000 person-years; the shipped table is
synthetic). One year = 365.25 days. CI: exact Poisson for the observed count (Garwood, Biometrika 1936;28:437):
lower = chi2^-1(alpha/2; 2O) / 2E (0 when O = 0), upper = chi2^-1(1 - alpha/2; 2O + 2) / 2E (Breslow & Day,
Statistical Methods in Cancer Research II, IARC 1987, ch. 2). Overall, by product and per malignancy category.
n_excluded counts pre-entry events and patients without sex or birth year (no population rate applies).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from kocartr.paths import CONFIG_DIR

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

DAYS_PER_YEAR: float = 365.25
RATES_FILE: Path = CONFIG_DIR / "population_cancer_rates.csv"
METHOD: str = "SIR vs population rates by sex, 5-year age group, calendar year; exact Poisson CI (Garwood)"
# adtte parameter -> reference category of the population table
CATEGORIES: dict[str, str] = {"SPM": "ALL_SITES", "SPM_TCELL": "T_CELL_NEOPLASM"}
ADTTE_NEEDS = {"USUBJID", "PARAMCD", "STARTDT", "ADT", "CNSR", "PREENTFL", "ENTRYT", "PRODUCT"}
SCHEMA: dict[str, PolarsDataType] = {
    "endpoint": pl.String,
    "stratum_variable": pl.String,
    "stratum": pl.String,
    "method": pl.String,
    "data_cutoff": pl.Date,
    "malignancy_category": pl.String,
    "n": pl.Int64,
    "observed": pl.Int64,
    "expected": pl.Float64,
    "person_years": pl.Float64,
    "sir": pl.Float64,
    "lower_95": pl.Float64,
    "upper_95": pl.Float64,
    "n_excluded": pl.Int64,
    "reference_source": pl.String,
}


def garwood(observed: int, expected: float, conf_level: float = 0.95) -> tuple[float | None, float | None]:
    """Exact Poisson CI of observed / expected (None when nothing is expected)."""
    from scipy.stats import chi2

    if expected <= 0:
        return None, None
    a = 1 - conf_level
    lower = 0.0 if observed == 0 else float(chi2.ppf(a / 2, 2 * observed)) / 2
    return lower / expected, float(chi2.ppf(1 - a / 2, 2 * observed + 2)) / 2 / expected


def load_rates(path: Path = RATES_FILE) -> pl.DataFrame:
    return pl.read_csv(path, schema_overrides={"rate_per_100k": pl.Float64})


def person_time_cells(intervals: pl.DataFrame) -> pl.DataFrame:
    """Split each patient's at-risk interval [start, end) by calendar year: one row per patient and year with the
    days at risk, the age group (year - birth year, 5-year groups, 85+) and sex. Rows in interval order, then year
    (column-wise: one list of years per interval, exploded)."""
    year = pl.col("calendar_year")
    lo = pl.max_horizontal(pl.col("start"), pl.date(year, 1, 1))
    hi = pl.min_horizontal(pl.col("end"), pl.date(year + 1, 1, 1))
    years = pl.int_ranges(pl.col("start").dt.year(), pl.col("end").dt.year() + 1, dtype=pl.Int64)
    return (
        intervals.select("USUBJID", pl.col("SEX").alias("sex"), "BIRTHYR", "start", "end", years.alias("calendar_year"))
        .explode("calendar_year")  # an interval ending before its start year gives a null year, dropped below
        .filter(hi > lo)
        .select(
            pl.col("USUBJID").cast(pl.String),
            pl.col("sex").cast(pl.String),
            year,
            pl.min_horizontal((year - pl.col("BIRTHYR")) // 5 * 5, 85).cast(pl.Int64).alias("age_group_start"),
            (hi - lo).dt.total_days().cast(pl.Int64).alias("days"),
        )
    )


def _intervals(adtte: pl.DataFrame, adsl: pl.DataFrame, paramcd: str) -> tuple[pl.DataFrame, int]:
    """At-risk intervals of one parameter (pre-entry events excluded) with sex and birth year."""
    rows = adtte.filter(pl.col("PARAMCD") == paramcd)
    kept = rows.filter(pl.col("PREENTFL") != "Y")
    out = kept.join(adsl.select("USUBJID", "SEX", "BIRTHYR"), on="USUBJID", how="left").select(
        "USUBJID",
        "SEX",
        "BIRTHYR",
        "PRODUCT",
        (pl.col("STARTDT") + pl.duration(days=pl.col("ENTRYT").cast(pl.Int64))).alias("start"),
        pl.col("ADT").alias("end"),
        (pl.col("CNSR") == 0).fill_null(False).alias("event"),
    )
    # without sex or birth year no population rate applies: left out and counted with the pre-entry events
    usable = out.drop_nulls(["SEX", "BIRTHYR", "start", "end"])
    return usable, rows.height - usable.height


def _row(ep: str, var: str, level: str, cat: str, sub: pl.DataFrame, cells: pl.DataFrame, source: str) -> dict:
    mine = cells.filter(pl.col("USUBJID").is_in(sub["USUBJID"].implode()))
    # fsum: exactly rounded whatever the row order (ADTTE is read unordered; a plain sum changed in the last
    # digits from run to run, and with it the release fingerprint)
    expected = math.fsum((mine["days"] * mine["rate_per_100k"]).to_list()) / DAYS_PER_YEAR / 100_000
    observed = int(sub["event"].sum())
    lo, hi = garwood(observed, expected)
    return {
        "endpoint": ep,
        "stratum_variable": var,
        "stratum": level,
        "method": METHOD,
        "malignancy_category": cat,
        "n": sub.height,
        "observed": observed,
        "expected": expected,
        "person_years": float(mine["days"].sum()) / DAYS_PER_YEAR,
        "sir": observed / expected if expected > 0 else None,
        "lower_95": lo,
        "upper_95": hi,
        "reference_source": source,
    }


def sir_table(
    adtte: pl.DataFrame, adsl: pl.DataFrame, data_cutoff: dt.date, rates: pl.DataFrame | None = None
) -> pl.DataFrame:
    """analysis.sir: SIR overall and by product, per malignancy category (SPM: all sites; SPM_TCELL: T-cell)."""
    if not ADTTE_NEEDS <= set(adtte.columns) or not {"SEX", "BIRTHYR"} <= set(adsl.columns):
        return pl.DataFrame(schema=SCHEMA)  # a reduced ADaM (unit tests of other tables): nothing to standardize
    rates = load_rates() if rates is None else rates
    out = []
    for ep, cat in CATEGORIES.items():
        ivals, n_excluded = _intervals(adtte, adsl, ep)
        ref = rates.filter(pl.col("category") == cat)
        cells = person_time_cells(ivals).join(
            ref.select("sex", "calendar_year", "age_group_start", "rate_per_100k"),
            on=["sex", "calendar_year", "age_group_start"],
            how="left",
        )
        missing = cells.filter(pl.col("rate_per_100k").is_null())
        if missing.height:  # a gap in the reference table would understate the expected count silently
            raise ValueError(f"population_cancer_rates has no {cat} rate for {missing.row(0)[1:4]} (sex, year, age)")
        source = "; ".join(sorted(set(ref["source"].to_list())))
        groups = [("overall", "overall", ivals)] + [
            ("PRODUCT", str(p), ivals.filter(pl.col("PRODUCT") == p))
            for p in sorted(ivals["PRODUCT"].unique().drop_nulls())
        ]
        for var, level, sub in groups:
            out.append(_row(ep, var, level, cat, sub, cells, source) | {"n_excluded": n_excluded})
    return pl.DataFrame([r | {"data_cutoff": data_cutoff} for r in out], schema=SCHEMA)
