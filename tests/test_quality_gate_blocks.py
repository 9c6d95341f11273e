"""A corrupted submission set stops the run at the gate that guards it, loudly, before any analysis is computed."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import polars as pl

CHECK = "death_on_or_after_infusion"
GX_CHECK = "quality_rules"  # a table's rules: one Dagster check (orchestration/checks.py)


def _add_deaths_before_infusion(submissions, share: float = 1 / 3) -> int:
    """Add a death, dated 10 days before infusion, for a share of the infused patients with no death form."""
    infused, dead = [], set()
    for path in submissions.rglob("*.csv"):
        if path.stem not in ("product_infusion", "death"):
            continue
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
        if path.stem == "death":
            dead |= set(zip(frame["site_code"], frame["patient_id"]))
        else:
            infused += frame.select("site_code", "patient_id", "infusion_date").rows()
    chosen = sorted({(s, p): d for s, p, d in infused if (s, p) not in dead}.items())
    chosen = chosen[:: round(1 / share)]
    by_site: dict[str, list[dict]] = {}
    for i, ((site, patient), infusion) in enumerate(chosen):
        death = dt.date.fromisoformat(infusion) - dt.timedelta(days=10)
        by_site.setdefault(site, []).append(
            {
                "site_code": site,
                "patient_id": patient,
                "record_id": f"{site}-XD{i}",
                "death_date": death.isoformat(),
                "primary_cause": "PRIMARY_DISEASE",
            }
        )
    from kocartr.dictionary import load_dictionary

    columns = load_dictionary().columns("death")
    for site, rows in by_site.items():
        month_dir = sorted(p for p in (submissions / site).iterdir() if not any(p.glob("death.*")))[-1]
        frame = pl.DataFrame(
            [{c: r.get(c, "") for c in columns} | {"submission_month": month_dir.name} for r in rows],
            schema={c: pl.Utf8 for c in columns},
        )
        frame.write_csv(month_dir / "death.csv")
    return len(chosen)


def test_deaths_before_infusion_stop_the_run_before_the_analyses(small_submissions, tmp_path):
    from orchestration.runner import run_pipeline
    from orchestration.summary import format_summary

    submissions = tmp_path / "submissions"
    shutil.copytree(small_submissions / "submissions", submissions)
    added = _add_deaths_before_infusion(submissions)
    assert added >= 20

    warehouse = tmp_path / "warehouse.duckdb"
    result = run_pipeline(submissions, warehouse, tmp_path / "releases", demo=True)

    assert not result.success
    failed = [c for c in result.blocking_failures if c.check == GX_CHECK and CHECK in c.description]
    assert failed and failed[0].asset == "staging/stg_death"
    summary = format_summary(result, warehouse)
    assert CHECK in summary and "BLOCKING" in summary and "S01" in summary
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        built = {
            r[0] for r in con.sql("select table_schema || '.' || table_name from information_schema.tables").fetchall()
        }
        assert "staging.stg_death" in built
        # stopped at staging: neither the ADaM datasets nor any analysis table exist
        assert not {t for t in built if t.startswith(("adam.", "analysis."))}
        assert not (tmp_path / "releases").exists() or not any((tmp_path / "releases").iterdir())
    finally:
        con.close()
    from openpyxl import load_workbook

    # the failing records go back to the site: the feedback job runs although the gate stopped the monthly job
    sheet = load_workbook(Path(result.queries_path) / "S01-queries.xlsx")["Checks 품질 점검"]
    rows = list(sheet.iter_rows(values_only=True))
    rule = rows[0].index("Rule / 규칙")
    assert any(CHECK in str(r[rule]) for r in rows[1:])


def test_a_linkage_return_complete_past_its_month_stops_the_run_at_the_linkage_gate(small_submissions, tmp_path):
    """The linkage returns have their own blocking gate in the ingest job: a completeness date after the end of its
    return's month (so after the cut-off of a month that reads it) stops the run before the monthly dataset."""
    from orchestration.runner import run_pipeline
    from orchestration.summary import format_summary

    submissions = tmp_path / "submissions"
    shutil.copytree(small_submissions / "submissions", submissions)
    last = sorted((submissions / "LINKAGE").iterdir())[-1]
    comp = pl.read_csv(last / "linkage_completeness.csv", infer_schema=False)
    comp = comp.with_columns(pl.lit("2099-12-31").alias("complete_through"))
    comp.write_csv(last / "linkage_completeness.csv")

    warehouse = tmp_path / "warehouse.duckdb"
    result = run_pipeline(submissions, warehouse, tmp_path / "releases", demo=True)

    assert not result.success and [s.job for s in result.stages] == ["ingest_batches", "site_feedback"]
    failed = {(c.asset, c.check) for c in result.blocking_failures}
    assert failed == {("raw/linkage_completeness", GX_CHECK)}
    (line,) = [c.description for c in result.blocking_failures]
    assert line.startswith("1 of ") and "complete_through_by_return_month [critical] FAILED" in line
    summary = format_summary(result, warehouse)
    assert f"BLOCKING raw/linkage_completeness :: {GX_CHECK}: 1 of " in summary
    assert "linkage: " in summary and "2099-12-31" in summary  # the summary's linkage line shows the date
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        schemas = {r[0] for r in con.sql("select distinct table_schema from information_schema.tables").fetchall()}
    finally:
        con.close()
    assert "staging" not in schemas and "adam" not in schemas  # stopped before the dbt layers
