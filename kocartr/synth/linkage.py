"""Synthetic national linkage returns (LINKAGE/<YYYY-MM>/<form>.csv) consistent with the generator's truth.

The combination agency returns, every month, the deaths (Statistics Korea) and new cancers (Korea Central Cancer
Registry) of registered patients, keyed by the registry patient key, with the date through which each source is
complete. Linkage sees every true event up to its completeness date, so the events the sites never reported
(patients lost to follow-up, deaths and cancers after the last visit, and SITE_MISSED_DEATH of the deaths of
patients still followed, whose site reports the generator removes: unreported_deaths, drop_death_reports) are in
it; a known share of the events both report carry a different date. ground_truth/linkage_truth.parquet lists every
linked event with whether a site reported it and why not (`site_missed`), so a test can check each missing one is
found and queried.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from kocartr.dictionary import Dictionary
from kocartr.ingest.privacy import DEMO_KEY, patient_key
from kocartr.synth import params as P
from kocartr.synth.cohort import NEVER, Cohort, day_to_month, month_index, month_label, month_start_day

SOURCE = "LINKAGE"
# Months between a return and the end of the period it is complete for (synthetic; the agency states the real ones).
LAG_MONTHS = {"DEATH_STATISTICS": 2, "CANCER_REGISTRY": 6}
DATE_DISAGREE = 0.05  # share of site-reported events whose linkage date differs from the true (site) date
DATE_SHIFT_DAYS = (1, 30)  # the difference, either direction
# Share of the deaths of patients still in follow-up (not lost, no fatal event the site treated) that no site form
# ever reports: out-of-hospital deaths the centre is not told of. Transplant centres left 2.2% of their waitlist
# deaths unrecorded as deaths in the national registry (35/1593, four US centres; Goldberg et al., Transplantation
# 2013;96:211-216). Independent of loss to follow-up (params.LTFU_PER_YEAR), which hides every later event.
SITE_MISSED_DEATH = 0.02
# Underlying cause of death (ICD-10) per registry cause; treated disease per diagnosis group (synthetic mapping).
ICD10_CAUSE = {
    "INFECTION": "A41.9",
    "CRS": "D76.3",
    "ICANS": "G92",
    "IEC_HS": "D76.1",
    "SECONDARY_MALIGNANCY": "C95.9",
    "ORGAN_FAILURE": "R68.8",
    "CARDIOVASCULAR": "I50.9",
    "HEMORRHAGE": "R58",
    "OTHER": "R99",
    "UNKNOWN": "R99",
}
ICD10_DISEASE = {"MM": "C90.0", "ALL": "C91.0"}  # otherwise lymphoma: C83.3 (diffuse large B-cell)


def _site_reported(c: Cohort, frames: dict[str, pl.DataFrame], forms: dict[str, tuple[str, str] | None]) -> np.ndarray:
    """Per patient: some site row reports the event (form -> (column, value) a row must hold, or None)."""
    index = {(c.sites[s], str(p)): i for i, (s, p) in enumerate(zip(c.site, c.patient_id))}
    out = np.zeros(c.n, dtype=bool)
    for form, dead_only in forms.items():
        df = frames.get(form)
        if df is None or df.height == 0:
            continue
        if dead_only:
            df = df.filter(pl.col(dead_only[0]) == dead_only[1])
        for s, p in df.select("site_code", "patient_id").unique().iter_rows():
            i = index.get((s, p))
            if i is not None:
                out[i] = True
    return out


def _fatal_event(c: Cohort, frames: dict[str, pl.DataFrame]) -> np.ndarray:
    """Per patient: a grade 5 event is reported (the site treated the fatal event, so it knows of the death)."""
    grade5: dict[str, tuple[str, str] | None] = {
        "adverse_event": ("ctcae_grade", "5"),
        "crs": ("astct_grade", "5"),
        "icans": ("astct_grade", "5"),
    }
    return _site_reported(c, frames, grade5)


def unreported_deaths(c: Cohort, frames: dict[str, pl.DataFrame], rng: np.random.Generator) -> np.ndarray:
    """Per patient: a death no site form will report (SITE_MISSED_DEATH of the deaths a site could have known:
    dated by the cut-off, not after loss to follow-up, no fatal event at the site). Drawn from its own stream."""
    known = c.in_registry & (c.death_day <= c.cutoff_day) & (c.death_day <= c.ltfu_day) & ~_fatal_event(c, frames)
    return known & (rng.random(c.n) < SITE_MISSED_DEATH)


def drop_death_reports(c: Cohort, frames: dict[str, pl.DataFrame], missed: np.ndarray) -> dict[str, pl.DataFrame]:
    """The frames without any report of the missed deaths: their death form and follow-up DEAD records, every row
    of those records (corrections, duplicates and injected defects go with them)."""
    if not missed.any():
        return frames
    who = pl.DataFrame(
        {
            "site_code": [c.sites[c.site[i]] for i in np.flatnonzero(missed)],
            "patient_id": [str(c.patient_id[i]) for i in np.flatnonzero(missed)],
        }
    )
    out = dict(frames)
    for form, dead_only in (("death", None), ("followup", ("vital_status", "DEAD"))):
        df = frames.get(form)
        if df is None or df.height == 0:
            continue
        rows = df.join(who, on=["site_code", "patient_id"], how="semi")
        if dead_only:
            rows = rows.filter(pl.col(dead_only[0]) == dead_only[1])
        out[form] = df.join(rows.select("site_code", "record_id").unique(), on=["site_code", "record_id"], how="anti")
    return out


def _completeness(months: np.ndarray, source: str) -> np.ndarray:
    """Last day complete for each return month: end of the month LAG_MONTHS before it."""
    return month_start_day(months - LAG_MONTHS[source] + 1) - 1


def complete_through(last_month: str) -> dict[str, int]:
    """Per national source, the day through which the last return of a generated set (month `last_month`) is
    complete (what its linkage_completeness rows state)."""
    months = np.array([month_index(last_month)])
    return {src: int(_completeness(months, src)[0]) for src in LAG_MONTHS}


def _missed_reason(c: Cohort, idx: np.ndarray, day: np.ndarray, reported: np.ndarray, never_told: np.ndarray) -> list:
    """Why no site reports an event: the site was never told (SITE_MISSED_DEATH), the patient was lost to follow-up
    before it, or no visit has followed it yet; None when a site reports it."""
    return [
        None
        if reported[i]
        else "NEVER_TOLD"
        if never_told[i]
        else "LOST_TO_FOLLOW_UP"
        if day[i] > c.ltfu_day[i]
        else "NOT_YET_REPORTED"
        for i in idx
    ]


def _events(
    c: Cohort,
    rng: np.random.Generator,
    day: np.ndarray,
    reported: np.ndarray,
    first: int,
    last: int,
    source: str,
    never_told: np.ndarray,
) -> pl.DataFrame:
    """Linked events: the first return whose completeness date covers the event (registered patients only)."""
    months = np.arange(first, last + 1)
    through = _completeness(months, source)
    idx = np.flatnonzero(c.in_registry & (day < NEVER) & (day <= through[-1]))
    # returned once the patient is registered and the source is complete for the event's date
    ready = np.maximum(np.searchsorted(through, day[idx]), day_to_month(c.enrol_day[idx]) - first)
    keep = ready < len(months)
    idx, ready = idx[keep], ready[keep]
    differs = reported[idx] & (rng.random(len(idx)) < DATE_DISAGREE)
    shift = rng.integers(*DATE_SHIFT_DAYS, size=len(idx), endpoint=True) * rng.choice([-1, 1], size=len(idx))
    linked = np.where(differs, day[idx] + shift, day[idx])
    return pl.DataFrame(
        {
            "pidx": idx,
            "return_month": [month_label(int(m)) for m in months[ready]],
            "true_date": day[idx].astype("datetime64[D]"),
            "linkage_date": linked.astype("datetime64[D]"),
            "site_reported": reported[idx],
            "site_missed": pl.Series(_missed_reason(c, idx, day, reported, never_told), dtype=pl.String),
            "date_differs": differs,
        }
    )


def _write(root: Path, form: str, columns: list[str], rows: list[dict]) -> int:
    """One CSV per return month; returns the number of files."""
    by_month: dict[str, list[dict]] = {}
    for r in rows:
        by_month.setdefault(r["submission_month"], []).append(r)
    for month, part in by_month.items():
        path = root / SOURCE / month / f"{form}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            w.writeheader()
            w.writerows(part)
    return len(by_month)


def _rows(c: Cohort, ev: pl.DataFrame, keys: list[str], kind: str) -> list[dict]:
    out = []
    for r in ev.iter_rows(named=True):
        i = r["pidx"]
        row = {
            "source_code": SOURCE,
            "patient_key": keys[i],
            "record_id": f"{kind}-{i:07d}",
            "submission_month": r["return_month"],
            "action": "",
        }
        date = str(r["linkage_date"])
        if kind == "LD":
            disease = ICD10_DISEASE.get(str(c.disease_group[i]), "C83.3")
            cause = str(c.death_cause[i]) or "UNKNOWN"
            row.update(
                death_date=date,
                underlying_cause_icd10=disease if cause == "PRIMARY_DISEASE" else ICD10_CAUSE.get(cause, "R99"),
                contributing_causes_icd10="",
            )
        else:
            topo, morph = P.SPM_ICDO3[str(c.spm_category[i])]
            row.update(diagnosis_date=date, icdo3_topography=topo, icdo3_morphology=morph)
        out.append(row)
    return out


def write_linkage(
    d: Dictionary,
    c: Cohort,
    frames: dict[str, pl.DataFrame],
    sub: Path,
    gt: Path,
    first_month: str,
    last_month: str,
    rng: np.random.Generator,
    key: bytes = DEMO_KEY,
    never_told: np.ndarray | None = None,
) -> dict:
    """Write the monthly linkage returns and ground_truth/linkage_truth.parquet; return a summary.

    `frames` are the site forms as generated (before injected defects): what the sites reported. `key` is the
    registry HMAC key the agency keys its returns with (the demo key, as the synthetic registry runs with it).
    `never_told`: per patient, a death no site was told of (unreported_deaths), recorded in the truth's
    `site_missed` (NEVER_TOLD, LOST_TO_FOLLOW_UP or NOT_YET_REPORTED for each event no site reports)."""
    never_told = np.zeros(c.n, dtype=bool) if never_told is None else never_told
    first, last = month_index(first_month), month_index(last_month)
    keys = [patient_key(key, c.sites[s], str(p)) for s, p in zip(c.site, c.patient_id)]
    # every site source of a death: death form, follow-up DEAD, fatal (grade 5) AE, CRS or ICANS
    death_rep = _site_reported(
        c,
        frames,
        {
            "death": None,
            "followup": ("vital_status", "DEAD"),
            "adverse_event": ("ctcae_grade", "5"),
            "crs": ("astct_grade", "5"),
            "icans": ("astct_grade", "5"),
        },
    )
    cancer_rep = _site_reported(c, frames, {"secondary_malignancy": None})
    deaths = _events(c, rng, c.death_day, death_rep, first, last, "DEATH_STATISTICS", never_told)
    cancers = _events(c, rng, c.spm_day, cancer_rep, first, last, "CANCER_REGISTRY", np.zeros(c.n, dtype=bool))
    n_files = _write(sub, "linkage_death", d.columns("linkage_death"), _rows(c, deaths, keys, "LD"))
    n_files += _write(sub, "linkage_cancer", d.columns("linkage_cancer"), _rows(c, cancers, keys, "LC"))
    months = np.arange(first, last + 1)
    comp = [
        {
            "source_code": SOURCE,
            "record_id": f"{src}-{month_label(int(m))}",
            "submission_month": month_label(int(m)),
            "action": "",
            "linkage_source": src,
            "complete_through": str(np.datetime64(int(t), "D")),
        }
        for src in LAG_MONTHS
        for m, t in zip(months, _completeness(months, src))
    ]
    n_files += _write(sub, "linkage_completeness", d.columns("linkage_completeness"), comp)
    truth = pl.concat(
        [deaths.with_columns(pl.lit("death").alias("event")), cancers.with_columns(pl.lit("cancer").alias("event"))]
    )
    truth = truth.with_columns(
        pl.Series("patient_key", [keys[i] for i in truth["pidx"]], dtype=pl.String),
        pl.Series("site", [c.sites[c.site[i]] for i in truth["pidx"]], dtype=pl.String),
    ).drop("pidx")
    truth.write_parquet(gt / "linkage_truth.parquet", statistics=False)
    return {
        "files": n_files,
        "deaths": deaths.height,
        "cancers": cancers.height,
        "missing_from_sites": {
            e: int((~truth.filter(pl.col("event") == e)["site_reported"]).sum()) for e in ("death", "cancer")
        },
        "site_missed": {
            f"{e}_{r}": n
            for (e, r), n in sorted(
                Counter(zip(truth["event"].to_list(), truth["site_missed"].to_list())).items(), key=str
            )
            if r is not None
        },
        "date_differs": int(truth["date_differs"].sum()),
        "complete_through": {src: str(np.datetime64(int(_completeness(months, src)[-1]), "D")) for src in LAG_MONTHS},
    }


REFERENCE_YEARS = range(2015, 2031)
REFERENCE_SOURCE = (
    "SYNTHETIC - not population data: made by kocartr.synth.linkage.reference_rates for the shipped sample. "
    "Replace with Korea Central Cancer Registry incidence by sex, 5-year age group and year (KOSIS)."
)


def reference_rates() -> pl.DataFrame:
    """A clearly labelled synthetic population incidence table (per 100,000 person-years) by category (ALL_SITES,
    T_CELL_NEOPLASM), sex, 5-year age group (85 = 85+) and calendar year: incidence rising exponentially with age,
    lower in women, +0.5% a year. Shape only; no real rate is claimed."""
    rows = []
    for year in REFERENCE_YEARS:
        for sex, sex_factor in (("M", 1.0), ("F", 0.85)):
            for age in range(0, 90, 5):
                mid = age + 2.5
                trend = 1.005 ** (year - 2015)
                all_sites = 8.0 * np.exp(0.065 * mid) * sex_factor * trend
                t_cell = (0.2 + 0.02 * mid) * sex_factor * trend
                for category, rate in (("ALL_SITES", all_sites), ("T_CELL_NEOPLASM", t_cell)):
                    rows.append((category, sex, age, year, round(float(rate), 3), REFERENCE_SOURCE))
    return pl.DataFrame(
        rows,
        schema=["category", "sex", "age_group_start", "calendar_year", "rate_per_100k", "source"],
        orient="row",
    )
