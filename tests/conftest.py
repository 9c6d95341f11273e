"""Shared fixtures: a small generated submissions set and one full pipeline run over it (session-scoped: ~1 min)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

# The fast tier (`make test-fast`, `pytest -m "not slow"`) leaves out what builds a whole warehouse: tests using
# these fixtures, and modules that run the pipeline or dbt themselves. `make test` (and CI) runs everything.
SLOW_FIXTURES = {"pipeline_run", "built_warehouse", "wh", "published", "warehouse"}
SLOW_MODULES = {
    "test_pipeline_end_to_end.py",
    "test_quality_gate_blocks.py",
    "test_cutoff_months.py",
    "test_project_instance.py",
    "test_dbt_generated_data.py",
    "test_kill_safety.py",
    "test_release_scenario.py",
    "test_definitions.py",
    "test_hostile_operations.py",
    "test_publish.py",
}
# single tests over ~2 s (measured with --durations): generated sets, whole releases, random-table audits
SLOW_TESTS = {
    "test_deterministic_by_seed",
    "test_truth_plausible_and_recoverable",
    "test_other_analysis_table_shapes_resolve_through_aliases",
    "test_release_without_analysis_tables_still_builds",
    "test_random_two_way_tables_pass_the_audit",
    "test_truth_frames_of_a_generated_set",
    "test_every_row_defect_quarantined_and_no_clean_row",
    "test_every_path_in_a_sample_sized_set",
    "test_deaths_no_site_was_told_of_leave_no_site_report",
}


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "slow: builds a warehouse or runs the pipeline (left out of `make test-fast`)")


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if (
            SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
            or item.path.name in SLOW_MODULES
            or item.originalname in SLOW_TESTS
        ):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _cache_in_tmp(tmp_path_factory) -> None:
    """Caches kept between runs (the report's subset font) go to a tmp folder, never the user's."""
    os.environ["KOCARTR_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def small_submissions(tmp_path_factory) -> Path:
    from kocartr.synth import generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, patients=150, sites=3, seed=11, first_month="2022-01", last_month="2025-06")
    return out


@pytest.fixture(scope="session")
def pipeline_run(small_submissions, tmp_path_factory):
    """One in-process run of the whole pipeline, as `kocartr run --demo` does it."""
    from orchestration.runner import run_pipeline

    work = tmp_path_factory.mktemp("run")
    warehouse = work / "warehouse.duckdb"
    result = run_pipeline(small_submissions / "submissions", warehouse, work / "releases", demo=True)
    return result, warehouse, work
