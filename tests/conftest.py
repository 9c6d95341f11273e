"""Shared fixtures: a small generated submissions set and one full pipeline run over it (session-scoped: ~1 min)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


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
