"""On a full pipeline run: every linkage death and cancer the sites never reported (generator truth) is found,
flagged in the marts with its source and queried at the patient's site."""

from __future__ import annotations

import json

import duckdb
import polars as pl


def _truth(small_submissions) -> tuple[pl.DataFrame, str]:
    gt = small_submissions / "ground_truth"
    cutoff = json.loads((gt / "params.json").read_text(encoding="utf-8"))["data_cutoff"]
    truth = pl.read_parquet(gt / "linkage_truth.parquet")
    return truth.filter(pl.col("linkage_date") <= pl.lit(cutoff).str.to_date()), cutoff


def test_every_site_missed_linkage_event_is_found_and_queried(pipeline_run, small_submissions) -> None:
    _, warehouse, _ = pipeline_run
    truth, _ = _truth(small_submissions)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        registered = {r[0] for r in con.sql("select patient_key from staging.stg_registration").fetchall()}
        recon = con.sql(
            "select patient_key, event_type, reconciliation_status from marts.fct_linkage_reconciliation"
        ).pl()
        queried = con.sql(
            "select distinct patient_key, rule from audit.site_queries where patient_key is not null"
        ).pl()
        dtsrc = dict(con.sql("select patient_key, death_source_form from marts.dim_patient where is_dead").fetchall())
        form_dates = con.sql("select patient_key, death_date as form_date from staging.stg_death").pl()
    finally:
        con.close()
    missed = truth.filter(~pl.col("site_reported") & pl.col("patient_key").is_in(list(registered)))
    assert missed.height > 0  # the generator's sites miss some (lost to follow-up)
    for event, rule in (("death", "death_sources_agree"), ("cancer", "site_reported_linked_cancer")):
        keys = set(missed.filter(pl.col("event") == event)["patient_key"])
        found = recon.filter(
            (pl.col("event_type") == event.upper()) & (pl.col("reconciliation_status") == "NOT_REPORTED_BY_SITE")
        )
        assert keys <= set(found["patient_key"]), event
        asked = set(queried.filter(pl.col("rule").str.ends_with(rule))["patient_key"])
        assert keys <= asked, event
    # a death only the linkage knows is analysed, and ADSL / dim_patient name its source
    for key in missed.filter(pl.col("event") == "death")["patient_key"]:
        assert dtsrc.get(key) == "linkage_death"
    # a death form whose date the national record contradicts (the generator misdates a known share) is queried
    misdated = truth.filter((pl.col("event") == "death") & pl.col("date_differs")).join(form_dates, on="patient_key")
    misdated = misdated.filter(pl.col("form_date") != pl.col("linkage_date"))
    assert misdated.height > 0
    asked = set(queried.filter(pl.col("rule").str.ends_with("death_sources_agree"))["patient_key"])
    assert set(misdated["patient_key"]) <= asked
