"""The benchmark's pure parts: the floor reads every CSV in one scan and counts rows; steps map to stages."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("run_benchmark", ROOT / "benchmarks" / "run_benchmark.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_floor_counts_rows_of_every_file(tmp_path):
    for site, month, rows in (("S01", "2026-01", 3), ("S02", "2026-02", 1)):
        d = tmp_path / site / month
        d.mkdir(parents=True)
        (d / "lab.csv").write_text("a,b\n" + "".join(f"{i},x\n" for i in range(rows)), encoding="utf-8")
    floor = _bench().read_floor(tmp_path)
    assert floor["files"] == 2 and floor["rows"] == 4


def test_steps_are_grouped_into_stages():
    b = _bench()
    timings = {
        "stages": [
            {"step_seconds": {"site_submissions": 2.0, "raw_quality_gate": 1.0}},
            {"step_seconds": {"dbt_staging": 3.0, "dbt_core": 4.0, "release__monthly_release": 1.5, "x": 0.5}},
        ]
    }
    st = b.stage_seconds(timings)
    assert st["ingest"] == 2.0 and st["raw gate"] == 1.0 and st["dbt core"] == 4.0
    assert st["release"] == 1.5 and st["other"] == 0.5 and set(st) == set(b.STAGES)


def test_report_lists_rows_not_run():
    b = _bench()
    case = {
        "case": "sample",
        "floor": {"rows": 10, "files": 2, "seconds": 0.5},
        "run": {"wall_s": 30.0, "cpu_s": 25.0, "peak_rss_mib": 900.0, "stages": {}},
        "run_floor_ratio": 60.0,
    }
    report = {"date": "d", "machine": b.machine(), "cases": [case]}
    report["verdicts"] = b.verdicts(report)
    md = b.to_markdown(report)
    assert report["verdicts"] == {"sample": False} and "MISSED" in md
    assert "| 100k | | | not run" in md and "next month at 10k | | | not run" in md


def test_profile_clock_closes_only_started_steps():
    spec = importlib.util.spec_from_file_location("profile_run", ROOT / "benchmarks" / "profile_run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    clock = mod.StepClock()
    clock.event("dbt_core", "STEP_START")
    clock.event("dbt_core", "ASSET_MATERIALIZATION")  # events inside a step do not close it
    assert clock.steps == {}
    clock.event("dbt_core", "STEP_FAILURE")
    clock.event("release", "STEP_SUCCESS")  # never started: nothing to measure
    assert set(clock.steps) == {"dbt_core"} and set(clock.steps["dbt_core"]) == {"cpu_s", "wall_s"}


def test_coverage_matched_truth_censors_spm_as_the_estimator_does():
    """Design-matched SPM truth: where cancer status is known (the shipped switch), censored at the earlier of the
    generated set's cancer and death completeness dates for patients infused by then, not at min(cut-off, LTFU)."""
    import datetime as dt

    import numpy as np

    from kocartr.censoring import os_censors_at_linkage
    from kocartr.synth.linkage import complete_through

    spec = importlib.util.spec_from_file_location("coverage_study", ROOT / "benchmarks" / "coverage_study.py")
    cov = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cov)
    epoch = dt.date(1970, 1, 1)
    through = complete_through("2026-10")
    # linkage_completeness lags: death data two months, the cancer registry six (kocartr/synth/linkage.py)
    assert through == {
        "DEATH_STATISTICS": (dt.date(2026, 8, 31) - epoch).days,
        "CANCER_REGISTRY": (dt.date(2026, 4, 30) - epoch).days,
    }
    params = {"data_cutoff": "2026-10-31", "arguments": {"last_month": "2026-10"}}
    inf = np.array([(dt.date(2026, 1, 1) - epoch).days, (dt.date(2026, 6, 1) - epoch).days])
    cens = np.array([50, 20])  # min(cut-off, LTFU) - infusion: lost to the sites early
    got = cov.spm_censoring(params, inf, cens)
    assert os_censors_at_linkage()
    assert got.tolist() == [119, 20]  # 2026-04-30 is day 119 of the first; the second was infused after it


def test_os_itt_bias_summary_pairs_seeds_and_scores_the_latent_share():
    """benchmarks/os_itt_bias.py: bias = mean of estimate - latent per rule; the paired change matches seeds."""
    spec = importlib.util.spec_from_file_location("os_itt_bias", ROOT / "benchmarks" / "os_itt_bias.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def rec(seed, rule, est, latent, covered):
        return {"seed": seed, "rule": rule, "endpoint": "OS_ITT", "estimate": est, "latent": latent, "covered": covered}

    recs = [
        rec(2, "last_contact", 0.40, 0.50, False),
        rec(1, "configured", 0.52, 0.50, True),
        rec(1, "last_contact", 0.46, 0.50, False),
        rec(2, "configured", 0.50, 0.50, True),
    ]
    got = {s["rule"]: s for s in mod.summarise(recs) if s["endpoint"] == "OS_ITT"}
    assert got["configured"]["covered"] == 2 and abs(got["configured"]["bias"] - 0.01) < 1e-12
    assert got["last_contact"]["covered"] == 0 and abs(got["last_contact"]["bias"] + 0.07) < 1e-12
    paired = got["configured - last_contact (paired)"]
    assert abs(paired["bias"] - 0.08) < 1e-12 and abs(paired["bias_se"] - 0.02) < 1e-12  # changes 0.06 and 0.10


def _coverage_module():
    spec = importlib.util.spec_from_file_location("coverage_study", ROOT / "benchmarks" / "coverage_study.py")
    cov = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cov)
    return cov


def test_coverage_igg_low_truth_by_hand():
    """IgG at 12 months = 700 x lognormal(0, 0.35) x share x lognormal(0, 0.15), written as an integer:
    P(< 400) = Phi((ln 399.5 - ln(700 share)) / sqrt(0.35^2 + 0.15^2))."""
    cov = _coverage_module()
    # CD19: ln(399.5 / 455) = -0.130082, / 0.380789 = -0.341612 -> Phi = 0.366320
    assert abs(cov.igg_low_truth(True, 400.0) - 0.366320) < 1e-5
    # BCMA (share 0.45): ln(399.5 / 315) = 0.237648, / 0.380789 = 0.624095 -> Phi = 0.733720
    assert abs(cov.igg_low_truth(False, 400.0) - 0.733720) < 1e-5


def test_coverage_icaht_early_grade_by_hand():
    """The counting rule of int_icaht.sql on hand series, with the registry's EARLY grading rows."""
    cov = _coverage_module()
    g = [(1, 0.5, 1), (2, 0.5, 7), (3, 0.5, 14), (3, 0.1, 7), (4, 0.5, 31), (4, 0.1, 14)]
    grade = lambda days, values: cov.icaht_early_grade(days, values, g, 30, 3)  # noqa: E731
    # below 0.5 on days 0, 3, 7, 10 (3 + 4 + 3 + 4 = 14 days held), recovered on day 14: grade 3
    assert grade([0, 3, 7, 10, 14, 21, 28, 60], [0.3, 0.3, 0.2, 0.4, 0.6, 1.0, 2.0, 2.5]) == 3
    # the same with the day-14 count drawn on day 13: 13 days, grade 2
    assert grade([0, 3, 7, 10, 13, 21, 28, 60], [0.3, 0.3, 0.2, 0.4, 0.6, 1.0, 2.0, 2.5]) == 2
    # a one-day stretch above 0.5 (day 7) followed by a value at or below it counts as below: 3 + 4 + 1 + 6 = 14
    assert grade([0, 3, 7, 8, 14, 21, 28, 60], [0.3, 0.3, 0.6, 0.5, 0.6, 1.0, 2.0, 2.5]) == 3
    # deep neutropenia: <= 0.1 on days 0 and 3 and until day 7 (7 days), recovered on day 10: grade 3 by 0.1
    assert grade([0, 3, 7, 10, 14, 21, 28, 60], [0.05, 0.08, 0.3, 0.6, 1.0, 1.2, 2.0, 2.5]) == 3
    # no value after day 3: the last counts for its own day only (3 + 1 = 4 days): grade 1
    assert grade([0, 3], [0.3, 0.3]) == 1
    # below through day 28 with the next value on day 60: days 0-30 all counted (31): grade 4
    assert grade([0, 3, 7, 10, 14, 21, 28, 60], [0.3] * 7 + [2.0]) == 4


def test_coverage_best_response_flags_by_hand():
    import numpy as np

    cov = _coverage_module()
    rank = {"CR": 2, "PR": 5, "SD": 7, "PD": 9, "NE": 99}
    pidx = np.array([0, 0, 1, 1, 2, 2, 3])
    day = np.array([28, 90, 28, 95, 28, 92, 200])
    resp = np.array(["PR", "CR", "NE", "CR", "PR", "PD", "CR"], dtype=object)
    index = np.array([0, 0, 0, 0])
    cr, rsp = cov.best_response_flags(pidx, day, resp, index, 90, rank, {"CR"}, {"CR", "PR"})
    # 0: CR on day 90; 1: NE then CR after the window; 2: PR, then PD after the window; 3: nothing by day 90
    assert cr.tolist() == [True, False, False, False] and rsp.tolist() == [True, False, True, False]
    cr, rsp = cov.best_response_flags(pidx, day, resp, index, 180, rank, {"CR"}, {"CR", "PR"})
    assert cr.tolist() == [True, True, False, False] and rsp.tolist() == [True, True, True, False]


def test_coverage_late_truths_are_the_generators_calibration():
    """Early ICAHT >= 3 in about one patient in six (params.ANC_COURSE: 16-21% measured); response truths ordered
    as their definitions demand (CR within ORR, by day 90 within by day 180)."""
    cov = _coverage_module()
    assert 0.13 < cov.icaht_early_ge3_truth(5_000, 1) < 0.20
    rt = cov.response_truth(20_000, 1)
    assert ("RESPONSE_D90", "orr", "MM/CILTA_CEL") in rt and ("RESPONSE_D90", "orr", "ALL/TISA_CEL") in rt
    for (endpoint, measure, cell), p in rt.items():
        if measure == "cr_rate":
            assert p <= rt[(endpoint, "orr", cell)]
        if endpoint == "RESPONSE_D90":
            assert p <= rt[("RESPONSE_D180", measure, cell)]


def test_coverage_product_response_truth_weights_the_published_cells(tmp_path):
    """A PRODUCT stratum's truth is its published DISGRP/PRODUCT cells' truths weighted by their n; a cell pooled
    into OTHER_PRODUCTS is not the product's."""
    import duckdb

    cov = _coverage_module()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema analysis")
    con.execute(
        """create table analysis.proportions as select * from (values
           ('RESPONSE_D90', 'orr', 'DISGRP/PRODUCT', 'MCL/TRIAL', 30),
           ('RESPONSE_D90', 'orr', 'DISGRP/PRODUCT', 'MM/TRIAL', 10),
           ('RESPONSE_D90', 'orr', 'DISGRP/PRODUCT', 'OTHER_UNKNOWN/OTHER_PRODUCTS', 8),
           ('RESPONSE_D90', 'orr', 'DISGRP/PRODUCT', 'LBCL/AXI_CEL', 50))
           t(endpoint, measure, stratum_variable, stratum, n)"""
    )
    truth = {
        ("RESPONSE_D90", "orr", "MCL/TRIAL"): 0.6,
        ("RESPONSE_D90", "orr", "MM/TRIAL"): 0.8,
        ("RESPONSE_D90", "orr", "ALL/TRIAL"): 1.0,
        ("RESPONSE_D90", "orr", "LBCL/AXI_CEL"): 0.7,
    }
    # (30 x 0.6 + 10 x 0.8) / 40 = 0.65: the ALL cell has no patients in the stratum, the pooled cell is not TRIAL's
    assert abs(cov.product_response_truth(con, "RESPONSE_D90", "orr", "TRIAL", truth) - 0.65) < 1e-12
    assert cov.product_response_truth(con, "RESPONSE_D90", "orr", "AXI_CEL", truth) == 0.7
    assert cov.product_response_truth(con, "RESPONSE_D90", "orr", "CILTA_CEL", truth) is None


def test_coverage_daoh_days_and_product_truth_by_hand(tmp_path):
    """DAOH-100 of hand stays on absolute generator days (infusion on day 1000): nights adm <= d < dis counted over
    days 1-100, overlaps once, a stay open past day 100 cut at it, death by day 100 = 0; a PRODUCT stratum's truth
    weighted by its published cells."""
    import duckdb
    import numpy as np

    cov = _coverage_module()
    inf = np.array([1000, 1000, 1000, 1000, 1000])
    death = np.array([10**7, 10**7, 1050, 1100, 1101])
    # p0: days -6..13 (nights 1-12) and 10..15 overlapping (adds 13, 14): 14 -> 86; p1: no stay -> 100;
    # p2: died day 50 -> 0; p3: died day 100 -> 0; p4: died day 101, stay 95..10**7 (days 95-100 = 6) -> 94
    pidx = np.array([0, 0, 4])
    adm = np.array([994, 1010, 1095])
    dis = np.array([1013, 1015, 10**7])
    assert cov.daoh_days(inf, death, pidx, adm, dis, 100).tolist() == [86.0, 100.0, 0.0, 0.0, 94.0]

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema analysis")
    con.execute(
        """create table analysis.proportions as select * from (values
           ('RESPONSE_D90', 'orr', 'DISGRP/PRODUCT', 'LBCL/TRIAL', 30),
           ('RESPONSE_D90', 'orr', 'DISGRP/PRODUCT', 'MM/TRIAL', 10))
           t(endpoint, measure, stratum_variable, stratum, n)"""
    )
    # (30 x 70 + 10 x 80) / 40 = 72.5
    assert cov.product_daoh_truth(con, "TRIAL", {"LBCL/TRIAL": 70.0, "MM/TRIAL": 80.0}) == 72.5
    assert cov.product_daoh_truth(con, "TRIAL", {"LBCL/TRIAL": 70.0}) is None
