"""Late-effect estimates against R where R has the estimator: the first severe infection's cumulative incidence
(cmprsk::cuminc, death competing), landmark prevalence CIs (binom.test: Clopper-Pearson) and infection rate CIs
(poisson.test: Garwood), on one generated cohort run through analyses.late_effects."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analyses import late_effects as le
from analyses import outcomes as oc

pytestmark = pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed: R comparison skipped")

R_SCRIPT = r"""
suppressMessages(library(cmprsk)); library(jsonlite)
a <- commandArgs(TRUE)
d <- read.csv(a[1])
ci <- cuminc(d$time, d$status, cencode = 0)
tp <- timepoints(ci, c(182.625, 365.25))
k <- as.integer(a[2]); n <- as.integer(a[3]); e <- as.integer(a[4]); py <- as.numeric(a[5])
out <- list(cif = unname(tp$est["1 1", ]), var = unname(tp$var["1 1", ]),
            binom = unname(binom.test(k, n)$conf.int), pois = 100 * unname(poisson.test(e, py)$conf.int))
cat(toJSON(out, digits = NA))
"""


def _cohort(n: int = 80) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(11)
    ids = [f"p{i}" for i in range(n)]
    exit_ = rng.integers(20, 700, n).astype(float)
    died = rng.random(n) < 0.3
    sev = rng.random(n) < 0.35
    onset = np.floor(rng.uniform(0, 1, n) * exit_ * 1.3)  # some after the exit: not counted
    d0 = dt.date(2023, 1, 1)
    adsl = pl.DataFrame(
        {
            "USUBJID": ids,
            "INFFL": ["Y"] * n,
            "TRTSDT": [d0] * n,
            "PRODUCT": ["A"] * n,
            "DISGRP": ["LBCL"] * n,
            "LSTCNTDT": [d0 + dt.timedelta(days=int(x)) for x in exit_],
            "LSTALVDT": [d0 + dt.timedelta(days=int(x)) for x in exit_],
            "DTHDT": [d0 + dt.timedelta(days=int(x)) if dd else None for x, dd in zip(exit_, died)],
            "DTHSITFL": ["Y" if dd else None for dd in died],
            "LTFUFL": ["N"] * n,
        }
    )
    adtte = pl.DataFrame(
        {"USUBJID": ids, "PARAMCD": ["OS"] * n, "INFNUM": [1] * n, "AVAL": exit_, "CNSR": (~died).astype(int)}
    )
    adae = pl.DataFrame(
        {
            "USUBJID": [i for i, s in zip(ids, sev) if s] + ids[:10],
            "AECAT": ["INFECTION"] * (int(sev.sum()) + 10),
            "ASTDY": [o for o, s in zip(onset, sev) if s] + [35.0] * 10,
            "ATOXGRN": [3] * int(sev.sum()) + [2] * 10,
        }
    )
    labs = pl.DataFrame({"USUBJID": ids, "ANALYTE": ["ANC"] * n, "ADY": [30.0] * n, "AVAL": rng.uniform(0.2, 3, n)})
    return adsl, adtte, adae, labs


def test_late_effect_estimates_equal_r(tmp_path: Path) -> None:
    adsl, adtte, adae, labs = _cohort()
    cut = dt.date(2025, 6, 1)
    tte = le.infsev_tte(le.followup_frame(adtte, adsl), adae)
    status = tte.select(
        pl.col("AVAL").alias("time"),
        pl.when(pl.col("CNSR") == 0).then(1).when(pl.col("CMPEVFL") == "Y").then(2).otherwise(0).alias("status"),
    )
    status.write_csv(tmp_path / "d.csv")
    prev = (
        le.landmark_prevalence(
            adsl,
            le.LateInputs(labs=labs),
            cut,
            [le.Measure("ANC", "CYTOPENIA", "ANC", 1.0, "labs")],
            [le.Landmark("CYTOPENIA", 30, 23, 37)],
        )
        .filter(pl.col("stratum") == "overall")
        .row(0, named=True)
    )
    rate = (
        le.infection_rates(adtte, adsl, adae, cut)
        .filter((pl.col("stratum") == "overall") & (pl.col("time_window") == "D31-180"))
        .row(0, named=True)
    )
    script = tmp_path / "ref.R"
    script.write_text(R_SCRIPT)
    args = [str(prev["events"]), str(prev["n"]), str(rate["events"]), repr(rate["person_years"])]
    res = subprocess.run(["Rscript", str(script), str(tmp_path / "d.csv"), *args], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    ref = json.loads(res.stdout)
    cif = oc.cumulative_incidence(tte, cut, endpoints={"INFSEV": "DEATH"}, landmark_months=(6.0, 12.0))
    lm = cif.filter((pl.col("row_type") == "landmark") & (pl.col("stratum") == "overall")).sort("time_days")
    np.testing.assert_allclose(lm["estimate"].to_numpy(), ref["cif"], atol=1e-10)
    np.testing.assert_allclose(lm["std_error"].to_numpy() ** 2, ref["var"], rtol=1e-8)
    assert (prev["lower_95"], prev["upper_95"]) == pytest.approx(tuple(ref["binom"]), rel=1e-8)
    assert (rate["lower_95"], rate["upper_95"]) == pytest.approx(tuple(ref["pois"]), rel=1e-8)
