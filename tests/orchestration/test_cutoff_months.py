"""The registry month's cut-off reaches every dbt model: two months built on one warehouse, the
earlier one sees none of the later data, a published month rebuilt later reproduces its release's tables_sha256,
and a correction submitted after a release leaves the release unchanged and says where the correction goes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import duckdb
import msgpack
import polars as pl
import pytest

from kocartr.months import month_end, next_month
from kocartr.paths import DBT_PROJECT_DIR
from orchestration.jobs import MONTHLY_JOB

STAGED_FORMS = (
    "registration",
    "baseline",
    "product_infusion",
    "crs",
    "icans",
    "adverse_event",
    "lab",
    "response",
    "followup",
    "secondary_malignancy",
    "pregnancy",
    "death",
)


def _previous(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:])
    return f"{year - (mon == 1):04d}-{(mon - 2) % 12 + 1:02d}"


def _dbt(args: list[str], work, cutoff: str | None, warehouse: str = "unused.duckdb") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KOCARTR_DATA_CUTOFF"}
    env["KOCARTR_WAREHOUSE"] = str(work / warehouse)  # compile opens the profile, not the tables
    if cutoff:
        env["KOCARTR_DATA_CUTOFF"] = cutoff
    exe = os.path.join(os.path.dirname(sys.executable), "dbt")
    return subprocess.run(
        [
            exe,
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=str(DBT_PROJECT_DIR),
    )


def test_compiled_models_carry_the_cutoff_and_a_build_without_one_fails(tmp_path):
    """Compiled SQL, not the macro alone: the project once declared `vars: data_cutoff: null`, which won over the
    environment variable, and every staging model compiled to `where true`."""
    res = _dbt(["compile", "--select", "stg_lab", "stg_death", "int_data_cutoff"], tmp_path, "2024-02-29")
    assert res.returncode == 0, res.stdout[-3000:]
    compiled = tmp_path / "target" / "compiled" / "kocartr" / "models"
    for model in ("stg_lab", "stg_death"):
        assert "where submission_month <= '2024-02'" in (compiled / "staging" / f"{model}.sql").read_text()
    assert "cast('2024-02-29' as date)" in (compiled / "intermediate" / "int_data_cutoff.sql").read_text()

    missing = _dbt(["compile", "--select", "stg_lab"], tmp_path, None)
    assert missing.returncode != 0
    assert "No valid data cut-off" in missing.stdout and "KOCARTR_DATA_CUTOFF" in missing.stdout


def test_a_new_warehouse_and_month_reuse_the_projects_one_parse(tmp_path):
    """Neither the warehouse path nor the cut-off is a parse input: an invocation given the project's parse,
    stamped for a warehouse it was never parsed with, re-parses no file, and still compiles that month's cut-off."""
    from orchestration.dbt_cli import PARSE_WAREHOUSE, PARTIAL_PARSE, ensure_manifest, profile_hash, reuse_parse

    ensure_manifest()
    warehouse = tmp_path / "elsewhere" / PARSE_WAREHOUSE
    warehouse.parent.mkdir()
    assert reuse_parse(str(warehouse), tmp_path / "target")
    res = _dbt(
        ["--debug", "compile", "--select", "int_data_cutoff"], tmp_path, "2023-07-31", f"elsewhere/{PARSE_WAREHOUSE}"
    )
    assert res.returncode == 0, res.stdout[-3000:]
    assert "Nothing changed, skipping partial parsing" in res.stdout
    assert "Unable to do partial parsing" not in res.stdout
    compiled = tmp_path / "target" / "compiled" / "kocartr" / "models" / "intermediate" / "int_data_cutoff.sql"
    assert "cast('2023-07-31' as date)" in compiled.read_text()

    # the stamp is the checksum dbt itself computes for that profile (read back from a parse it wrote)
    other = tmp_path / "other"
    res = _dbt(["parse"], other, None, "w.duckdb")
    assert res.returncode == 0, res.stdout[-3000:]
    state = msgpack.unpackb((other / "target" / PARTIAL_PARSE).read_bytes(), strict_map_key=False)
    assert state["state_check"]["profile_hash"]["checksum"] == profile_hash(str(other / "w.duckdb"))
    assert state["env_vars"] == {}  # no file records the cut-off


def _staging_months(con) -> dict[str, str | None]:
    return {f: con.sql(f"select max(submission_month) from staging.stg_{f}").fetchall()[0][0] for f in STAGED_FORMS}


def _correct_one_registration(submissions, month: str) -> None:
    """A site resubmits its month with one patient's sex corrected (same record id: a new version)."""
    for path in sorted(submissions.glob(f"*/{month}/registration.csv")):
        frame = pl.read_csv(path, infer_schema=False)
        if frame.height:
            flipped = {"M": "F", "F": "M"}
            first = frame["sex"][0]
            frame = frame.with_columns(
                pl.when(pl.int_range(pl.len()) == 0)
                .then(pl.lit(flipped.get(first, "M")))
                .otherwise(pl.col("sex"))
                .alias("sex")
            )
            frame.write_csv(path)
            return
    pytest.fail(f"no registration file with rows in {month}")


def test_two_months_on_one_warehouse(pipeline_run, small_submissions, tmp_path):
    from orchestration.runner import run_pipeline
    from orchestration.summary import format_summary

    first, warehouse, work = pipeline_run
    assert first.success
    later = first.month
    earlier = _previous(later)
    wh, releases = tmp_path / "warehouse.duckdb", tmp_path / "releases"
    shutil.copy(warehouse, wh)
    shutil.copytree(work / "releases", releases)
    submissions = tmp_path / "submissions"
    shutil.copytree(small_submissions / "submissions", submissions)

    # 1. the earlier month, on a warehouse that holds the later month's data: built and published
    result = run_pipeline(submissions, wh, releases, month=earlier, demo=True)
    assert result.success, format_summary(result, wh)
    assert result.release_state == "published"
    con = duckdb.connect(str(wh), read_only=True)
    try:
        assert (
            con.sql(f"select count(*) from raw.registration where submission_month = '{later}'").fetchall()[0][0] > 0
        )  # the later data are there...
        months = _staging_months(con)
        assert all(m is None or m <= earlier for m in months.values()), months  # ...and not seen
        assert con.sql("select data_cutoff from intermediate.int_data_cutoff").fetchall()[0][0] == month_end(earlier)
        assert (
            con.sql("select count(*) from marts.dim_patient").fetchall()[0][0]
            == con.sql(
                f"select count(distinct patient_key) from raw.registration where submission_month <= '{earlier}'"
            ).fetchall()[0][0]
        )
    finally:
        con.close()

    # 2. the published later month, rebuilt after the earlier one: the same tables, byte for byte
    published = json.loads((releases / month_end(later).isoformat() / "manifest.json").read_text())
    again = run_pipeline(submissions, wh, releases, month=later, demo=True)
    assert again.success, format_summary(again, wh)
    assert again.release_state.startswith("already published, unchanged; this run reproduces it")
    monthly = next(s for s in again.stages if s.job == MONTHLY_JOB)
    assert monthly.metadata["release/monthly_release"]["tables_sha256"] == published["tables_sha256"]

    # 3. a correction after the release: the release stays as published, the summary says so and where it goes
    _correct_one_registration(submissions, later)
    corrected = run_pipeline(submissions, wh, releases, month=later, demo=True)
    summary = format_summary(corrected, wh)
    assert corrected.success, summary
    line = next(x for x in summary.splitlines() if x.startswith(f"release {month_end(later)}:"))
    assert "already published, unchanged (immutable" in line and "the warehouse now differs" in line
    assert f"next month's release ({month_end(next_month(later))})" in line
    assert json.loads((releases / month_end(later).isoformat() / "manifest.json").read_text()) == published
