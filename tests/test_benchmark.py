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
