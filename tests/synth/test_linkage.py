"""The generator's linkage returns: consistent with its truth, every site-missed event among them."""

from __future__ import annotations

import polars as pl

from kocartr.ingest.privacy import DEMO_KEY, patient_key
from tests.synth.conftest import all_rows


def _truth(out) -> tuple[pl.DataFrame, pl.DataFrame]:
    gt = out / "ground_truth"
    return pl.read_parquet(gt / "linkage_truth.parquet"), pl.read_parquet(gt / "patients.parquet")


def test_linkage_holds_every_true_death_up_to_completeness(small) -> None:
    out, summary = small
    link, patients = _truth(out)
    through = pl.Series([summary["linkage"]["complete_through"]["DEATH_STATISTICS"]]).str.to_date()[0]
    dead = patients.filter(pl.col("in_registry") & (pl.col("death_date") <= through))
    keys = {patient_key(DEMO_KEY, s, p) for s, p in dead.select("site", "patient_id").iter_rows()}
    assert keys == set(link.filter(pl.col("event") == "death")["patient_key"])
    # a date differs only where a site reported the event too; otherwise the linkage date is the true date
    same = link.filter(~pl.col("date_differs"))
    assert (same["linkage_date"] == same["true_date"]).all()
    assert link.filter(pl.col("date_differs"))["site_reported"].all()


def test_linkage_files_carry_registry_keys_only(small) -> None:
    out, _ = small
    files = sorted((out / "submissions" / "LINKAGE").rglob("*.csv"))
    assert {f.name for f in files} >= {"linkage_death.csv", "linkage_completeness.csv"}
    for f in files:
        df = pl.read_csv(f, infer_schema_length=0)
        assert "patient_id" not in df.columns and "site_code" not in df.columns
        if "patient_key" in df.columns:
            assert df["patient_key"].str.contains("^[0-9a-f]{64}$").all()


def test_deaths_no_site_was_told_of_leave_no_site_report(small) -> None:
    """The truth says why each linked event is missing at the sites; a death the site was never told of (not lost
    to follow-up) has no death form and no follow-up DEAD in any site file, the other deaths keep theirs."""
    out, summary = small
    link, _ = _truth(out)
    deaths = link.filter(pl.col("event") == "death")
    assert (deaths["site_missed"].is_null() == deaths["site_reported"]).all()
    assert set(deaths["site_missed"].drop_nulls()) <= {"NEVER_TOLD", "LOST_TO_FOLLOW_UP", "NOT_YET_REPORTED"}
    never = set(deaths.filter(pl.col("site_missed") == "NEVER_TOLD")["patient_key"])
    assert never and summary["linkage"]["site_missed"]["death_NEVER_TOLD"] == len(never)
    import duckdb

    from kocartr.ingest import ingest

    con = duckdb.connect()
    try:  # every site file, whatever its encoding or format, as ingest reads it
        ingest(con, out / "submissions", DEMO_KEY)
        reports = {
            k
            for (k,) in con.sql(
                "select patient_key from raw.death union "
                "select patient_key from raw.followup where vital_status = 'DEAD'"
            ).fetchall()
        }
    finally:
        con.close()
    assert never.isdisjoint(reports)
    told = deaths.filter(pl.col("site_reported"))["patient_key"]
    assert len(set(told) & reports) > 0.9 * len(told)  # the others: grade 5 events without death form or follow-up


def test_site_and_cancer_registry_give_one_morphology(small) -> None:
    """A malignancy a site reports with its ICD-O-3 morphology carries the code the cancer registry returns for the
    same patient (one table, kocartr.synth.params.SPM_ICDO3, for both)."""
    out, _ = small
    files = sorted((out / "submissions" / "LINKAGE").rglob("linkage_cancer.csv"))
    registry: dict[str, set[str]] = {}
    for f in files:
        for k, m in pl.read_csv(f, infer_schema_length=0).select("patient_key", "icdo3_morphology").iter_rows():
            registry.setdefault(k, set()).add(m)
    pairs = [
        (r["category"], r["icdo3_morphology"], registry[k])
        for r in all_rows(out, "secondary_malignancy")
        if r["icdo3_morphology"] and (k := patient_key(DEMO_KEY, r["site_code"], r["patient_id"])) in registry
    ]
    assert len({c for c, _, _ in pairs}) >= 3  # several categories compared
    assert [p for p in pairs if p[1] not in p[2]] == []
