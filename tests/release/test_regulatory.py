"""Regulatory views on hand-written rows (cut-off 2026-10-31; expected values computed by hand) in tables with exactly
the columns and types the pipeline builds (copied empty from the session's pipeline warehouse), so a view that needs
a column the marts or ADaM do not have fails here."""

from datetime import date

import duckdb
import pytest

from kocartr.dictionary import load_dictionary
from kocartr.release.config import load_release_config
from kocartr.release.regulatory import RegulatoryViewError, build_regulatory_views, cibmtr_items, rule_sources

CUT = date(2026, 10, 31)


TABLES = (
    "adam.adsl",
    "adam.adtte",
    "adam.adrs",
    "marts.fct_followup_schedule",
    "marts.fct_adverse_event",
    "marts.fct_secondary_malignancy",
    "marts.dim_patient",
    "marts.fct_infusion",
)


@pytest.fixture()
def con(warehouse):
    c = duckdb.connect()
    c.execute("CREATE SCHEMA adam; CREATE SCHEMA marts")
    c.execute("ATTACH ? AS wh (READ_ONLY)", [str(warehouse)])
    for name in TABLES:
        c.execute(f"CREATE TABLE {name} AS SELECT * FROM wh.{name} LIMIT 0")
    c.execute("DETACH wh")
    c.execute("""INSERT INTO adam.adsl BY NAME SELECT * FROM (VALUES
        ('P1', 'S01', 'TISA_CEL', 'LBCL', DATE '2025-01-01', 'Y', NULL::DATE, 'N', DATE '2026-09-01'),
        ('P2', 'S01', 'TISA_CEL', 'LBCL', DATE '2025-06-01', 'Y', DATE '2025-09-01', 'N', DATE '2025-09-01'),
        ('P3', 'S02', 'AXI_CEL', 'LBCL', DATE '2026-08-01', 'Y', NULL, 'N', DATE '2026-10-01'),
        ('P4', 'S02', 'AXI_CEL', 'LBCL', DATE '2010-01-01', 'Y', NULL, 'N', DATE '2025-01-01'),
        ('P5', 'S02', 'AXI_CEL', 'LBCL', NULL, 'N', NULL, 'N', NULL),
        ('P6', 'S01', 'AXI_CEL', 'LBCL', DATE '2024-03-01', 'Y', NULL, 'Y', DATE '2025-06-01'))
        t(USUBJID, SITEID, PRODUCT, DISGRP, TRTSDT, INFFL, DTHDT, LTFUFL, LSTCNTDT)""")
    c.execute("""INSERT INTO adam.adtte BY NAME SELECT * FROM (VALUES
        ('P1', 'OS', 600.0, 1), ('P1', 'PFS', 250.0, 0), ('P2', 'OS', 92.0, 0), ('P2', 'PFS', 92.0, 0),
        ('P3', 'OS', 80.0, 1), ('P3', 'PFS', 80.0, 1), ('P4', 'OS', 6000.0, 1), ('P4', 'PFS', 6000.0, 1))
        t(USUBJID, PARAMCD, AVAL, CNSR)""")
    c.execute("""INSERT INTO adam.adrs BY NAME SELECT * FROM (VALUES
        ('P1', 'BOR', 'D90', 90, 'PR'), ('P1', 'BOR', 'D180', 180, 'CR'), ('P1', 'BOR', 'D365', 365, 'CR'),
        ('P2', 'BOR', 'D180', 180, 'NE'), ('P3', 'BOR', 'D90', 90, 'SD'), ('P3', 'BOR', 'D180', 180, 'SD'),
        ('P3', 'BOR', 'D365', 365, 'SD')) t(USUBJID, PARAMCD, AVISIT, AVISITN, AVALC)""")
    # visit states as dbt's int_followup_visits sets them at the cut-off
    c.execute("""INSERT INTO marts.fct_followup_schedule BY NAME SELECT * FROM (VALUES
        ('P1', 'D100', 1, DATE '2025-03-27', 'RECEIVED', '100_DAYS', DATE '2025-04-10', 'ALIVE'),
        ('P1', 'M6', 1, DATE '2025-05-31', 'MISSED', '6_MONTHS', NULL, NULL),
        ('P1', 'Y1', 1, DATE '2026-01-01', 'RECEIVED', 'ANNUAL', DATE '2026-01-20', 'ALIVE'),
        ('P1', 'Y2', 2, DATE '2027-01-01', 'NOT_YET_DUE', 'ANNUAL', NULL, NULL),
        ('P2', 'D100', 1, DATE '2025-08-25', 'ENDED_BY_DEATH', '100_DAYS', NULL, NULL),
        ('P3', 'D100', 1, DATE '2026-10-25', 'NOT_YET_DUE', '100_DAYS', NULL, NULL),
        ('P6', 'Y2', 2, DATE '2026-03-01', 'OVERDUE', 'ANNUAL', NULL, NULL))
        t(patient_key, timepoint, followup_year, window_start_date, visit_state, reporting_period, contact_date,
          vital_status)""")
    # serious = ICH E2A as fct_adverse_event derives it; P1's second SAE in year 2 (day 400)
    c.execute("""INSERT INTO marts.fct_adverse_event BY NAME SELECT * FROM (VALUES
        ('P1', 'Y', DATE '2025-01-05', 'CRS'), ('P1', 'Y', DATE '2026-02-05', 'OTHER'),
        ('P2', 'N', DATE '2025-06-10', 'CRS'), ('P3', 'Y', DATE '2026-08-09', 'ICANS'),
        ('P3', NULL, DATE '2026-08-09', 'ICAHT')) t(patient_key, serious, onset_date, ae_category)""")
    c.execute("""INSERT INTO marts.fct_secondary_malignancy BY NAME SELECT * FROM (VALUES
        ('S01:M1', 'P1', 'S01', DATE '2026-03-15', 'T_CELL_NEOPLASM', 'Y', 'MEDICALLY_IMPORTANT', true, true, 'U'),
        ('S01:M2', 'P1', 'S01', DATE '2026-05-15', 'SOLID', 'Y', 'MEDICALLY_IMPORTANT', false, false, 'N'))
        t(spm_key, patient_key, site_code, diagnosis_date, category, serious, seriousness_criteria, is_unexpected,
          is_t_cell, car_transgene_detected)""")
    c.execute("""INSERT INTO marts.dim_patient BY NAME SELECT * FROM (VALUES
        ('P1', 'S01', 'M', 1970, DATE '2025-01-01'), ('P2', 'S01', 'F', NULL, DATE '2025-06-01'))
        t(patient_key, site_code, sex, birth_year, first_infusion_date)""")
    c.execute("""INSERT INTO marts.fct_infusion BY NAME SELECT * FROM (VALUES
        ('P1', 'S01', 1, 'TISA_CEL', DATE '2025-01-01', 2.5, 'CELLS_1E8', 'BATCH-1'))
        t(patient_key, site_code, infusion_number, product_code, infusion_date, dose_value, dose_unit, batch_number)""")
    yield c
    c.close()


def _rows(con, view: str, key: tuple[str, ...]) -> dict:
    df = con.sql(f"SELECT * EXCLUDE (data_cutoff) FROM regulatory.{view}").df()
    return {tuple(r[k] for k in key): {k: v for k, v in r.items() if k not in key} for r in df.to_dict("records")}


def test_mfds_ltfu_status_per_product_and_site(con):
    build_regulatory_views(con, CUT, load_release_config(), load_dictionary())
    got = _rows(con, "mfds_ltfu_status", ("product", "site_code"))
    # TISA S01: P1 D100 + Y1 received, M6 missed, Y2 not yet open; P2 D100 ended by death (not due)
    assert got[("TISA_CEL", "S01")] == dict(
        patients_infused=2,
        patients_under_followup=1,
        deaths=1,
        lost_to_followup=0,
        completed_ltfu=0,
        visits_due=3,
        visits_received=2,
        visits_overdue=0,
        visits_missed=1,
        serious_adverse_events=2,
        patients_with_sae=1,
        secondary_malignancies=2,
        serious_secondary_malignancies=2,
    )
    # AXI S02: P3 (D100 window open since 2026-10-25: due, not yet overdue; one SAE), P4 past 15 years
    # (completed); P5 never infused
    assert got[("AXI_CEL", "S02")] == dict(
        patients_infused=2,
        patients_under_followup=1,
        deaths=0,
        lost_to_followup=0,
        completed_ltfu=1,
        visits_due=1,
        visits_received=0,
        visits_overdue=0,
        visits_missed=0,
        serious_adverse_events=1,
        patients_with_sae=1,
        secondary_malignancies=0,
        serious_secondary_malignancies=0,
    )
    # AXI S01: P6 lost to follow-up with an overdue year-2 visit
    assert got[("AXI_CEL", "S01")]["lost_to_followup"] == 1 and got[("AXI_CEL", "S01")]["visits_overdue"] == 1
    assert got[("AXI_CEL", "S01")]["patients_under_followup"] == 0


def test_mfds_ltfu_by_year_since_infusion(con):
    build_regulatory_views(con, CUT, load_release_config(), load_dictionary())
    got = _rows(con, "mfds_ltfu_by_year", ("product", "site_code", "year_since_infusion"))
    assert len(got) == 3 * 15  # three product-site pairs x years 1-15
    t1, t2 = got[("TISA_CEL", "S01", 1)], got[("TISA_CEL", "S01", 2)]
    assert (t1["visits_due"], t1["visits_received"], t1["visits_missed"], t1["deaths"]) == (3, 2, 1, 1)
    assert (t1["serious_adverse_events"], t2["serious_adverse_events"]) == (1, 1)  # onset day 4 and day 400
    assert (t1["secondary_malignancies"], t2["secondary_malignancies"]) == (0, 2)  # day 438 and 499
    assert t2["patients_under_followup"] == 1  # P1 is in year 2 at the cut-off (day 668)
    a = got[("AXI_CEL", "S01", 1)]  # P6 lost: last contact 2025-06-01 = day 457 -> year 2
    assert a["lost_to_followup"] == 0 and got[("AXI_CEL", "S01", 2)]["lost_to_followup"] == 1


def test_expedited_candidates_are_serious_and_unexpected_by_month(con):
    build_regulatory_views(con, CUT, load_release_config(), load_dictionary())
    rows = con.sql(
        "SELECT event_month, patient_key, product, event_term, unexpected_because "
        "FROM regulatory.expedited_report_candidates"
    ).fetchall()
    assert rows == [("2026-03", "P1", "TISA_CEL", "T_CELL_NEOPLASM", "T-cell malignancy")]


def test_hira_snapshots(con):
    build_regulatory_views(con, CUT, load_release_config(), load_dictionary())
    rows = con.sql("""SELECT patient_key, landmark_months, snapshot_status, vital_status, progression_free,
                             best_response FROM regulatory.hira_outcome_snapshots
                      WHERE patient_key <> 'P6' ORDER BY ALL""").fetchall()
    assert rows == [
        ("P1", 6, "DUE", "ALIVE", "Y", "CR"),
        ("P1", 12, "DUE", "ALIVE", "N", "CR"),
        ("P2", 6, "DUE", "DEAD", "N", "NE"),
        ("P2", 12, "DUE", "DEAD", "N", "NE"),
        ("P3", 6, "NOT_YET_DUE", "UNKNOWN", "UNKNOWN", "SD"),
        ("P3", 12, "NOT_YET_DUE", "UNKNOWN", "UNKNOWN", "SD"),
        ("P4", 6, "DUE", "ALIVE", "Y", None),
        ("P4", 12, "DUE", "ALIVE", "Y", None),
    ]
    # 6 months = round(6 x 30.4375) = 183 days after infusion
    assert con.sql(
        "SELECT landmark_date FROM regulatory.hira_outcome_snapshots WHERE patient_key = 'P1' AND landmark_months = 6"
    ).fetchall()[0][0] == date(2025, 7, 3)


def test_cibmtr_export_items_units_and_periods(con):
    notes = build_regulatory_views(con, CUT, load_release_config(), load_dictionary())
    n = len(cibmtr_items(load_dictionary()))
    assert notes == [f"cibmtr_export: {n} of {n} dictionary CIBMTR items mapped; 13 carry values at this cut-off"]
    rows = con.sql(
        "SELECT patient_key, cibmtr_item, reporting_period, timepoint, source_field, value, value_unit "
        "FROM regulatory.cibmtr_export ORDER BY ALL"
    ).fetchall()
    assert ("P1", "4006 date of infusion", "BASELINE", None, "infusion_date", "2025-01-01", None) in rows
    assert ("P1", "4006 cells infused", "BASELINE", None, "dose_value", "2.5", "CELLS_1E8") in rows
    assert ("P1", "4006 product identifiers", "BASELINE", None, "batch_number", "BATCH-1", None) in rows
    assert ("P1", "4100 date of contact", "100_DAYS", "D100", "contact_date", "2025-04-10", None) in rows
    assert ("P1", "4100 survival status", "ANNUAL", "Y1", "vital_status", "ALIVE", None) in rows
    # a new malignancy on day 438 belongs to the year-2 annual report
    assert ("P1", "3500 date of diagnosis", "ANNUAL", "Y2", "diagnosis_date", "2026-03-15", None) in rows
    assert not any(r[0] == "P2" and r[4] == "birth_year" for r in rows)  # NULLs are not exported
    mapping = con.sql("SELECT count(*), count(DISTINCT cibmtr_item) FROM regulatory.cibmtr_mapping").fetchall()[0]
    assert mapping[0] == n
    # free text never appears, even though the dictionary has cibmtr items on forms with text fields
    assert (
        con.sql(
            "SELECT count(*) FROM regulatory.cibmtr_export WHERE source_field IN "
            "('comment', 'description', 'cause_text')"
        ).fetchall()[0][0]
        == 0
    )


def test_a_mapped_item_without_its_column_is_a_build_error(con):
    con.execute("ALTER TABLE marts.fct_infusion DROP COLUMN lot_number")
    with pytest.raises(
        RegulatoryViewError,
        match=r"(?s)cibmtr_export: 1 dictionary CIBMTR item.*"
        r"product_infusion\.lot_number .*fct_infusion lacks \['lot_number'\]",
    ):
        build_regulatory_views(con, CUT, load_release_config(), load_dictionary())


@pytest.mark.parametrize(
    "drop, message",
    [
        (
            "DROP TABLE marts.fct_followup_schedule",
            "mfds_ltfu_status: source table marts.fct_followup_schedule is missing",
        ),
        (
            "ALTER TABLE marts.fct_adverse_event DROP COLUMN serious",
            r"fct_adverse_event lacks column\(s\) \['serious'\]",
        ),
        ("ALTER TABLE marts.fct_secondary_malignancy DROP COLUMN is_unexpected", "expedited_report_candidates"),
        ("DROP TABLE adam.adtte", "hira_outcome_snapshots: source table adam.adtte is missing"),
    ],
)
def test_views_are_contracts_a_missing_source_raises(con, drop, message):
    con.execute(drop)
    with pytest.raises(RegulatoryViewError, match=message):
        build_regulatory_views(con, CUT, load_release_config(), load_dictionary())


def test_rule_sources_cite_every_window_and_grading_rule(con):
    build_regulatory_views(con, CUT, load_release_config(), load_dictionary())
    rows = con.sql("SELECT seed, rule, citation, status FROM regulatory.rule_sources").fetchall()
    assert len(rows) == len(rule_sources()) and all(r[2] and r[3] for r in rows)
    assert sum(r[0] == "followup_schedule.csv" for r in rows) == 17  # D100, M6, Y1-Y15


def test_release_methods_cite_every_window_and_grading_rule(published):
    """The workbook's methods sheet and the release's regulatory.rule_sources carry, for every follow-up window and
    grading rule of data/config, its source and verification status (registry choices say so)."""
    import openpyxl
    from release_helpers import CUTOFF

    from kocartr.release.workbook import SHEET_METHODS

    wb = openpyxl.load_workbook(published / f"hta_outcomes_{CUTOFF}.xlsx", read_only=True)
    methods = " ".join(str(r[1]) for r in wb[SHEET_METHODS].iter_rows(values_only=True))
    sources = rule_sources()
    assert len(sources) >= 17 + 10 + 12  # windows, ICAHT grades, CTCAE lab grades, ...
    for _seed, _kind, rule, citation, status in sources:
        assert citation and status and f"{rule}. Source: {citation} [{status}]" in methods
    assert "ICH E2A" in methods
    assert "choice (no public source found)" in methods  # year 2-15 windows are flagged, not passed off as CIBMTR
    rel = duckdb.connect(str(published / "kocartr_release.duckdb"), read_only=True)
    try:
        assert rel.sql("SELECT count(*) FROM regulatory.rule_sources").fetchall()[0][0] == len(sources)
    finally:
        rel.close()


def test_publish_refuses_a_release_whose_regulatory_view_cannot_be_built(tmp_path, warehouse):
    """A broken contract stops the release with a one-line cause, and nothing is published."""
    from release_helpers import CUTOFF, warehouse_variant

    from kocartr.release import ReleaseError, publish_release

    wh = warehouse_variant(
        warehouse, tmp_path / "wh.duckdb", ["ALTER TABLE marts.fct_followup_schedule DROP COLUMN followup_year"]
    )
    with pytest.raises(
        ReleaseError,
        match=r"mfds_ltfu_status: marts.fct_followup_schedule lacks column\(s\) "
        r"\['followup_year'\]",
    ):
        publish_release(wh, CUTOFF, tmp_path / "releases")
    assert not any((tmp_path / "releases").glob(f"{CUTOFF}*"))
