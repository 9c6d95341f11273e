"""For every rule, SQL that breaks it on the clean test warehouse (the fixture that FAILS the rule)."""

from __future__ import annotations

from expectations.rules import Rule
from kocartr.dictionary import load_dictionary

HAND = {
    # staging
    "staging.stg_product_infusion.leukapheresis_le_lymphodepletion_le_infusion": [
        "update staging.stg_baseline set ld_start_date = ld_start_date + 30"
    ],
    "staging.stg_product_infusion.has_baseline": ["delete from staging.stg_baseline"],
    "staging.stg_registration.order_le_leukapheresis": [
        "update staging.stg_registration set cart_order_date = cart_order_date + 100"
    ],
    "staging.stg_crs.onset_on_or_after_day0": [
        "update staging.stg_crs set onset_date = onset_date - 60, resolution_date = resolution_date - 60"
    ],
    "staging.stg_icans.onset_on_or_after_day0": [
        "update staging.stg_icans set onset_date = onset_date - 60, resolution_date = resolution_date - 60"
    ],
    "staging.stg_adverse_event.onset_on_or_after_day0": [
        "update staging.stg_adverse_event set onset_date = onset_date - 60, resolution_date = resolution_date - 60"
    ],
    "staging.stg_crs.late_onset": [
        "update staging.stg_crs set onset_date = onset_date + 60, resolution_date = resolution_date + 60"
    ],
    "staging.stg_icans.late_onset": [
        "update staging.stg_icans set onset_date = onset_date + 60, resolution_date = resolution_date + 60"
    ],
    "staging.stg_crs.grade3plus_needs_vasopressor_or_high_flow": ["update staging.stg_crs set astct_grade = 3"],
    "staging.stg_crs.grade_matches_components": ["update staging.stg_crs set astct_grade = 2"],
    "staging.stg_icans.grade3plus_needs_severe_domain": ["update staging.stg_icans set astct_grade = 3"],
    "staging.stg_icans.grade_matches_ice_and_domains": ["update staging.stg_icans set astct_grade = 2"],
    "staging.stg_death.death_on_or_after_infusion": ["update staging.stg_death set death_date = death_date - 500"],
    "staging.stg_death.death_on_or_after_last_contact": ["update staging.stg_death set death_date = death_date - 350"],
    "staging.stg_death.no_visit_after_death": ["update staging.stg_lab set lab_date = lab_date + 1000"],
    "staging.stg_followup.dead_has_death_form": ["update staging.stg_followup set vital_status = 'DEAD'"],
    **{
        f"staging.stg_{f}.resolution_on_or_after_onset": [
            f"update staging.stg_{f} set resolution_date = onset_date - 1"
        ]
        for f in ("crs", "icans", "adverse_event")
    },
    **{
        f"staging.stg_{f}.has_infusion": [f"update staging.stg_{f} set patient_key = 'orphan-' || patient_key"]
        for f in ("crs", "icans", "adverse_event")
    },
    # staging: AE-versus-lab and seriousness consistency (expectations/suites/consistency.py)
    "staging.stg_adverse_event.neutropenia_grade_vs_lab_nadir": ["update staging.stg_lab set value = 0.3"],
    "staging.stg_adverse_event.thrombocytopenia_grade_vs_lab_nadir": [
        "update staging.stg_adverse_event set ae_term = 'THROMBOCYTOPENIA'",
        "update staging.stg_lab set analyte = 'PLT', value = 10",
    ],
    "staging.stg_adverse_event.anemia_grade_vs_lab_nadir": [
        "update staging.stg_adverse_event set ae_term = 'ANEMIA'",
        "update staging.stg_lab set analyte = 'HGB', value = 7",
    ],
    **{
        f"staging.stg_{f}.grade4plus_reported_serious": [f"update staging.stg_{f} set {g} = 4, serious = 'N'"]
        for f, g in (("crs", "astct_grade"), ("icans", "astct_grade"), ("adverse_event", "ctcae_grade"))
    },
    # linkage gate
    "raw.linkage_completeness.complete_through_per_source": [
        "delete from raw.linkage_completeness where linkage_source = 'CANCER_REGISTRY'"
    ],
    "raw.linkage_completeness.complete_through_by_return_month": [
        "update raw.linkage_completeness set complete_through = date '2025-07-01'"
    ],
    "raw.linkage_death.patient_key_registered": ["update raw.linkage_death set patient_key = 'not-registered'"],
    "raw.linkage_cancer.patient_key_registered": ["update raw.linkage_cancer set patient_key = 'not-registered'"],
    # marts
    "marts.fct_infusion.infusion_date.not_null": ["update marts.fct_infusion set infusion_date = null"],
    "marts.fct_infusion.leukapheresis_le_lymphodepletion_le_infusion": [
        "update marts.fct_infusion set ld_start_date = infusion_date + 1"
    ],
    "marts.fct_followup_schedule.window_end_date.not_null": [
        "update marts.fct_followup_schedule set window_end_date = null"
    ],
    "marts.fct_followup_schedule.visit_state.in_set": ["update marts.fct_followup_schedule set visit_state = 'LOST'"],
    "marts.dim_patient.death_sources_agree": [
        "update marts.dim_patient set is_dead = true, death_query_reason = 'death reported on followup but no "
        "death form'"
    ],
    "marts.fct_linkage_reconciliation.site_reported_linked_cancer": [
        "update marts.fct_linkage_reconciliation set reconciliation_status = 'NOT_REPORTED_BY_SITE'"
    ],
    "marts.fct_followup_schedule.no_visit_after_death": [
        "update marts.fct_followup_schedule set death_date = received_date - 1"
    ],
    # adam
    "adam.adsl.siteid.not_null": ["update adam.adsl set SITEID = null"],
    "adam.adsl.ittfl_is_y": ["update adam.adsl set ITTFL = 'N'"],
    "adam.adsl.inffl_yn": ["update adam.adsl set INFFL = 'X'"],
    "adam.adsl.trtsdt_iff_infused": ["update adam.adsl set TRTSDT = null"],
    "adam.adsl.dthfl_iff_dthdt": ["update adam.adsl set DTHFL = 'Y'"],
    "adam.adsl.age_range": ["update adam.adsl set AGE = 130"],
    "adam.adsl.leukapheresis_le_infusion": ["update adam.adsl set LEUKDT = TRTSDT + 1"],
    "adam.adsl.order_le_infusion": ["update adam.adsl set ORDERDT = TRTSDT + 1"],
    "adam.adsl.death_on_or_after_infusion": ["update adam.adsl set DTHDT = TRTSDT - 1"],
    "adam.adsl.death_on_or_after_last_contact": ["update adam.adsl set LSTCNTDT = DTHDT + 1"],
    "adam.adtte.paramcd_controlled": ["update adam.adtte set PARAMCD = 'XX'"],
    "adam.adtte.cnsr_codes": ["update adam.adtte set CNSR = 7"],
    "adam.adtte.competing_iff_cnsr_null": ["update adam.adtte set CNSR = null"],
    "adam.adtte.no_competing_event_for_os_pfs": ["update adam.adtte set CNSR = null, CMPEVFL = 'Y'"],
    "adam.adtte.aval.not_null": ["update adam.adtte set AVAL = null"],
    "adam.adtte.aval_nonnegative": ["update adam.adtte set AVAL = -1"],
    "adam.adtte.pre_entry_flagged": ["update adam.adtte set ENTRYT = AVAL + 1, CNSR = 0"],
    "adam.adtte.censoring_not_before_entry": ["update adam.adtte set ENTRYT = AVAL + 1, CNSR = 1"],
    "adam.adtte.entry_nonnegative": ["update adam.adtte set ENTRYT = -1"],
    "adam.adtte.avalu_days": ["update adam.adtte set AVALU = 'MONTHS'"],
    "adam.adae.aecat_controlled": ["update adam.adae set AECAT = 'X'"],
    "adam.adae.atoxgr_range": ["update adam.adae set ATOXGRN = 9"],
    "adam.adae.grdstd.not_null": ["update adam.adae set GRDSTD = null"],
    "adam.adae.onset_on_or_after_day0": ["update adam.adae set ASTDY = -1"],
    "adam.adae.late_onset": ["update adam.adae set ASTDY = 45"],
    "adam.adae.resolution_on_or_after_onset": ["update adam.adae set AENDT = ASTDT - 1"],
}
BAD_UNIT = {"unit": "G_DL", "response": "VGPR"}  # not allowed for ANC / under Lugano


def breaker(rule: Rule) -> list[str]:
    if rule.name in HAND:
        return HAND[rule.name]
    t = rule.table
    suffix = rule.name[len(t) + 1 :]
    d = load_dictionary()
    col = suffix.split(".")[0]
    if suffix in (
        "version_key_unique",
        "record_key_unique",
        "grain_unique",
        "patient_unique",
        "usubjid_unique",
        "key_unique",
    ):
        return [f"insert into {t} select * from {t}"]
    if suffix in ("registry_not_empty", "not_emptied"):  # expectations/volume.py
        return [f"delete from {t}"]
    if suffix == "one_current_version":
        return [f"update {t} set _is_current = false"]
    if suffix == "current_iff_open_validity":
        return [f"update {t} set _valid_to_month = '2099-01'"]
    if suffix == "column_types":
        form = t.split(".")[1]
        date_col = next(f.name for f in d.form(form).fields if f.type == "date")
        return [f"alter table {t} alter column {date_col} set data type varchar"]
    if suffix == "no_free_text_columns":
        form = t.split(".")[1][len("stg_") :]
        text = next(f.name for f in d.form(form).fields if f.is_free_text)
        return [f"alter table {t} add column {text} varchar"]
    if suffix.endswith(".not_null") or suffix.endswith(".site_completeness"):
        return [f"update {t} set {col} = null"]
    if suffix.endswith(".in_code_list"):
        return (
            [f"update {t} set {col} = 'INFECTION;NOT_A_CODE'"]
            if col == "contributing_causes"
            else [f"update {t} set {col} = 'NOT_A_CODE'"]
        )
    if suffix.endswith(".pattern"):
        return [f"update {t} set {col} = 'bad value!'"]
    if suffix.endswith(".range"):
        form = t.split(".")[1]
        f = next(x for x in d.all_fields(form) if x.name == col)
        bad = f.max + 1 if f.max is not None else f.min - 1
        return [f"update {t} set {col} = {bad}"]
    if ".required_if_" in suffix:
        other = suffix.split(".required_if_")[1]
        form = t.split(".")[1]
        code = d.form(form).field(col).required_if[other][0]
        return [f"update {t} set {other} = '{code}', {col} = null"]
    if ".range_by_" in suffix:
        return [f"update {t} set {col} = 1e12"]
    if ".allowed_by_" in suffix:
        return [f"update {t} set {col} = '{BAD_UNIT[col]}'"]
    if "_le_" in suffix:
        a, b = suffix.split("_le_")
        return [
            f"update {t} set {a} = {b} + 1 where {b} is not null",
            f"update {t} set {a} = date '2025-06-01', {b} = date '2025-05-01' where {b} is null",
        ]
    raise AssertionError(f"no breaker for {rule.name}")
