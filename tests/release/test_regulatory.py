"""Regulatory views against a hand-built warehouse (cut-off 2026-10-31); expected values computed by hand."""

from datetime import date

import duckdb
import pytest

from kocartr.dictionary import load_dictionary
from kocartr.release.config import load_release_config
from kocartr.release.regulatory import build_regulatory_views

CUT = date(2026, 10, 31)


@pytest.fixture()
def con():
    c = duckdb.connect()
    c.execute("CREATE SCHEMA adam; CREATE SCHEMA marts")
    c.execute("""CREATE TABLE adam.adsl AS SELECT * FROM (VALUES
        ('P1', 'S01', 'TISA_CEL', 'LBCL', DATE '2025-01-01', 'Y', NULL::DATE, 'N'),
        ('P2', 'S01', 'TISA_CEL', 'LBCL', DATE '2025-06-01', 'Y', DATE '2025-09-01', 'N'),
        ('P3', 'S02', 'AXI_CEL', 'LBCL', DATE '2026-08-01', 'Y', NULL, 'N'),
        ('P4', 'S02', 'AXI_CEL', 'LBCL', DATE '2010-01-01', 'Y', NULL, 'N'),
        ('P5', 'S02', 'AXI_CEL', 'LBCL', NULL, 'N', NULL, 'N'))
        t(USUBJID, SITEID, PRODUCT, DISGRP, TRTSDT, INFFL, DTHDT, LTFUFL)""")
    c.execute("""CREATE TABLE adam.adtte AS SELECT * FROM (VALUES
        ('P1', 'OS', 600.0, 1), ('P1', 'PFS', 250.0, 0), ('P2', 'OS', 92.0, 0), ('P2', 'PFS', 92.0, 0),
        ('P3', 'OS', 80.0, 1), ('P3', 'PFS', 80.0, 1), ('P4', 'OS', 6000.0, 1), ('P4', 'PFS', 6000.0, 1))
        t(USUBJID, PARAMCD, AVAL, CNSR)""")
    c.execute("""CREATE TABLE adam.adrs AS SELECT * FROM (VALUES
        ('P1', 'BOR', 'D90', 90, 'PR'), ('P1', 'BOR', 'D180', 180, 'CR'), ('P1', 'BOR', 'D365', 365, 'CR'),
        ('P2', 'BOR', 'D180', 180, 'NE'), ('P3', 'BOR', 'D90', 90, 'SD'), ('P3', 'BOR', 'D180', 180, 'SD'),
        ('P3', 'BOR', 'D365', 365, 'SD')) t(USUBJID, PARAMCD, AVISIT, AVISITN, AVALC)""")
    c.execute("""CREATE TABLE marts.fct_followup_schedule AS SELECT * FROM (VALUES
        ('P1', 'D100', DATE '2025-03-27', DATE '2025-04-26', DATE '2025-04-10'),
        ('P1', 'M6', DATE '2025-05-31', DATE '2025-07-30', NULL),
        ('P1', 'Y2', DATE '2027-01-01', DATE '2027-03-01', NULL),
        ('P2', 'D100', DATE '2025-08-25', DATE '2025-09-24', NULL),
        ('P3', 'D100', DATE '2026-10-25', DATE '2026-11-24', NULL))
        t(patient_key, timepoint, window_start, window_end, contact_date)""")
    c.execute("""CREATE TABLE marts.fct_adverse_event AS SELECT * FROM (VALUES
        ('P1', 'Y'), ('P1', 'Y'), ('P2', 'N'), ('P3', 'Y')) t(patient_key, serious)""")
    c.execute("CREATE TABLE marts.fct_secondary_malignancy AS SELECT 'P1' AS patient_key")
    c.execute("""CREATE TABLE marts.dim_patient AS SELECT * FROM (VALUES ('P1', 'S01', 'M', 1970),
        ('P2', 'S01', 'F', NULL)) t(patient_key, site_code, sex, birth_year)""")
    c.execute("""CREATE TABLE marts.fct_infusion AS SELECT * FROM (VALUES
        ('P1', 'S01', 1, 'TISA_CEL', DATE '2025-01-01')) t(patient_key, site_code, infusion_number, product_code,
        infusion_date)""")
    yield c
    c.close()


def test_mfds_ltfu_status(con):
    notes = build_regulatory_views(con, CUT, load_release_config(), load_dictionary())
    rows = con.sql("SELECT * EXCLUDE (data_cutoff) FROM regulatory.mfds_ltfu_status ORDER BY product").fetchall()
    cols = [d[0] for d in con.sql("SELECT * EXCLUDE (data_cutoff) FROM regulatory.mfds_ltfu_status").description]
    got = {r[0]: dict(zip(cols, r)) for r in rows}
    # TISA: P1 D100 received, P1 M6 overdue, P1 Y2 not yet open; P2 D100 ended by death (not due)
    assert got["TISA_CEL"] == dict(product="TISA_CEL", patients_infused=2, patients_under_followup=1, deaths=1,
                                   lost_to_followup=0, completed_ltfu=0, visits_due=2, visits_completed=1,
                                   visits_overdue=1, serious_adverse_events=2, patients_with_sae=1,
                                   secondary_malignancies=1)
    assert got["AXI_CEL"] == dict(product="AXI_CEL", patients_infused=2, patients_under_followup=1, deaths=0,
                                  lost_to_followup=0, completed_ltfu=1, visits_due=1, visits_completed=0,
                                  visits_overdue=0, serious_adverse_events=1, patients_with_sae=1,
                                  secondary_malignancies=0)
    assert not any(n.startswith("mfds") for n in notes)


def test_mfds_uses_dbt_visit_state_when_present(con):
    con.execute("""CREATE OR REPLACE TABLE marts.fct_followup_schedule AS SELECT patient_key,
                       window_start AS window_start_date, window_end AS window_end_date, contact_date AS received_date,
                       CASE WHEN contact_date IS NOT NULL THEN 'RECEIVED'
                            WHEN patient_key = 'P2' THEN 'ENDED_BY_DEATH'
                            WHEN window_end >= DATE '2026-10-31' THEN 'NOT_YET_DUE' ELSE 'MISSED' END AS visit_state
                   FROM marts.fct_followup_schedule""")
    build_regulatory_views(con, CUT, load_release_config(), load_dictionary())
    got = {r[0]: r[1:] for r in con.sql("SELECT product, visits_due, visits_completed, visits_overdue "
                                        "FROM regulatory.mfds_ltfu_status").fetchall()}
    assert got == {"TISA_CEL": (2, 1, 1), "AXI_CEL": (1, 0, 0)}


def test_hira_snapshots(con):
    build_regulatory_views(con, CUT, load_release_config(), load_dictionary())
    rows = con.sql("""SELECT patient_key, landmark_months, snapshot_status, vital_status, progression_free,
                             best_response FROM regulatory.hira_outcome_snapshots ORDER BY ALL""").fetchall()
    assert rows == [
        ("P1", 6, "DUE", "ALIVE", "Y", "CR"), ("P1", 12, "DUE", "ALIVE", "N", "CR"),
        ("P2", 6, "DUE", "DEAD", "N", "NE"), ("P2", 12, "DUE", "DEAD", "N", "NE"),
        ("P3", 6, "NOT_YET_DUE", "UNKNOWN", "UNKNOWN", "SD"), ("P3", 12, "NOT_YET_DUE", "UNKNOWN", "UNKNOWN", "SD"),
        ("P4", 6, "DUE", "ALIVE", "Y", None), ("P4", 12, "DUE", "ALIVE", "Y", None),
    ]
    # 6 months = round(6 x 30.4375) = 183 days after infusion
    assert con.sql("SELECT landmark_date FROM regulatory.hira_outcome_snapshots WHERE patient_key = 'P1' "
                   "AND landmark_months = 6").fetchall()[0][0] == date(2025, 7, 3)


def test_cibmtr_export_uses_dictionary_items(con):
    notes = build_regulatory_views(con, CUT, load_release_config(), load_dictionary())
    rows = con.sql("SELECT patient_key, cibmtr_form, cibmtr_item, source_field, value FROM regulatory.cibmtr_export "
                   "ORDER BY ALL").fetchall()
    assert ("P1", "4006", "4006 date of infusion", "infusion_date", "2025-01-01") in rows
    assert ("P1", "4003", "4003 product", "product_code", "TISA_CEL") in rows
    assert ("P1", "CRID", "CRID sex", "sex", "M") in rows
    assert ("P2", "CRID", "CRID birth date (year only)", "birth_year", None) not in rows  # NULLs are not exported
    mapped = dict(con.sql("SELECT source_field, mapped FROM regulatory.cibmtr_mapping "
                          "WHERE source_form IN ('registration', 'product_infusion')").fetchall())
    assert mapped["infusion_date"] and mapped["sex"] and not mapped["dose_value"]
    assert any(n.startswith("cibmtr_export") for n in notes)  # unmapped items are reported
    # free text never appears, even though the dictionary has cibmtr items on forms with text fields
    assert con.sql("SELECT count(*) FROM regulatory.cibmtr_export WHERE source_field IN "
                   "('comment', 'description', 'cause_text')").fetchall()[0][0] == 0


def test_views_are_skipped_with_a_note_when_sources_are_missing():
    c = duckdb.connect()
    notes = build_regulatory_views(c, CUT, load_release_config(), load_dictionary())
    assert any("mfds_ltfu_status: not built" in n for n in notes)
    assert any("hira_outcome_snapshots: not built" in n for n in notes)
    assert c.sql("SELECT count(*) FROM regulatory.cibmtr_export").fetchall()[0][0] == 0
