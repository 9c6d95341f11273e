"""Cytopenia AE grades consistent with the generated labs: a site grades a neutropenia, thrombocytopenia or anaemia
by the lowest count during the event (CTCAE), so the synthetic grade is the grade of the lowest generated value in
the event's window, by the registry's own cut-offs (data/config/ctcae_lab_grading.csv) and window rule
(clinical_thresholds ae_lab_window_open_days). Drawing the grade apart from the labs made 37-54% of cytopenia rows
disagree with their counts, each a site query no real site would get. No random draw here.
"""

from __future__ import annotations

import csv

import numpy as np

from kocartr.synth.cohort import NEVER
from kocartr.synth.forms import FormRows


def _cutoffs() -> tuple[dict[tuple[str, str], list[tuple[int, float]]], dict[str, str], int]:
    from kocartr.paths import CONFIG_DIR

    cuts: dict[tuple[str, str], list[tuple[int, float]]] = {}
    analyte: dict[str, str] = {}
    with open(CONFIG_DIR / "ctcae_lab_grading.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            cuts.setdefault((r["ae_term"], r["ctcae_version"]), []).append((int(r["grade"]), float(r["value_below"])))
            analyte[r["ae_term"]] = r["analyte"]
    with open(CONFIG_DIR / "clinical_thresholds.csv", encoding="utf-8") as fh:
        window = next(int(float(r["value"])) for r in csv.DictReader(fh) if r["rule_id"] == "ae_lab_window_open_days")
    return cuts, analyte, window


def _as_submitted(lab: FormRows) -> np.ndarray:
    """Values rounded as the submission file writes them (a 0.499 written as 0.50 is grade 3, not 4)."""
    value = np.asarray(lab.cols["value"], float)
    scale = 10.0 ** np.broadcast_to(np.asarray(lab.decimals.get("value", 2)), value.shape)
    return np.round(value * scale) / scale


def _lowest_in_window(ae: FormRows, lab: FormRows, analyte: dict[str, str], window: int):
    """Per AE row: the lowest value of its term's analyte from onset to resolution (open: onset + window)."""
    import polars as pl

    term = np.asarray(ae.cols["ae_term"], dtype=object)
    onset = np.asarray(ae.cols["onset_date"], np.int64)
    res = np.asarray(ae.cols["resolution_date"], np.int64)
    events = pl.DataFrame(
        {
            "row": np.arange(len(term)),
            "p": ae.pidx.astype(np.int64),
            "analyte": [analyte.get(t, "") for t in term],
            "start": onset,
            "end": np.where(res < NEVER, res, onset + window),
        }
    ).filter(pl.col("analyte") != "")
    labs = pl.DataFrame(
        {
            "p": lab.pidx.astype(np.int64),
            "analyte": lab.cols["analyte"],
            "day": np.asarray(lab.cols["lab_date"], np.int64),
            "value": _as_submitted(lab),
        }
    )
    low = (
        events.join(labs, on=["p", "analyte"])
        .filter(pl.col("day").is_between(pl.col("start"), pl.col("end")))
        .group_by("row")
        .agg(pl.col("value").min())
    )
    out = np.full(len(term), np.nan)
    out[low["row"].to_numpy()] = low["value"].to_numpy()
    return out


def grade_from_labs(ae: FormRows, lab: FormRows) -> FormRows:
    """The AE rows with each lab-defined cytopenia graded by its lowest count (rows without a graded value keep
    the drawn grade)."""
    cuts, analyte, window = _cutoffs()
    low = _lowest_in_window(ae, lab, analyte, window)
    term = np.asarray(ae.cols["ae_term"], dtype=object)
    version = np.asarray(ae.cols["ctcae_version"], dtype=object)
    grade = np.asarray(ae.cols["ctcae_grade"], float).copy()
    for (t, v), levels in cuts.items():
        m = (term == t) & (version == v) & ~np.isnan(low)
        implied = np.zeros(m.sum())
        for g, below in levels:
            implied = np.where(low[m] < below, np.maximum(implied, g), implied)
        grade[m] = np.where(implied >= 1, implied, grade[m])
    # grade 4 is life-threatening, serious by definition (ICH E2A): a regraded row says so as a site would
    newly = (grade >= 4) & (np.asarray(ae.cols["serious"], dtype=object) != "Y")
    serious = np.where(newly, "Y", ae.cols["serious"]).astype(object)
    criteria = np.where(newly, "LIFE_THREATENING;HOSPITALIZATION", ae.cols["seriousness_criteria"]).astype(object)
    cols = {**ae.cols, "ctcae_grade": grade, "serious": serious, "seriousness_criteria": criteria}
    return FormRows(ae.pidx, ae.report_day, cols, ae.decimals)
