"""Shared fixtures for the dbt tests: a real DuckDB warehouse with the raw fixture, built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dbt_raw_fixture import DATA_CUTOFF, build_raw  # noqa: E402
from dbt_runner import run_dbt  # noqa: E402


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("dbt_fixture")
    warehouse = work / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        build_raw(con)
    finally:
        con.close()
    result = run_dbt(["build"], warehouse, work, cutoff=DATA_CUTOFF)
    return {
        "warehouse": warehouse,
        "work": work,
        "result": result,
        "manifest": work / "target" / "manifest.json",
        "run_results": work / "target" / "run_results.json",
    }


@pytest.fixture()
def wh(built_warehouse):
    assert built_warehouse["result"].returncode == 0, built_warehouse["result"].stdout[-6000:]
    con = duckdb.connect(str(built_warehouse["warehouse"]), read_only=True)
    yield con
    con.close()
