"""Marts-layer suite (dbt marts: dim_ / fct_ models investigators query and ADaM is built from).

Hand rules on the day-0 anchors and cross-table agreement (the grain keys and accepted values are dbt tests of the
marts: one rule, one place). Column names follow dbt_project/models/marts (see config.py).
"""

from __future__ import annotations

from expectations.config import (
    DIM_PATIENT,
    FCT_FOLLOWUP_SCHEDULE,
    FCT_INFUSION,
    FCT_INFUSION_INFUSED,
    FCT_INFUSION_KEY,
    FOLLOWUP_DEATH_DATE,
    FOLLOWUP_DUE_DATE,
    FOLLOWUP_KEY,
    FOLLOWUP_RECEIVED_DATE,
    MARTS_PATIENT,
    MARTS_SITE,
)
from expectations.rules import Rule, rule

IDS = (MARTS_SITE, MARTS_PATIENT)
INF_IDS = (MARTS_SITE, MARTS_PATIENT, FCT_INFUSION_KEY)
FU_IDS = (MARTS_SITE, MARTS_PATIENT, FOLLOWUP_KEY)


RULES: tuple[Rule, ...] = (
    rule(
        FCT_INFUSION,
        "infusion_date.not_null",
        category="completeness",
        subcategory="atemporal",
        severity="critical",
        max_failing_share=0.0,
        id_columns=INF_IDS,
        where=f"{FCT_INFUSION_INFUSED}",
        reason="Day 0 of every time-to-event analysis: an infused episode has its infusion date.",
        expectation="ExpectColumnValuesToNotBeNull",
        kwargs={"column": "infusion_date"},
    ),
    rule(
        FCT_INFUSION,
        "leukapheresis_le_lymphodepletion_le_infusion",
        category="plausibility",
        subcategory="temporal",
        severity="critical",
        max_failing_share=0.02,
        id_columns=INF_IDS,
        reason="Brief 7: leukapheresis <= lymphodepletion <= infusion, on the mart the analyses read "
        "(lymphodepletion checked when reported).",
        query=f"""select {", ".join(INF_IDS)},
                                 coalesce(leukapheresis_date <= infusion_date
                                          and (ld_start_date is null or (leukapheresis_date <= ld_start_date
                                                                         and ld_start_date <= infusion_date)),
                                          false) as ok
                          from {FCT_INFUSION}
                          where leukapheresis_date is not null and infusion_date is not null""",
    ),
    rule(
        FCT_FOLLOWUP_SCHEDULE,
        f"{FOLLOWUP_DUE_DATE}.not_null",
        category="completeness",
        subcategory="atemporal",
        severity="warning",
        max_failing_share=0.0,
        id_columns=FU_IDS,
        reason="Timeliness (scorecard) compares received with due: every scheduled form needs its due date.",
        expectation="ExpectColumnValuesToNotBeNull",
        kwargs={"column": FOLLOWUP_DUE_DATE},
    ),
    rule(
        DIM_PATIENT,
        "death_sources_agree",
        category="conformance",
        subcategory="relational",
        severity="warning",
        max_failing_share=0.05,
        id_columns=IDS,
        reason="One death per patient from every source (death form > follow-up DEAD or national linkage > "
        "fatal AE; endpoints.md), queried only where the site can act: a death no site reported, a death form "
        "date off the national record by more than death_date_tolerance_days (clinical_thresholds.csv), a "
        "follow-up DEAD contact before the death (it dates when the site learnt of it), a fatal event ending "
        "after it, or a fatal event with neither death form nor follow-up (death_query_reason says which).",
        query=f"""select {", ".join(IDS)}, death_query_reason is null as ok
                          from {DIM_PATIENT} where is_dead""",
    ),
    rule(
        "marts.fct_linkage_reconciliation",
        "site_reported_linked_cancer",
        category="completeness",
        subcategory="atemporal",
        severity="warning",
        max_failing_share=0.05,
        id_columns=(MARTS_SITE, MARTS_PATIENT, "linkage_event_key"),
        reason="A new cancer in the national cancer registry's return that the site did not report, or whose "
        "diagnosis date differs, is queried at the patient's site (query_reason says which); deaths are "
        "queried by dim_patient.death_sources_agree.",
        query="""select site_code, patient_key, linkage_event_key, reconciliation_status = 'AGREES' as ok
                     from marts.fct_linkage_reconciliation where event_type = 'CANCER'""",
    ),
    rule(
        FCT_FOLLOWUP_SCHEDULE,
        "no_visit_after_death",
        category="plausibility",
        subcategory="temporal",
        severity="warning",
        max_failing_share=0.05,
        id_columns=FU_IDS,
        reason="Brief 7: no visit after death. A follow-up that reports the death may be dated later "
        "(the day the site learnt of it), hence a warning.",
        query=f"""select {", ".join(FU_IDS)}, {FOLLOWUP_RECEIVED_DATE} <= {FOLLOWUP_DEATH_DATE} as ok
                          from {FCT_FOLLOWUP_SCHEDULE}
                          where {FOLLOWUP_RECEIVED_DATE} is not null and {FOLLOWUP_DEATH_DATE} is not null""",
    ),
)


def rules(dictionary=None) -> list[Rule]:
    return list(RULES)
