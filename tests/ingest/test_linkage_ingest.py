"""National linkage returns: a declared source (LINKAGE) ingested with the sites' ledger, versions and quarantine."""

from __future__ import annotations

from pathlib import Path

from kocartr.ingest import patient_key
from tests.ingest.helpers import KEY, clean_rows, csv_text, write

PK = patient_key(KEY, "S01", "P00001")  # what the combination agency returns: the registry's own key


def _register(root: Path) -> None:
    """The site's registration of the patient the agency returns (linkage rows of others are quarantined)."""
    write(root, "S01/2026-05/registration.csv", csv_text(clean_rows("registration", 1)))


def _death_rows(**over: str) -> list[dict]:
    row = clean_rows("linkage_death", 1, site="LINKAGE")[0]
    row.update(patient_key=PK, record_id="D-1", death_date="2026-03-02", underlying_cause_icd10="C83.3")
    row.update(over)
    return [row]


def test_linkage_return_lands_keyed_as_returned_and_versions(root: Path, run) -> None:
    _register(root)
    write(root, "LINKAGE/2026-05/linkage_death.csv", csv_text(_death_rows()))
    comp = clean_rows("linkage_completeness", 1, site="LINKAGE")[0]
    comp.update(record_id="DEATH-2026-05", linkage_source="DEATH_STATISTICS", complete_through="2026-03-31")
    write(root, "LINKAGE/2026-05/linkage_completeness.csv", csv_text([comp]))
    con, report = run(root)
    assert report.rows_quarantined == 0 and report.count("ingested") == 3
    rows = con.sql("SELECT site_code, patient_key, death_date::VARCHAR, _version FROM raw.linkage_death").fetchall()
    assert rows == [("LINKAGE", PK, "2026-03-02", 1)]
    assert con.sql("SELECT patient_key FROM raw.linkage_completeness").fetchall() == [(None,)]
    led = con.sql("SELECT DISTINCT site_code FROM audit.ingest_ledger ORDER BY 1").fetchall()
    assert led == [("LINKAGE",), ("S01",)]
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
    got = {
        f: (r, n)
        for f, r, n in con.sql("SELECT source_file, reason_code, rows_read FROM audit.file_rejects").fetchall()
    }
    assert got == {
        "S01/2026-05/linkage_death.csv": ("form_not_for_source", len(_death_rows(source_code="S01"))),
        "LINKAGE/2026-05/registration.csv": ("form_not_for_source", 1),
    }


def test_bad_linkage_rows_are_quarantined_naming_field(root: Path, run) -> None:
    _register(root)
    rows = _death_rows() + _death_rows(record_id="D-2", patient_key="not-a-key", underlying_cause_icd10="lymphoma")
    write(root, "LINKAGE/2026-05/linkage_death.csv", csv_text(rows))
    con, report = run(root)
    assert report.rows_accepted == 2  # the registration and the good linkage row
    got = con.sql("SELECT site_code, source_row, field, rule FROM audit.quarantine ORDER BY field").fetchall()
    assert got == [
        ("LINKAGE", 3, "patient_key", "pattern"),
        ("LINKAGE", 3, "underlying_cause_icd10", "pattern"),
    ]


def test_linkage_row_of_an_unregistered_patient_is_quarantined_with_a_reason(root: Path, run) -> None:
    """The agency links only the patients the registry sends it: a row keyed to any other patient is quarantined
    (never a patient to add), whether the registration came in the same ingest or an earlier one."""
    stranger = patient_key(KEY, "S01", "P09999")
    write(root, "LINKAGE/2026-05/linkage_death.csv", csv_text(_death_rows() + _death_rows(record_id="D-2")))
    _register(root)  # same ingest: site forms are written before linkage forms
    rows = _death_rows(record_id="D-3", patient_key=stranger, submission_month="2026-06")
    write(root, "LINKAGE/2026-06/linkage_death.csv", csv_text(rows))
    con, report = run(root)
    assert con.sql("SELECT count(*) FROM raw.linkage_death").fetchall() == [(2,)]
    got = con.sql("SELECT site_code, source_file, source_row, field, rule, value_redacted FROM audit.quarantine")
    assert got.fetchall() == [
        ("LINKAGE", "LINKAGE/2026-06/linkage_death.csv", 2, "patient_key", "unregistered_patient", "(withheld)")
    ]
    message = con.sql("SELECT message_en, message_ko FROM audit.quarantine").fetchall()[0]
    assert "not registered" in message[0] and "등록되어 있지 않습니다" in message[1] and stranger not in message[0]


def test_linkage_ingested_apart_keeps_the_sites_deferred_files(root: Path, tmp_path: Path) -> None:
    """Site submissions and linkage returns are ingested by separate calls (their own Dagster assets): each replaces
    only its own submitters' list of deferred (later-month) files."""
    import duckdb

    from kocartr.ingest import discover_batches, ingest

    _register(root)
    write(root, "S01/2026-07/registration.csv", csv_text(clean_rows("registration", 1, month="2026-07", start=2)))
    write(root, "LINKAGE/2026-07/linkage_death.csv", csv_text(_death_rows(submission_month="2026-07")))
    batches = discover_batches(root)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        for submitters in (["S01"], ["LINKAGE"]):
            mine = [b for b in batches if b.site in submitters]
            now = [b for b in mine if b.month <= "2026-05"]
            later = [b for b in mine if b.month > "2026-05"]
            ingest(con, root, KEY, now, later, "2026-05", submitters=submitters)
        got = con.sql("SELECT site_code, source_file FROM audit.deferred_files ORDER BY 1").fetchall()
    finally:
        con.close()
    assert got == [("LINKAGE", "LINKAGE/2026-07/linkage_death.csv"), ("S01", "S01/2026-07/registration.csv")]


def test_linkage_row_waiting_for_its_registration_is_accepted_once_the_patient_is_registered(root: Path, run) -> None:
    """A registration quarantined in one month and corrected in a later one: the linkage row quarantined meanwhile
    is read again by the next ingest and accepted, not lost in the quarantine."""
    reg = clean_rows("registration", 1)
    write(root, "S01/2026-05/registration.csv", csv_text([dict(reg[0], sex="")]))  # required field blank
    write(root, "LINKAGE/2026-05/linkage_death.csv", csv_text(_death_rows()))
    con, _ = run(root)
    assert con.sql("SELECT rule FROM audit.quarantine ORDER BY rule").fetchall() == [
        ("required",),
        ("unregistered_patient",),
    ]
    con.close()
    write(root, "S01/2026-06/registration.csv", csv_text([dict(reg[0], submission_month="2026-06")]))
    con, report = run(root)
    assert con.sql("SELECT patient_key FROM raw.linkage_death").fetchall() == [(PK,)]
    assert con.sql("SELECT rule FROM audit.quarantine").fetchall() == [("required",)]
    con.close()
    con, report = run(root)  # settled: nothing read again
    assert report.count("skipped") == 3 and report.count("ingested") == 0


def test_linkage_return_read_before_its_registrations_waits_for_them(root: Path, run, monkeypatch) -> None:
    """Batches are read by month, then folder: LINKAGE/2026-05 before S01/2026-05. However small the chunks (the
    site forms written many times over), a linkage form is validated only when every registration of the call
    is written, so the return's patient is registered, not quarantined."""
    from kocartr.ingest import pipeline

    monkeypatch.setattr(pipeline, "FORM_CHUNK_ROWS", 1)
    monkeypatch.setattr(pipeline, "PENDING_ROWS", 1)
    write(root, "LINKAGE/2026-05/linkage_death.csv", csv_text(_death_rows()))
    write(root, "S01/2026-05/lab.csv", csv_text(clean_rows("lab", 3)))  # written before the registration
    _register(root)
    con, report = run(root)
    assert report.rows_quarantined == 0 and report.count("ingested") == 3
    assert con.sql("SELECT patient_key FROM raw.linkage_death").fetchall() == [(PK,)]
