"""National linkage returns: a declared source (LINKAGE) ingested with the sites' ledger, versions and quarantine."""

from __future__ import annotations

from pathlib import Path

from kocartr.ingest import patient_key
from tests.ingest.helpers import KEY, clean_rows, csv_text, write

PK = patient_key(KEY, "S01", "P00001")  # what the combination agency returns: the registry's own key


def _death_rows(**over: str) -> list[dict]:
    row = clean_rows("linkage_death", 1, site="LINKAGE")[0]
    row.update(patient_key=PK, record_id="D-1", death_date="2026-03-02", underlying_cause_icd10="C83.3")
    row.update(over)
    return [row]


def test_linkage_return_lands_keyed_as_returned_and_versions(root: Path, run) -> None:
    write(root, "LINKAGE/2026-05/linkage_death.csv", csv_text(_death_rows()))
    comp = clean_rows("linkage_completeness", 1, site="LINKAGE")[0]
    comp.update(record_id="DEATH-2026-05", linkage_source="DEATH_STATISTICS", complete_through="2026-03-31")
    write(root, "LINKAGE/2026-05/linkage_completeness.csv", csv_text([comp]))
    con, report = run(root)
    assert report.rows_quarantined == 0 and report.count("ingested") == 2
    rows = con.sql("SELECT site_code, patient_key, death_date::VARCHAR, _version FROM raw.linkage_death").fetchall()
    assert rows == [("LINKAGE", PK, "2026-03-02", 1)]
    assert con.sql("SELECT patient_key FROM raw.linkage_completeness").fetchall() == [(None,)]
    led = con.sql("SELECT DISTINCT site_code FROM audit.ingest_ledger").fetchall()
    assert led == [("LINKAGE",)]
    # a corrected date next month versions the record like a site correction
    write(
        root,
        "LINKAGE/2026-06/linkage_death.csv",
        csv_text(_death_rows(submission_month="2026-06", death_date="2026-03-05")),
    )
    con.close()
    con, _ = run(root)
    got = con.sql("SELECT death_date::VARCHAR, _version, _is_current FROM raw.linkage_death ORDER BY _version")
    assert got.fetchall() == [("2026-03-02", 1, False), ("2026-03-05", 2, True)]


def test_linkage_forms_and_site_forms_keep_to_their_folders(root: Path, run) -> None:
    write(root, "S01/2026-05/linkage_death.csv", csv_text(_death_rows(source_code="S01")))
    write(root, "LINKAGE/2026-05/registration.csv", csv_text(clean_rows("registration", 1, site="LINKAGE")))
    con, report = run(root)
    got = dict(con.sql("SELECT source_file, reason_code FROM audit.file_rejects").fetchall())
    assert got == {
        "S01/2026-05/linkage_death.csv": "form_not_for_source",
        "LINKAGE/2026-05/registration.csv": "form_not_for_source",
    }


def test_bad_linkage_rows_are_quarantined_naming_field(root: Path, run) -> None:
    rows = _death_rows() + _death_rows(record_id="D-2", patient_key="not-a-key", underlying_cause_icd10="lymphoma")
    write(root, "LINKAGE/2026-05/linkage_death.csv", csv_text(rows))
    con, report = run(root)
    assert report.rows_accepted == 1
    got = con.sql("SELECT site_code, source_row, field, rule FROM audit.quarantine ORDER BY field").fetchall()
    assert got == [
        ("LINKAGE", 3, "patient_key", "pattern"),
        ("LINKAGE", 3, "underlying_cause_icd10", "pattern"),
    ]
