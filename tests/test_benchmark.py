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
