import datetime as dt

import polars as pl

from expectations.results import persist_results
from expectations.runner import run_checks
from expectations.scorecard import SCORECARD_COLUMNS, scorecard


def test_scorecard_per_site_and_month(con):
    con.execute("drop table audit.ingest_ledger")
    con.execute("""create table audit.ingest_ledger as select * from (values
                   ('S01', '2025-06', 100, 4), ('S01', '2025-06', 50, 2), ('S02', '2025-06', 80, 0))
                   t(site_code, submission_month, rows_received, rows_quarantined)""")
    con.execute("update staging.stg_baseline set ecog = null where site_code = 'S02'")
    con.execute("update staging.stg_death set death_date = death_date - 500 where site_code = 'S01'")
    persist_results(con, run_checks(con, "staging.stg_death", "run-a"), "run-a", data_month="2025-06")
    con.execute("update marts.fct_followup_schedule set received_date = null where site_code = 'S03'")
    sc = scorecard(con, as_of=dt.date(2026, 1, 1))
    assert sc.columns == SCORECARD_COLUMNS
    june = {r["site_code"]: r for r in sc.filter(pl.col("month") == "2025-06").to_dicts()}
    assert june["S01"]["quarantine_rate"] == 6 / 150 and june["S02"]["quarantine_rate"] == 0.0
    assert june["S03"]["quarantine_rate"] is None  # no ledger rows: unknown, not zero
    # key variables in the fixture: baseline 7 + product_infusion 2 + crs 2 + icans 1 + followup 1 per patient;
    # S02 lost ecog on its 4 baseline records
    assert (june["S01"]["key_cells"], june["S01"]["key_cells_filled"], june["S01"]["completeness"]) == (52, 52, 1.0)
    assert (june["S02"]["key_cells"], june["S02"]["key_cells_filled"]) == (52, 48)
    assert june["S01"]["plausibility_checks_failed"] >= 1 and june["S01"]["plausibility_rows_failing"] >= 1
    assert june["S02"]["plausibility_checks_failed"] == 0
    due = sc.filter(pl.col("followup_due") > 0)
    assert due.height and (due["followup_due"] >= due["followup_received"]).all()
    # fixture: D100 received for everyone, M6 missed by everyone; both windows ended before as_of
    assert due["followup_due"].sum() == 24 and due.filter(pl.col("site_code") != "S03")["followup_received"].sum() == 8
    s03 = sc.filter((pl.col("site_code") == "S03") & pl.col("followup_due").is_not_null())
    assert s03["followup_received"].sum() == 0
    stored = con.sql("select count(*) from audit.dq_scorecard").fetchall()[0][0]
    assert stored == sc.height


def test_scorecard_with_missing_sources_is_null_not_zero(con):
    con.execute("drop table marts.fct_followup_schedule")
    con.execute("drop table audit.ingest_ledger")
    sc = scorecard(con, write=False)
    assert sc.height > 0
    assert sc["followup_timeliness"].null_count() == sc.height
    assert sc["quarantine_rate"].null_count() == sc.height
