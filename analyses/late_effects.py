"""Late-effect analysis tables (schema ``analysis``): landmark prevalence of prolonged cytopenia, B-cell aplasia,
low IgG, CD4 lymphopenia and IVIG use; infection rates by window and organism class; cumulative incidence of
B-cell recovery and of the first severe infection; pregnancy outcome counts; days alive and out of hospital.

Definitions and references: dbt_project/models/adam/endpoints.md ("Late effects"). Inputs are polars frames
(``LateInputs``; ``read_inputs`` reads them from the warehouse, skipping a table that does not exist yet), days
are counted from the first infusion (adsl TRTSDT, day 0). Strata: overall, PRODUCT, DISGRP. Exact CIs:
Clopper-Pearson for proportions, Garwood (exact Poisson) for rates; every row carries the counts behind it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from analyses import outcomes as oc
from analyses import rates as rt
from analyses.plan import MISSING

STRATA: tuple[str, ...] = ("PRODUCT", "DISGRP")
CP_METHOD = "landmark prevalence, Clopper-Pearson exact CI"
DAOH_METHOD = "mean, Student t 95% CI (mean +/- t(0.975, n-1) s/sqrt(n)); median (IQR), Hyndman-Fan type 7"
RATE_METHOD = "episodes per 100 person-years in the window, exact Poisson (Garwood) CI"
INFECTION_WINDOWS: tuple[tuple[str, float, float], ...] = (
    ("D0-30", 0.0, 30.0),
    ("D31-180", 30.0, 180.0),
    ("D181+", 180.0, float("inf")),
)
ALL_ORGANISMS = "ANY"  # every organism (not the disease group ALL)
TOTAL_OUTCOME = "ANY"  # every pregnancy of the subject
LATE_CIF_ENDPOINTS: dict[str, str] = {"BCREC": "DEATH OR RELAPSE", "INFSEV": "DEATH"}


def _schema(**cols: Any) -> dict[str, Any]:
    return {**oc._common_schema(), **cols}


LANDMARK_SCHEMA = _schema(
    landmark_day=pl.Int64,
    window_start_day=pl.Int64,
    window_end_day=pl.Int64,
    analyte=pl.Utf8,
    threshold=pl.Float64,
    n_infused=pl.Int64,
    n_not_reached=pl.Int64,
    n_dead_before=pl.Int64,
    n_alive_followed=pl.Int64,
    n_no_measurement=pl.Int64,
    n=pl.Int64,
    events=pl.Int64,
    proportion=pl.Float64,
    lower_95=pl.Float64,
    upper_95=pl.Float64,
    note=pl.Utf8,
)
INFECTION_SCHEMA = _schema(
    time_window=pl.Utf8,
    window_start_day=pl.Float64,
    window_end_day=pl.Float64,
    organism_class=pl.Utf8,
    n=pl.Int64,
    events=pl.Int64,
    person_years=pl.Float64,
    rate_per_100py=pl.Float64,
    lower_95=pl.Float64,
    upper_95=pl.Float64,
    note=pl.Utf8,
)
PREGNANCY_SCHEMA = _schema(subject=pl.Utf8, outcome=pl.Utf8, count=pl.Int64, n_pregnancies=pl.Int64, note=pl.Utf8)
DAOH_SCHEMA = _schema(
    window_days=pl.Int64,
    n_infused=pl.Int64,
    n_not_evaluable=pl.Int64,
    n=pl.Int64,
    n_died=pl.Int64,
    mean=pl.Float64,
    lower_95=pl.Float64,
    upper_95=pl.Float64,
    median=pl.Float64,
    q1=pl.Float64,
    q3=pl.Float64,
    minimum=pl.Float64,
    maximum=pl.Float64,
    note=pl.Utf8,
)


@dataclass(frozen=True)
class LateInputs:
    """Warehouse frames beyond ADaM. labs: USUBJID, ANALYTE, ADY, AVAL (one value per patient, analyte and day);
    followup: USUBJID, ADY, IVIG; bcell: USUBJID, APLASIA_DY, RECOVERY_DY (int_immune_reconstitution, index
    infusion); pregnancy: USUBJID, SUBJECT, OUTCOME; hospital: USUBJID, ADMISSION_DAY, DISCHARGE_DAY. None = the
    warehouse has no such table (the dependent table says so in ``note``)."""

    labs: pl.DataFrame | None = None
    followup: pl.DataFrame | None = None
    bcell: pl.DataFrame | None = None
    pregnancy: pl.DataFrame | None = None
    hospital: pl.DataFrame | None = None
    missing: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Landmark:
    family: str
    day: int
    start: int
    end: int


@dataclass(frozen=True)
class Measure:
    """A landmark-prevalence endpoint: event = value strictly below ``threshold`` (or IVIG reported 'Y')."""

    endpoint: str
    family: str
    analyte: str
    threshold: float | None
    source: str  # 'labs' or 'followup'


def load_landmarks(path: str | None = None) -> list[Landmark]:
    """Landmarks and their windows from data/config/late_effect_landmarks.csv."""
    from kocartr.paths import CONFIG_DIR

    df = pl.read_csv(path or CONFIG_DIR / "late_effect_landmarks.csv")
    return [
        Landmark(str(r["family"]), int(r["landmark_day"]), int(r["window_start_day"]), int(r["window_end_day"]))
        for r in df.iter_rows(named=True)
    ]


def load_measures() -> list[Measure]:
    """The landmark endpoints with thresholds from the config: CTCAE v5.0 grade-3 cut-offs (ctcae_lab_grading.csv)
    for prolonged cytopenia, clinical_thresholds.csv for B-cell aplasia, low IgG and CD4 lymphopenia."""
    from kocartr.paths import CONFIG_DIR

    ctcae = pl.read_csv(CONFIG_DIR / "ctcae_lab_grading.csv").filter(
        (pl.col("ctcae_version") == "V5_0") & (pl.col("grade") == 3)
    )
    g3 = {str(a): float(v) for a, v in zip(ctcae["analyte"], ctcae["value_below"])}
    thr = pl.read_csv(CONFIG_DIR / "clinical_thresholds.csv")
    cfg = {str(k): float(v) for k, v in zip(thr["rule_id"], thr["value"])}
    out = [Measure(f"CYTOPENIA_{a}_G3", "CYTOPENIA", a, g3[a], "labs") for a in ("ANC", "PLT", "HGB") if a in g3]
    out += [
        Measure("BCELL_APLASIA", "IMMUNE", "CD19_B_CELLS", cfg["bcell_aplasia_max"], "labs"),
        Measure("IGG_LOW", "IMMUNE", "IGG", cfg["igg_hypogamma_max"], "labs"),
        Measure("CD4_LOW", "IMMUNE", "CD4", cfg["cd4_low_max"], "labs"),
        Measure("IVIG", "IMMUNE", "IVIG", None, "followup"),
    ]
    return out


def config_value(rule_id: str) -> float:
    from kocartr.paths import CONFIG_DIR

    thr = pl.read_csv(CONFIG_DIR / "clinical_thresholds.csv").filter(pl.col("rule_id") == rule_id)
    return float(thr["value"][0])


# ----------------------------------------------------------------------------------------------------------
# patients and strata


def _day(col: str) -> pl.Expr:
    """Study day of an ADSL date: days from the first infusion (TRTSDT = day 0)."""
    return (pl.col(col).cast(pl.Date) - pl.col("TRTSDT").cast(pl.Date)).dt.total_days()


def _infused(adsl: pl.DataFrame) -> pl.DataFrame:
    """The ADSL rows of infused patients (INFFL = 'Y' with a first infusion date): every late-effect population."""
    return adsl.filter((pl.col("INFFL") == "Y") & pl.col("TRTSDT").is_not_null())


def _strata_columns(df: pl.DataFrame) -> list[pl.Expr]:
    """The stratification columns of `df` that exist (STRATA), as text."""
    return [oc._as_str(pl.col(c), df.schema[c]).alias(c) for c in STRATA if c in df.columns]


def infused_patients(adsl: pl.DataFrame, data_cutoff: dt.date) -> pl.DataFrame:
    """USUBJID, strata, CUTDY (cut-off day), DTHDY (death day or null), LSTDY (last contact day), from adsl."""
    inf = _infused(adsl)
    lst = _day("LSTCNTDT") if "LSTCNTDT" in inf.columns else pl.lit(None, pl.Int64)
    dth = _day("DTHDT") if "DTHDT" in inf.columns else pl.lit(None, pl.Int64)
    cut = (pl.lit(data_cutoff) - pl.col("TRTSDT").cast(pl.Date)).dt.total_days()
    return inf.select(
        "USUBJID",
        *_strata_columns(inf),
        cut.cast(pl.Float64).alias("CUTDY"),
        dth.cast(pl.Float64).alias("DTHDY"),
        pl.max_horizontal(lst, dth).cast(pl.Float64).alias("LSTDY"),
    )


def _strata(pts: pl.DataFrame) -> list[tuple[str, str, pl.DataFrame]]:
    out = [("overall", "overall", pts)]
    for var in STRATA:
        if var in pts.columns:
            # one pass per variable (rows keep their order within a level, as a filter keeps them)
            parts = {k[0]: v for k, v in pts.partition_by(var, as_dict=True, maintain_order=True).items()}
            for level in sorted(parts, key=lambda v: (v == MISSING, v)):
                out.append((var, str(level), parts[level]))
    return out


# ----------------------------------------------------------------------------------------------------------
# landmark prevalence


def nearest_values(values: pl.DataFrame, lm: Landmark) -> pl.DataFrame:
    """Per patient, the value nearest the landmark day within its window; on a tie in distance the worst (lowest)
    value. values: USUBJID, ADY, AVAL -> USUBJID, AVAL."""
    w = values.filter((pl.col("ADY") >= lm.start) & (pl.col("ADY") <= lm.end) & pl.col("AVAL").is_not_null())
    w = w.with_columns((pl.col("ADY") - lm.day).abs().alias("_dist"))
    return (
        w.sort(["USUBJID", "_dist", "AVAL"]).group_by("USUBJID", maintain_order=True).first().select("USUBJID", "AVAL")
    )


def landmark_status(pts: pl.DataFrame, values: pl.DataFrame, lm: Landmark, threshold: float | None) -> pl.DataFrame:
    """Per infused patient: _reached (cut-off at or after the window end), _dead (died before the landmark day),
    _followed (reached, alive at the landmark and followed to it: last contact or a value on or after its window
    start), _measured (a value in the window), _event (value < threshold; for IVIG value 1 = reported 'Y')."""
    near = nearest_values(values, lm)
    df = pts.join(near, on="USUBJID", how="left")
    reached = pl.col("CUTDY") >= lm.end
    dead = pl.col("DTHDY").is_not_null() & (pl.col("DTHDY") < lm.day)
    followed = reached & ~dead & ((pl.col("LSTDY").fill_null(-1) >= lm.day) | pl.col("AVAL").is_not_null())
    measured = followed & pl.col("AVAL").is_not_null()
    event = (pl.col("AVAL") < threshold) if threshold is not None else (pl.col("AVAL") >= 1)
    return df.with_columns(
        reached.alias("_reached"),
        (reached & dead).alias("_dead"),
        followed.alias("_followed"),
        measured.alias("_measured"),
        (measured & event).fill_null(False).alias("_event"),
    )


def _landmark_row(sub: pl.DataFrame, m: Measure, lm: Landmark) -> dict[str, Any]:
    n_alive = int(sub["_followed"].sum())
    n = int(sub["_measured"].sum())
    k = int(sub["_event"].sum())
    p = rt.clopper_pearson(k, n)
    return {
        "landmark_day": lm.day,
        "window_start_day": lm.start,
        "window_end_day": lm.end,
        "analyte": m.analyte,
        "threshold": m.threshold,
        "n_infused": sub.height,
        "n_not_reached": int((~sub["_reached"]).sum()),
        "n_dead_before": int(sub["_dead"].sum()),
        "n_alive_followed": n_alive,
        "n_no_measurement": n_alive - n,
        "n": n,
        "events": k,
        "proportion": p.proportion,
        "lower_95": p.lower,
        "upper_95": p.upper,
    }


_NO_VALUES = pl.DataFrame(schema={"USUBJID": pl.Utf8, "ADY": pl.Float64, "AVAL": pl.Float64})


def _measure_values(m: Measure, inputs: LateInputs) -> tuple[pl.DataFrame, str | None]:
    """USUBJID, ADY, AVAL of the measure (empty, with the reason, when the source is absent)."""
    if m.source == "followup":
        f = inputs.followup
        if f is None:
            return _NO_VALUES, "follow-up table not in the warehouse"
        f = f.filter(pl.col("IVIG").is_in(["Y", "N"]))  # U (unknown) is not a measurement
        return f.select("USUBJID", "ADY", (pl.col("IVIG") == "Y").cast(pl.Float64).alias("AVAL")), None
    if inputs.labs is None:
        return _NO_VALUES, "lab series not in the warehouse"
    labs = inputs.labs.filter(pl.col("ANALYTE") == m.analyte).select(
        "USUBJID", pl.col("ADY").cast(pl.Float64), pl.col("AVAL").cast(pl.Float64)
    )
    return labs, (f"no {m.analyte} value in the registry yet" if labs.height == 0 else None)


def landmark_prevalence(
    adsl: pl.DataFrame,
    inputs: LateInputs,
    data_cutoff: dt.date,
    measures: list[Measure] | None = None,
    landmarks: list[Landmark] | None = None,
) -> pl.DataFrame:
    """Landmark prevalence (prolonged cytopenia, B-cell aplasia, low IgG, CD4 lymphopenia, IVIG use) among
    infused patients alive and followed at the landmark with a value in its window, Clopper-Pearson CIs."""
    pts = infused_patients(adsl, data_cutoff)
    rows: list[dict[str, Any]] = []
    for m in measures or load_measures():
        values, note = _measure_values(m, inputs)
        for lm in [x for x in (landmarks or load_landmarks()) if x.family == m.family]:
            status = landmark_status(pts, values, lm, m.threshold)
            for var, level, sub in _strata(status):
                rows.append(
                    {
                        "endpoint": m.endpoint,
                        "stratum_variable": var,
                        "stratum": level,
                        "method": CP_METHOD,
                        "data_cutoff": data_cutoff,
                        **_landmark_row(sub, m, lm),
                        "note": note,
                    }
                )
    return oc._rows_to_frame(rows, LANDMARK_SCHEMA)


# ----------------------------------------------------------------------------------------------------------
# follow-up frame shared by the infection and B-cell analyses


def followup_frame(adtte: pl.DataFrame, adsl: pl.DataFrame) -> pl.DataFrame:
    """One row per infused patient under site follow-up, the at-risk time of the events only sites report
    (infections, B-cell recovery): ENTRY (the OS row's ENTRYT, delayed entry), EXIT, DIED, RELDY (first relapse /
    progression day or null), strata. EXIT is the death when a site reported it or it is on or before LSTALVDT (the
    last date a site knew the patient alive; DIED), LSTALVDT for a death found only by the national linkage later and
    for a patient lost to follow-up (LTFUFL), else the OS row's exit (endpoints.md "Site follow-up")."""
    os_ = oc._prepare_adtte(adtte, "OS", (0, 1)).data
    if os_.height == 0:
        cols = {"USUBJID": pl.Utf8, "ENTRY": pl.Float64, "EXIT": pl.Float64, "DIED": pl.Boolean}
        return pl.DataFrame(schema={**cols, **{c: pl.Utf8 for c in STRATA}, "RELDY": pl.Float64})
    rel_all = oc._prepare_adtte(adtte, "RELAPSE", (0, 1, 2)).data
    rel = (
        rel_all.filter(pl.col("CNSR") == 0).select("USUBJID", pl.col("AVAL").alias("RELDY")) if rel_all.height else None
    )
    dead = pl.col("DTHDT").is_not_null()
    died = dead & ((pl.col("DTHSITFL") == "Y") | (pl.col("DTHDT") <= pl.col("LSTALVDT")))
    left_site = dead | (pl.col("LTFUFL") == "Y")
    site = adsl.select(
        "USUBJID",
        *_strata_columns(adsl),
        pl.when(died).then(_day("DTHDT")).when(left_site).then(_day("LSTALVDT")).cast(pl.Float64).alias("_SITE_EXIT"),
        died.alias("DIED"),
    )
    df = (
        os_.select("USUBJID", pl.col("ENTRYT").alias("ENTRY"), pl.col("AVAL").alias("_OS_EXIT"))
        .join(site, on="USUBJID", how="left")
        .with_columns(pl.coalesce("_SITE_EXIT", "_OS_EXIT").alias("EXIT"))
        .drop("_SITE_EXIT", "_OS_EXIT")
    )
    if rel is None:
        return df.with_columns(pl.lit(None, pl.Float64).alias("RELDY"))
    return df.join(rel, on="USUBJID", how="left")


# ----------------------------------------------------------------------------------------------------------
# infections


def infection_episodes(adae: pl.DataFrame) -> pl.DataFrame:
    """USUBJID, ASTDY, GRADE, ORGANISM of every reported infection (AECAT 'INFECTION') with an onset day >= 0;
    ORGANISM = AEORGCL (organism class) or '(missing)'."""
    ae = adae.filter((pl.col("AECAT") == "INFECTION") & (pl.col("ASTDY").cast(pl.Float64) >= 0))
    grade = pl.col("ATOXGRN") if "ATOXGRN" in ae.columns else pl.col("ATOXGR")
    org = pl.col("AEORGCL").cast(pl.Utf8).fill_null(MISSING) if "AEORGCL" in ae.columns else pl.lit(MISSING)
    return ae.select(
        "USUBJID",
        pl.col("ASTDY").cast(pl.Float64),
        grade.cast(pl.Float64).alias("GRADE"),
        org.alias("ORGANISM"),
    )


def window_person_years(fu: pl.DataFrame, start: float, end: float) -> float:
    """Person-years at risk inside (start, end] (day 0 included in the first window): from max(start, ENTRY) to
    min(end, EXIT), summed over patients, never negative."""
    lo = np.maximum(fu["ENTRY"].to_numpy(), start)
    hi = np.minimum(fu["EXIT"].to_numpy(), end)
    return float(np.clip(hi - lo, 0, None).sum()) / oc.DAYS_PER_YEAR


def window_event_counts(ep: pl.DataFrame, fu: pl.DataFrame) -> dict[tuple[str, str, str, str], int]:
    """Episodes with onset in each window (start < ASTDY <= end; day 0 belongs to the first window) while at risk
    (after ENTRY, or at ENTRY = 0, and on or before EXIT), keyed (stratum variable, level, window, organism class;
    ALL_ORGANISMS = every class): one join of the episodes with the follow-up, counted by group."""
    at_risk = ((pl.col("ASTDY") > pl.col("ENTRY")) | (pl.col("ENTRY") == 0)) & (pl.col("ASTDY") <= pl.col("EXIT"))
    strata = [c for c in STRATA if c in fu.columns]
    j = ep.join(fu.select("USUBJID", "ENTRY", "EXIT", *strata), on="USUBJID").filter(at_risk)
    j = j.with_columns(pl.lit("overall").alias("_overall"))
    out: dict[tuple[str, str, str, str], int] = {}
    for window, start, end in INFECTION_WINDOWS:
        lower = (pl.col("ASTDY") > start) if start > 0 else (pl.col("ASTDY") >= 0)
        w = j.filter(lower & (pl.col("ASTDY") <= end))
        for var, col in (("overall", "_overall"), *((c, c) for c in strata)):
            for level, k in w.group_by(col).len().iter_rows():
                out[(var, level, window, ALL_ORGANISMS)] = k
            for level, org, k in w.group_by(col, "ORGANISM").len().iter_rows():
                if org != ALL_ORGANISMS:  # a class named like the total is the total, as before
                    out[(var, level, window, org)] = k
    return out


def infection_rates(
    adtte: pl.DataFrame,
    adsl: pl.DataFrame,
    adae: pl.DataFrame,
    data_cutoff: dt.date,
    fu: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Infection episodes per 100 person-years by window after infusion (days 0-30, 31-180, > 180) and organism
    class (ANY, then each AEORGCL class), by stratum; recurrent episodes all count; exact Poisson CIs.
    ``fu``: followup_frame(adtte, adsl) when the caller has it already."""
    fu = followup_frame(adtte, adsl) if fu is None else fu
    ep = infection_episodes(adae)
    note = None if "AEORGCL" in adae.columns else "organism class (AEORGCL) not in adam.adae yet: ANY only"
    classes = [ALL_ORGANISMS] + (sorted(ep["ORGANISM"].unique().to_list()) if "AEORGCL" in adae.columns else [])
    counts = window_event_counts(ep, fu)
    rows: list[dict[str, Any]] = []
    for var, level, sub in _strata(fu):
        for window, start, end in INFECTION_WINDOWS:
            py = window_person_years(sub, start, end)
            for org in classes:
                k = counts.get((var, level, window, org), 0)
                r = rt.poisson_rate(k, py)
                rows.append(
                    {
                        "endpoint": "INFECTION",
                        "stratum_variable": var,
                        "stratum": level,
                        "method": RATE_METHOD,
                        "data_cutoff": data_cutoff,
                        "time_window": window,
                        "window_start_day": start,
                        "window_end_day": None if np.isinf(end) else end,
                        "organism_class": org,
                        "n": sub.height,
                        "events": k,
                        "person_years": py,
                        "rate_per_100py": r.rate_per_100py,
                        "lower_95": r.lower,
                        "upper_95": r.upper,
                        "note": note,
                    }
                )
    return oc._rows_to_frame(rows, INFECTION_SCHEMA)


# ----------------------------------------------------------------------------------------------------------
# competing-risk endpoints (adtte-shaped rows for analyses.outcomes.cumulative_incidence)


def _tte(df: pl.DataFrame, paramcd: str) -> pl.DataFrame:
    """AVAL/CNSR/CMPEVFL rows from _T (time) and _S (1 event, 2 competing, 0 censored)."""
    return df.select(
        "USUBJID",
        pl.lit(paramcd).alias("PARAMCD"),
        pl.col("_T").alias("AVAL"),
        pl.when(pl.col("_S") == 1).then(0).when(pl.col("_S") == 0).then(1).otherwise(None).alias("CNSR"),
        pl.when(pl.col("_S") == 2).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("CMPEVFL"),
        pl.col("ENTRY").alias("ENTRYT"),
        pl.when((pl.col("_S") > 0) & (pl.col("_T") < pl.col("ENTRY")))
        .then(pl.lit("Y"))
        .otherwise(pl.lit("N"))
        .alias("PREENTFL"),
        *[c for c in STRATA if c in df.columns],
    )


def infsev_tte(fu: pl.DataFrame, adae: pl.DataFrame) -> pl.DataFrame:
    """INFSEV: first infection of grade >= 3 (CTCAE) from day 0; death competing; censored at last contact."""
    first = (
        infection_episodes(adae).filter(pl.col("GRADE") >= 3).group_by("USUBJID").agg(pl.col("ASTDY").min().alias("_E"))
    )
    df = fu.join(first, on="USUBJID", how="left")
    ev = pl.col("_E").is_not_null() & (pl.col("_E") <= pl.col("EXIT"))
    df = df.with_columns(
        pl.when(ev).then(pl.col("_E")).otherwise(pl.col("EXIT")).alias("_T"),
        pl.when(ev).then(1).when(pl.col("DIED")).then(2).otherwise(0).alias("_S"),
    )
    return _tte(df, "INFSEV")


def bcrec_tte(fu: pl.DataFrame, bcell: pl.DataFrame) -> pl.DataFrame:
    """BCREC: among patients with B-cell aplasia after the first infusion, time from infusion to B-cell recovery
    (int_immune_reconstitution: first CD19 value at or above the threshold after the first aplastic value);
    relapse / progression and death compete; censored at last contact. A recovery on the day of a relapse counts."""
    df = fu.join(bcell.filter(pl.col("APLASIA_DY").is_not_null()), on="USUBJID", how="inner")
    rec = pl.col("RECOVERY_DY")
    rel = pl.col("RELDY")
    ev = rec.is_not_null() & (rec <= pl.col("EXIT")) & (rel.is_null() | (rec <= rel))
    relapse = rel.is_not_null() & (rel <= pl.col("EXIT"))
    df = df.with_columns(
        pl.when(ev).then(rec).when(relapse).then(rel).otherwise(pl.col("EXIT")).cast(pl.Float64).alias("_T"),
        pl.when(ev).then(1).when(relapse | pl.col("DIED")).then(2).otherwise(0).alias("_S"),
    )
    return _tte(df, "BCREC")


def late_cumulative_incidence(
    adtte: pl.DataFrame,
    adsl: pl.DataFrame,
    adae: pl.DataFrame,
    bcell: pl.DataFrame | None,
    data_cutoff: dt.date,
    fu: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Aalen-Johansen CIF of B-cell recovery (death or relapse competing) and of the first severe infection (death
    competing), same columns and estimator as analysis.cumulative_incidence. ``fu``: as in infection_rates."""
    fu = followup_frame(adtte, adsl) if fu is None else fu
    parts = [infsev_tte(fu, adae)]
    if bcell is not None:
        parts.append(bcrec_tte(fu, bcell))
    tte = pl.concat(parts, how="vertical_relaxed")
    return oc.cumulative_incidence(tte, data_cutoff, endpoints=LATE_CIF_ENDPOINTS)


# ----------------------------------------------------------------------------------------------------------
# pregnancy outcomes


def pregnancy_outcomes(adsl: pl.DataFrame, pregnancy: pl.DataFrame | None, data_cutoff: dt.date) -> pl.DataFrame:
    """Pregnancies after infusion by subject (patient / partner) and outcome, exact counts per stratum (every
    outcome seen in the registry on every stratum, zeros included, plus outcome 'ANY'), among the infused patients
    of adsl as every late-effect table; pregnancies of anyone else (e.g. a patient whose registration is in
    quarantine) are left out and counted in `note`. Published tables hide small counts with the release's
    suppression rule (kocartr.release.suppression)."""
    base = {"endpoint": "PREGNANCY", "method": "count", "data_cutoff": data_cutoff}
    if pregnancy is None:
        note = "pregnancy table not in the warehouse"
        return oc._rows_to_frame(
            [{**base, "stratum_variable": "overall", "stratum": "overall", "note": note}], PREGNANCY_SCHEMA
        )
    strata = _infused(adsl).select("USUBJID", *_strata_columns(adsl))
    preg = (
        pregnancy.select(
            "USUBJID",
            pl.col("SUBJECT").cast(pl.Utf8).fill_null(MISSING),
            pl.col("OUTCOME").cast(pl.Utf8).fill_null("NOT REPORTED"),
        )
        .join(strata, on="USUBJID", how="inner")
        .with_columns([pl.col(c).fill_null(MISSING) for c in STRATA if c in strata.columns])
    )
    left_out = pregnancy.height - preg.height
    base["note"] = f"{left_out} pregnancies of patients not infused in adsl left out" if left_out else None
    subjects = sorted(preg["SUBJECT"].unique().to_list())
    outcomes_ = sorted(preg["OUTCOME"].unique().to_list())
    rows: list[dict[str, Any]] = []
    for var, level, sub in _strata(preg) if preg.height else [("overall", "overall", preg)]:
        for subject in subjects:
            s = sub.filter(pl.col("SUBJECT") == subject)
            for outcome in [TOTAL_OUTCOME, *outcomes_]:
                k = s.height if outcome == TOTAL_OUTCOME else int((s["OUTCOME"] == outcome).sum())
                rows.append(
                    {
                        **base,
                        "stratum_variable": var,
                        "stratum": level,
                        "subject": subject,
                        "outcome": outcome,
                        "count": k,
                        "n_pregnancies": s.height,
                    }
                )
    return oc._rows_to_frame(rows, PREGNANCY_SCHEMA)


# ----------------------------------------------------------------------------------------------------------
# days alive and out of hospital


def hospital_days(hospital: pl.DataFrame, window: int) -> pl.DataFrame:
    """USUBJID, HOSPDAYS: distinct days d in 1..window spent in hospital, a day counted when admission_day <= d <
    discharge_day (nights in hospital; a stay still open at the last report runs to the window end)."""
    h = hospital.select(
        "USUBJID",
        pl.col("ADMISSION_DAY").cast(pl.Int64).clip(lower_bound=1).alias("_a"),
        pl.col("DISCHARGE_DAY").cast(pl.Int64).fill_null(window + 1).clip(upper_bound=window + 1).alias("_d"),
    ).filter(pl.col("_a") < pl.col("_d"))
    if h.height == 0:
        return pl.DataFrame(schema={"USUBJID": pl.Utf8, "HOSPDAYS": pl.Int64})
    days = h.select("USUBJID", pl.int_ranges("_a", "_d").alias("_day")).explode("_day")
    return days.group_by("USUBJID").agg(pl.col("_day").n_unique().cast(pl.Int64).alias("HOSPDAYS"))


def daoh_values(pts: pl.DataFrame, hospital: pl.DataFrame, window: int) -> pl.DataFrame:
    """Per infused patient: _eval (infused at least `window` days before the cut-off, and dead in the window or
    followed to its end), _died (death on or before day `window`), DAOH (0 when died, else window - hospital
    days)."""
    df = pts.join(hospital_days(hospital, window), on="USUBJID", how="left")
    died = pl.col("DTHDY").is_not_null() & (pl.col("DTHDY") <= window)
    ev = (pl.col("CUTDY") >= window) & (died | (pl.col("LSTDY").fill_null(-1) >= window))
    daoh = pl.when(died).then(0).otherwise(window - pl.col("HOSPDAYS").fill_null(0))
    return df.with_columns(ev.alias("_eval"), died.alias("_died"), daoh.cast(pl.Float64).alias("DAOH"))


def daoh(
    adsl: pl.DataFrame, hospital: pl.DataFrame | None, data_cutoff: dt.date, window: int | None = None
) -> pl.DataFrame:
    """Days alive and out of hospital over days 1-100 after the first infusion (DAOH-100): mean with its Student t
    95% CI (None when n < 2), median and IQR over evaluable infused patients; death in the window scores 0 (Myles
    et al., BMJ Open 2017)."""
    window = int(window or config_value("daoh_window_days"))
    base = {
        "endpoint": f"DAOH{window}",
        "method": DAOH_METHOD,
        "data_cutoff": data_cutoff,
        "window_days": window,
    }
    if hospital is None:
        return oc._rows_to_frame(
            [
                {
                    **base,
                    "stratum_variable": "overall",
                    "stratum": "overall",
                    "note": "hospitalization table (marts.fct_hospitalization) not in the warehouse",
                }
            ],
            DAOH_SCHEMA,
        )
    vals = daoh_values(infused_patients(adsl, data_cutoff), hospital, window)
    rows: list[dict[str, Any]] = []
    for var, level, sub in _strata(vals):
        ev = sub.filter(pl.col("_eval"))
        m = rt.median_iqr(ev["DAOH"].to_numpy())
        ci = rt.mean_t_interval(ev["DAOH"].to_numpy())
        rows.append(
            {
                **base,
                "stratum_variable": var,
                "stratum": level,
                "n_infused": sub.height,
                "n_not_evaluable": sub.height - ev.height,
                "n": ev.height,
                "n_died": int(ev["_died"].sum()),
                "mean": ci.mean,
                "lower_95": ci.lower,
                "upper_95": ci.upper,
                "median": m.median,
                "q1": m.q1,
                "q3": m.q3,
                "minimum": m.minimum,
                "maximum": m.maximum,
                "note": f"evaluable: infused >= {window} days before the cut-off and dead by day {window} or followed "
                f"to it; {sub.height - ev.height} not evaluable",
            }
        )
    return oc._rows_to_frame(rows, DAOH_SCHEMA)


# ----------------------------------------------------------------------------------------------------------
# warehouse inputs and the table set

LATE_TABLES: tuple[str, ...] = (
    "landmark_prevalence",
    "infection_rates",
    "late_cumulative_incidence",
    "pregnancy_outcomes",
    "daoh",
)

_QUERIES: dict[str, tuple[str, str]] = {
    "labs": (
        "intermediate.int_lab_daily",
        "select l.patient_key as USUBJID, l.analyte as ANALYTE, "
        "cast(date_diff('day', a.TRTSDT, l.lab_date) as double) as ADY, l.value as AVAL "
        "from intermediate.int_lab_daily l join adam.adsl a on a.USUBJID = l.patient_key "
        "where a.TRTSDT is not null",
    ),
    "followup": (
        "staging.stg_followup",
        "select f.patient_key as USUBJID, cast(date_diff('day', a.TRTSDT, f.contact_date) as double) as ADY, "
        "f.ivig as IVIG from staging.stg_followup f join adam.adsl a on a.USUBJID = f.patient_key "
        "where a.TRTSDT is not null and f.contact_date is not null",
    ),
    "bcell": (
        "intermediate.int_immune_reconstitution",
        "select b.patient_key as USUBJID, "
        "cast(date_diff('day', b.infusion_date, b.first_bcell_aplasia_date) as double) as APLASIA_DY, "
        "cast(date_diff('day', b.infusion_date, b.bcell_recovery_date) as double) as RECOVERY_DY "
        "from intermediate.int_immune_reconstitution b where b.infusion_number = 1",
    ),
    "pregnancy": (
        "marts.fct_pregnancy",
        "select patient_key as USUBJID, subject as SUBJECT, outcome as OUTCOME from marts.fct_pregnancy",
    ),
    "hospital": (
        "marts.fct_hospitalization",
        "select patient_key as USUBJID, admission_day as ADMISSION_DAY, discharge_day as DISCHARGE_DAY "
        "from marts.fct_hospitalization",
    ),
}


def read_inputs(con: Any) -> LateInputs:
    """The late-effect inputs from an open DuckDB connection; a table that does not exist yet gives None."""
    present = {
        f"{s}.{t}" for s, t in con.sql("select table_schema, table_name from information_schema.tables").fetchall()
    }
    frames: dict[str, pl.DataFrame | None] = {}
    for key, (table, sql) in _QUERIES.items():
        frames[key] = con.sql(sql).pl() if table in present else None
    missing = tuple(t for k, (t, _) in _QUERIES.items() if frames[k] is None)
    return LateInputs(**frames, missing=missing)


def build_late(
    adtte: pl.DataFrame,
    adsl: pl.DataFrame,
    adae: pl.DataFrame,
    data_cutoff: dt.date,
    inputs: LateInputs | None = None,
) -> dict[str, pl.DataFrame]:
    """The late-effect tables keyed by their stable name in schema ``analysis`` (LATE_TABLES)."""
    inputs = inputs or LateInputs()
    fu = followup_frame(adtte, adsl)  # shared by the infection rates and the late CIFs
    return {
        "landmark_prevalence": landmark_prevalence(adsl, inputs, data_cutoff),
        "infection_rates": infection_rates(adtte, adsl, adae, data_cutoff, fu),
        "late_cumulative_incidence": late_cumulative_incidence(adtte, adsl, adae, inputs.bcell, data_cutoff, fu),
        "pregnancy_outcomes": pregnancy_outcomes(adsl, inputs.pregnancy, data_cutoff),
        "daoh": daoh(adsl, inputs.hospital, data_cutoff),
    }
