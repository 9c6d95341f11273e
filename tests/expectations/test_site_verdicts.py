"""Per-site verdicts: a rule that passes for all sites together but fails at one site is a failure for that site,
in the check's metadata, audit.dq_results, the run summary, the scorecard and the site's workbook."""

from __future__ import annotations

import duckdb
import openpyxl
import pytest

from expectations import config as C
from expectations import scorecard, site_verdicts
from expectations.results import persist_results
from expectations.rules import rule
from expectations.runner import run_rules

NAME = "staging.stg_fu.dead_has_death_form"
RULE = rule(
    "staging.stg_fu",
    "dead_has_death_form",
    category="completeness",
    subcategory="atemporal",
    severity="warning",
    max_failing_share=0.05,
    reason="A follow-up reporting DEAD makes the death form due.",
    query="select site_code, record_id, ok from staging.stg_fu",
)


@pytest.fixture()
def con(tmp_path):
    """S01 and S02 clean (20 each); S03 2 of 23 failing (8.7%): 2/63 = 3.2% overall, under the 5% threshold."""
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    c.execute("create schema staging")
    c.execute("create table staging.stg_fu (site_code varchar, record_id varchar, ok boolean)")
    for site, n, bad in (("S01", 20, 0), ("S02", 20, 0), ("S03", 23, 2)):
        c.executemany(
            "insert into staging.stg_fu values (?, ?, ?)", [(site, f"{site}-FU{i}", i >= bad) for i in range(n)]
        )
    yield c
    c.close()


def test_s03_fails_its_own_threshold_while_the_rule_passes(con, tmp_path):
    (o,) = run_rules(con, [RULE], "run-1")
    assert o.passed and o.failing_share == pytest.approx(2 / 63)
    assert [s.site_code for s in o.sites_over_threshold] == ["S03"]
    meta = o.as_metadata()
    assert meta["sites_failed"] == "S03" and meta["site_verdicts"]["S03"]["passed"] is False
    assert meta["site_verdicts"]["S01"]["passed"] is True
    assert "FAILED at site S03 (8.7%)" in o.describe()

    persist_results(con, [o], "run-1", data_month="2026-05")
    v = {r["site_code"]: r for r in site_verdicts(con, "2026-05").iter_rows(named=True)}
    assert v["S03"]["passed"] is False and v["S03"]["overall_passed"] is True and v["S03"]["blocks"] is False
    assert v["S01"]["passed"] and v["S02"]["passed"]
    card = {(r["site_code"], r["month"]): r for r in scorecard(con, write=False).iter_rows(named=True)}
    assert card[("S03", "2026-05")]["checks_failed_at_site"] == 1
    assert card[("S03", "2026-05")]["checks_failed_at_site_names"] == NAME
    assert card[("S01", "2026-05")]["checks_failed_at_site"] == 0

    from kocartr.feedback import build_site_queries, write_site_queries

    build_site_queries(con, "2026-05")
    counts = write_site_queries(con, "S03", "2026-05", tmp_path / "S03.xlsx")
    assert counts["site_verdicts"] == 1 and counts["quality_check"] == 2
    sheet = list(openpyxl.load_workbook(tmp_path / "S03.xlsx")["Site verdicts 기관 판정"].values)
    assert sheet[1][0] == NAME and sheet[1][6] == "PASSED"  # passed for all sites, failed here
    assert write_site_queries(con, "S01", "2026-05", tmp_path / "S01.xlsx")["site_verdicts"] == 0

    con.close()
    from orchestration.summary import site_failure_lines

    lines = "\n".join(site_failure_lines(tmp_path / "w.duckdb", "2026-05"))
    assert f"{NAME} [" in lines and "passes overall, FAILED at S03 2/23 (8.7%) (> 5.0%)" in lines


def test_configuration_makes_a_site_failure_fail_the_check(con, monkeypatch):
    monkeypatch.setitem(C.SITE_FAILURE_BLOCKS, NAME, True)
    (o,) = run_rules(con, [RULE], "run-2")
    assert not o.passed and o.status == "FAILED"


def test_results_are_tagged_with_run_and_month(con):
    (o,) = run_rules(con, [RULE], "run-3")
    persist_results(con, [o], "run-3")  # an ingest run has no partition: tagged with a month all the same
    persist_results(con, [o], "run-3")  # a rerun of the same run replaces its rows
    rows = con.sql("select run_id, data_month, count(*) from audit.dq_results group by all").fetchall()
    assert len(rows) == 1 and rows[0][0] == "run-3" and rows[0][1] is not None and rows[0][2] == 4
