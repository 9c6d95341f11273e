"""Median follow-up by reverse Kaplan-Meier: hand-computed cases, the table over an ADaM frame, and R's survfit."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analyses.followup import median_followup, reverse_km_summary
from analyses.survival import DAYS_PER_MONTH

CUTOFF = dt.date(2026, 10, 31)


def test_all_alive_median_is_the_plateau_midpoint():
    # nobody died: reverse KM steps 3/4, 1/2, 1/4, 0 at days 10, 20, 30, 40; S = 0.5 on [20, 30) -> (20 + 30) / 2
    s = reverse_km_summary(np.array([10.0, 20.0, 30.0, 40.0]), np.array([False] * 4))
    assert s["n"] == s["n_alive"] == 4 and s["n_dead"] == 0
    assert s["median_months"] == pytest.approx(25 / DAYS_PER_MONTH)
    # first quartile: 1 - S first >= 0.25 at day 10 (exactly 0.25 -> midpoint with the next step, day 20)
    assert s["q1_months"] == pytest.approx(15 / DAYS_PER_MONTH)
    assert s["q3_months"] == pytest.approx(35 / DAYS_PER_MONTH)
    assert s["max_months"] == pytest.approx(40 / DAYS_PER_MONTH)


def test_deaths_censor_the_reverse_curve():
    # days 1..5; deaths at 2 and 4 censor. Reverse KM: t1 1 - 1/5 = 0.8; t3 0.8 * (1 - 1/3) = 0.5333; t5 0.
    # 1 - S reaches 0.5 only at day 5 -> median 5 days (a crude median of the survivors' times would say 3)
    s = reverse_km_summary(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([False, True, False, True, False]))
    assert (s["n_alive"], s["n_dead"]) == (3, 2)
    assert s["median_months"] == pytest.approx(5 / DAYS_PER_MONTH)
    assert s["q1_months"] == pytest.approx(3 / DAYS_PER_MONTH)  # 1 - S = 0.2 at day 1, 0.4667 at day 3


def test_no_survivor_gives_no_median():
    s = reverse_km_summary(np.array([3.0, 7.0]), np.array([True, True]))
    assert s["median_months"] is None and s["n_alive"] == 0


def _adtte() -> pl.DataFrame:
    rows = [
        # USUBJID, INFNUM, AVAL, CNSR, PRODUCT, DISGRP
        ("P1", 1, 10.0, 1, "AXI_CEL", "LBCL"),
        ("P2", 1, 20.0, 1, "AXI_CEL", "LBCL"),
        ("P3", 1, 30.0, 1, "CILTA_CEL", "MM"),
        ("P4", 1, 40.0, 1, "CILTA_CEL", "MM"),
        ("P5", 1, 15.0, 0, "AXI_CEL", "LBCL"),
        ("P5", 2, 5.0, 1, "AXI_CEL", "LBCL"),  # second infusion row: ignored (first infusion is day 0)
        ("P6", 1, -1.0, 1, "AXI_CEL", "LBCL"),  # invalid: excluded and counted, as in the OS table
    ]
    return pl.DataFrame(
        [
            dict(USUBJID=u, INFNUM=i, PARAMCD="OS", AVAL=a, CNSR=c, CMPEVFL="N", ENTRYT=0.0, PRODUCT=p, DISGRP=d)
            for u, i, a, c, p, d in rows
        ]
    )


def test_table_per_stratum_on_the_os_analysis_set():
    out = median_followup(_adtte(), CUTOFF)
    assert out.columns[:5] == ["endpoint", "stratum_variable", "stratum", "method", "data_cutoff"]
    overall = out.filter(pl.col("stratum_variable") == "overall").row(0, named=True)
    assert (overall["n"], overall["n_alive"], overall["n_dead"], overall["n_excluded"]) == (5, 4, 1, 1)
    # alive at 10, 20, 30, 40; P5 died at 15 (censors the reverse curve): 1 - S = 0.2, 0.467, 0.733 -> day 30
    assert overall["median_months"] == pytest.approx(30 / DAYS_PER_MONTH)
    mm = out.filter((pl.col("stratum_variable") == "DISGRP") & (pl.col("stratum") == "MM")).row(0, named=True)
    assert mm["n"] == 2 and mm["median_months"] == pytest.approx(35 / DAYS_PER_MONTH)  # plateau 0.5 on [30, 40)
    assert set(out["stratum_variable"]) == {"overall", "PRODUCT", "DISGRP"}
    assert "reverse Kaplan-Meier" in overall["method"]


def test_build_all_writes_the_table(monkeypatch):
    from analyses import late_effects
    from analyses.outcomes import build_all

    monkeypatch.setattr(late_effects, "build_late", lambda *a, **k: {})  # late effects have their own tests

    adtte = _adtte()
    adsl = pl.DataFrame(
        {"USUBJID": ["P1"], "INFFL": ["Y"], "PRODUCT": ["AXI_CEL"], "DISGRP": ["LBCL"], "TRTSDT": [dt.date(2026, 1, 5)]}
    )
    adae = pl.DataFrame(
        schema={"USUBJID": pl.Utf8, "AECAT": pl.Utf8, "ATOXGR": pl.Utf8, "ASTDY": pl.Float64, "ADURN": pl.Float64}
    )
    tables = build_all(adtte, adsl, adae, CUTOFF, min_days={})
    assert tables["median_followup"].height == median_followup(adtte, CUTOFF).height > 0


R_SCRIPT = r"""
suppressMessages(library(survival)); library(jsonlite)
d <- read.csv(commandArgs(TRUE)[1])
fit <- survfit(Surv(time, 1 - died) ~ 1, data = d, conf.type = "log-log")
q <- quantile(fit, c(0.25, 0.5, 0.75))
cat(toJSON(list(q = unname(q$quantile), lower = unname(q$lower), upper = unname(q$upper)), digits = NA, na = "null"))
"""


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed (Rscript not on PATH)")
def test_reverse_km_equals_r_survfit(tmp_path: Path):
    rng = np.random.default_rng(5)
    time = rng.integers(1, 900, size=120).astype(float)
    died = rng.random(120) < 0.35
    csv = tmp_path / "d.csv"
    csv.write_text("time,died\n" + "".join(f"{int(t)},{int(d)}\n" for t, d in zip(time, died)))
    script = tmp_path / "fu.R"
    script.write_text(R_SCRIPT)
    res = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    ref = json.loads(res.stdout)
    s = reverse_km_summary(time, died)
    ours = [s["q1_months"], s["median_months"], s["q3_months"]]
    for o, r in zip(ours, ref["q"]):
        assert o * DAYS_PER_MONTH == pytest.approx(r, abs=1e-9)
    for o, r in ((s["lower_95"], ref["lower"][1]), (s["upper_95"], ref["upper"][1])):
        assert (o is None) == (r is None) and (o is None or o * DAYS_PER_MONTH == pytest.approx(r, abs=1e-9))
