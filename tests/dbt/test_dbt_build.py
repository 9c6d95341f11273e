"""`dbt build` on a real DuckDB warehouse built from the hand-written raw fixture (tests/dbt/raw_fixture.py):
every model, seed, data test and unit test passes, and the clinical derivations give the values worked out by
hand next to the fixture rows."""

from __future__ import annotations

import json
from datetime import date

import pytest


def test_dbt_build_succeeds(built_warehouse):
    result = built_warehouse["result"]
    assert result.returncode == 0, result.stdout[-8000:]
    results = json.loads(built_warehouse["run_results"].read_text())["results"]
    bad = [r["unique_id"] for r in results if r["status"] not in ("success", "pass")]
    assert bad == []
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"model", "seed", "test", "unit_test"} <= kinds
    assert sum(r["unique_id"].startswith("unit_test.") for r in results) >= 5
    ran = {r["unique_id"].rsplit(".", 1)[-1] for r in results}
    assert {
        "adtte_spm_where_cancer_status_is_known",
        "adtte_spm_under_last_contact_rule",
        "adtte_os_itt_censored_where_vital_status_is_known",
        "adtte_os_itt_under_last_contact_rule",
        "linkage_cancers_t_cell_by_morphology",
    } <= ran


def test_the_build_reuses_the_projects_parse(built_warehouse):
    """The fixture's dbt starts from the project's one parse, as the pipeline does (a full parse is ~6 s CPU a
    call): dbt says so at info level whenever it must parse everything (no saved parse, or vars/profile changed)."""
    result = built_warehouse["result"]
    assert result.returncode == 0, result.stdout[-8000:]
    assert "Unable to do partial parsing" not in result.stdout, result.stdout[:3000]


def test_layers_land_in_exact_schemas(wh):
    schemas = {r[0] for r in wh.sql("select distinct table_schema from information_schema.tables").fetchall()}
    assert {"raw", "staging", "intermediate", "marts", "adam"} <= schemas
    assert not any(s.startswith("main_") for s in schemas)


def test_staging_keeps_current_versions_only_and_no_free_text(wh):
    # P06: registration corrected (v2 sex F); its AE deleted in v2
    assert wh.sql("select sex from staging.stg_registration where patient_key = 'P06'").fetchall() == [("F",)]
    assert wh.sql("select count(*) from staging.stg_adverse_event where patient_key = 'P06'").fetchall() == [(0,)]
    cols = {
        r[0]
        for r in wh.sql("select column_name from information_schema.columns where table_schema = 'staging'").fetchall()
    }
    assert not {"comment", "description", "cause_text"} & cols


def test_infusion_episodes_keep_never_infused_orders(wh):
    rows = wh.sql(
        "select patient_key, infusion_number, is_infused, not_infused_reason from marts.fct_infusion "
        "order by patient_key, infusion_number"
    ).fetchall()
    assert ("P03", None, False, "MANUFACTURING_FAILURE") in rows
    assert [r[1] for r in rows if r[0] == "P04"] == [1, 2]


def test_crs_and_icans_grading(wh):
    crs = dict(
        wh.sql(
            "select crs_key, (derived_grade, grade_mismatch_flag, late_onset_flag) from intermediate.int_crs_episodes"
        ).fetchall()
    )
    assert crs["S01:C1"] == (2, False, False)
    assert crs["S01:C2"] == (3, True, False)  # high-flow oxygen = grade 3, reported 2
    assert crs["S01:C6"] == (1, False, True)  # onset day 40
    icans = dict(
        wh.sql(
            "select icans_key, (derived_grade, ice_inconsistent_flag) from intermediate.int_icans_episodes"
        ).fetchall()
    )
    assert icans["S01:N1"] == (1, False)
    assert icans["S01:N2"] == (3, True)  # ICE 2 = grade 3, reported 2


def test_icaht_recovery_and_immune_flags(wh):
    row = wh.sql(
        "select days_anc_le_main_threshold, days_anc_le_deep_threshold, icaht_early_grade, "
        "late_anc_nadir, icaht_late_grade from intermediate.int_icaht where infusion_key = 'P01:1'"
    ).fetchall()[0]
    assert row == (14, 5, 3, 1.1, 1)
    inf = wh.sql(
        "select anc_recovery_date, plt_recovery_date, bcell_aplasia_flag, hypogamma_flag, "
        "best_response_d30, best_response_d90 from marts.fct_infusion where infusion_key = 'P01:1'"
    ).fetchall()[0]
    assert inf == (date(2024, 1, 24), date(2024, 1, 20), True, True, "PR", "CR")
    assert wh.sql("select anc_recovery_status from marts.fct_infusion where infusion_key = 'P04:1'").fetchall() == [
        ("NEVER_BELOW",)
    ]


EXPECTED_ADTTE = {  # (AVAL, CNSR); CNSR None = competing event (CMPEVFL = 'Y')
    # P01: progression 2024-09-01 (day 235), death from disease 2025-02-01 (day 388)
    ("P01", "OS"): (388, 0),
    ("P01", "PFS"): (235, 0),
    ("P01", "NRM"): (235, None),
    ("P01", "RELAPSE"): (235, 0),
    ("P01", "SPM"): (388, None),
    ("P01", "ANC_REC"): (14, 0),
    ("P01", "OS_ITT"): (396, 0),
    # P02: infection death day 106 without progression; enrolled day 61
    ("P02", "OS"): (106, 0),
    ("P02", "PFS"): (106, 0),
    ("P02", "NRM"): (106, 0),
    ("P02", "RELAPSE"): (106, None),
    # P03: never infused, died 90 days after the order
    ("P03", "OS_ITT"): (90, 0),
    # P04: alive; last disease assessment 2025-03-01 (day 1096), last contact 2025-03-10 (day 1105): PFS is
    # censored at last contact like every parameter (one censoring rule); SPM day 792
    ("P04", "OS"): (1105, 1),
    ("P04", "PFS"): (1105, 1),
    ("P04", "NRM"): (1105, 1),
    ("P04", "SPM"): (792, 0),
    ("P04", "ANC_REC"): (0, 0),
    # P05: last contact on the day-100 form; no disease assessment -> PFS censored at last contact all the same
    ("P05", "OS"): (100, 1),
    ("P05", "PFS"): (100, 1),
}


@pytest.mark.parametrize("key", sorted(EXPECTED_ADTTE))
def test_adtte_hand_values(wh, key):
    got = wh.sql("select AVAL, CNSR from adam.adtte where USUBJID = ? and PARAMCD = ?", params=list(key)).fetchall()
    assert got == [(float(EXPECTED_ADTTE[key][0]), EXPECTED_ADTTE[key][1])]


def test_adtte_entry_time_and_itt(wh):
    assert wh.sql("select ENTRYT from adam.adtte where USUBJID = 'P02' and PARAMCD = 'OS'").fetchall() == [(61.0,)]
    assert wh.sql("select count(*) from adam.adtte where USUBJID = 'P03'").fetchall() == [(1,)]
    assert wh.sql("select REGLATFL, INFFL, NOTINFRS from adam.adsl where USUBJID = 'P02'").fetchall() == [
        ("Y", "Y", None)
    ]


def test_followup_schedule_states(wh):
    states = dict(wh.sql("select visit_key, visit_state from marts.fct_followup_schedule").fetchall())
    assert states["P04:Y2"] == "MISSED" and states["P04:Y3"] == "RECEIVED" and states["P04:Y4"] == "NOT_YET_DUE"
    assert states["P02:D100"] == "ENDED_BY_DEATH"
    assert states["P06:D100"] == "NOT_YET_DUE"
    n = wh.sql("select count(*) from marts.fct_followup_schedule").fetchall()[0][0]
    assert n == 5 * 17  # five infused patients x the 17 visits of the 15-year track
    ltfu = dict(wh.sql("select USUBJID, LTFUFL from adam.adsl").fetchall())
    assert ltfu["P05"] == "Y" and ltfu["P04"] == "N"


def test_adae_categories(wh):
    rows = wh.sql("select USUBJID, AECAT, ATOXGRN, ASTDY from adam.adae order by USUBJID, AESEQ").fetchall()
    assert ("P01", "ICAHT", 3, 0) in rows and ("P01", "CRS", 2, 2) in rows
    assert ("P02", "INFECTION", 4, 92) in rows


def test_adae_grade_types_source_and_e2a_seriousness(wh):
    """ATOXGR character + ATOXGRN numeric (ADaM OCCDS); AESOURCE tells reported from lab-derived (ICAHT) records;
    AESER per ICH E2A: reported serious, an E2A criterion, or grade 4-5 (serious by definition)."""
    types = dict(
        wh.sql(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'adam' and table_name = 'adae'"
        ).fetchall()
    )
    assert types["ATOXGR"] == "VARCHAR" and types["ATOXGRN"] == "INTEGER"
    rows = {
        (r[0], r[1], r[2]): r[3:]
        for r in wh.sql("select USUBJID, AECAT, AEDECOD, ATOXGR, AESOURCE, AESER, AESERCRT from adam.adae").fetchall()
    }
    assert rows[("P01", "ICAHT", "ICAHT EARLY")] == ("3", "DERIVED", None, None)
    assert rows[("P01", "CRS", "CYTOKINE RELEASE SYNDROME")] == ("2", "REPORTED", "Y", "HOSPITALIZATION")
    assert rows[("P02", "CRS", "CYTOKINE RELEASE SYNDROME")][1:3] == ("REPORTED", "N")  # grade 2, not serious
    assert rows[("P02", "INFECTION", "INFECTION")][2] == "Y"
    assert rows[("P01", "CYTOPENIA", "THROMBOCYTOPENIA")][2] == "Y"  # reported N, but grade 4 is serious (E2A)
    assert rows[("P06", "CRS", "CYTOKINE RELEASE SYNDROME")][2] == "U"


def test_cytopenia_grade_against_lab_nadir(wh):
    """CTCAE v5.0 (seed ctcae_lab_grading): the grade the nadir in the AE window implies is shown beside the
    reported grade, never replacing it."""
    rows = {
        r[0]: r[1:]
        for r in wh.sql(
            "select ae_term, grade, lab_nadir_value, lab_ctcae_grade, lab_grade_mismatch_flag, serious_by_grade_flag "
            "from marts.fct_adverse_event where patient_key = 'P01' and source_form = 'adverse_event'"
        ).fetchall()
    }
    assert rows["NEUTROPENIA"] == (3, 0.05, 4, True, False)
    assert rows["THROMBOCYTOPENIA"] == (4, 15.0, 4, False, True)
