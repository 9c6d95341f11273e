"""ADaM-layer suite (adam.adsl / adtte / adae, docs/ARCHITECTURE.md): the last gate before the analyses.

All hand-written: these datasets are derived, so the rules restate the ADaM contract where no dbt test does (the keys
and controlled terms of models/adam/_adam.yml are not repeated here) and the temporal rules of brief section 7 on
the analysis variables. A critical failure here
stops the analysis assets; temporal rules tolerate 2% of patients (their records go to site queries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from expectations.config import (
    ADAE,
    ADAM_SITE,
    ADAM_SUBJECT,
    ADSL,
    ADTTE,
    CRS_ICANS_LATE_ONSET_DAY,
)
from expectations.rules import Rule, rule
from kocartr.censoring import COMPLETENESS_CENSORINGS

if TYPE_CHECKING:
    from kocartr.dictionary import Dictionary

TEMPORAL_SHARE = 0.02


def _ids(*extra: str) -> tuple[str, ...]:
    return (ADAM_SITE, ADAM_SUBJECT, *extra)


SUBJECT_IDS = _ids()
IDS_TTE = _ids("INFNUM", "PARAMCD")
IDS_AE = _ids("AESEQ")


def _adam(
    table: str,
    name: str,
    category: str,
    sub: str,
    severity: str,
    share: float,
    reason: str,
    *,
    query: str | None = None,
    expectation: str | None = None,
    kwargs: dict[str, Any] | None = None,
    ids: tuple[str, ...] = SUBJECT_IDS,
) -> Rule:
    """An ADaM rule (expectations.rules.rule): a `query` with a boolean `ok` per record, or a GX `expectation` on
    the table itself; identified by site and subject."""
    return rule(
        table,
        name,
        category=category,
        subcategory=sub,
        severity=severity,
        max_failing_share=share,
        reason=reason,
        query=query,
        expectation=expectation,
        kwargs=kwargs,
        id_columns=ids,
        site_column=ADAM_SITE,
    )


# ADSL: one row per patient with an order.
ADSL_RULES: tuple[Rule, ...] = (
    _adam(
        ADSL,
        "siteid.not_null",
        "completeness",
        "atemporal",
        "critical",
        0.0,
        "Every patient belongs to a site (per-site analyses, scorecard, site queries).",
        expectation="ExpectColumnValuesToNotBeNull",
        kwargs={"column": ADAM_SITE},
    ),
    _adam(
        ADSL,
        "trtsdt_iff_infused",
        "conformance",
        "computational",
        "critical",
        0.0,
        "TRTSDT (day 0) is set exactly for infused patients (INFFL = 'Y'): every time-to-event starts there.",
        query=f"""select {ADAM_SITE}, {ADAM_SUBJECT}, (coalesce(INFFL, 'N') = 'Y') = (TRTSDT is not null) as ok
           from {ADSL}""",
    ),
    _adam(
        ADSL,
        "dthfl_iff_dthdt",
        "conformance",
        "computational",
        "critical",
        0.0,
        "DTHFL = 'Y' exactly when DTHDT is set (OS events and censoring depend on both).",
        query=f"""select {ADAM_SITE}, {ADAM_SUBJECT}, (coalesce(DTHFL, 'N') = 'Y') = (DTHDT is not null) as ok
           from {ADSL}""",
    ),
    _adam(
        ADSL,
        "age_range",
        "plausibility",
        "atemporal",
        "critical",
        0.01,
        "AGE in years at first infusion (else order) within 0-110; CAR-T is approved from childhood.",
        expectation="ExpectColumnValuesToBeBetween",
        kwargs={"column": "AGE", "min_value": 0, "max_value": 110},
    ),
    _adam(
        ADSL,
        "leukapheresis_le_infusion",
        "plausibility",
        "temporal",
        "critical",
        TEMPORAL_SHARE,
        "Brief 7: leukapheresis (LEUKDT) <= infusion (TRTSDT).",
        query=f"""select {ADAM_SITE}, {ADAM_SUBJECT}, LEUKDT <= TRTSDT as ok from {ADSL}
           where LEUKDT is not null and TRTSDT is not null""",
    ),
    _adam(
        ADSL,
        "order_le_infusion",
        "plausibility",
        "temporal",
        "critical",
        TEMPORAL_SHARE,
        "ITT anchor: the CAR-T order (ORDERDT) precedes day 0 (TRTSDT); OS_ITT and OS share the cohort.",
        query=f"""select {ADAM_SITE}, {ADAM_SUBJECT}, ORDERDT <= TRTSDT as ok from {ADSL}
           where ORDERDT is not null and TRTSDT is not null""",
    ),
    _adam(
        ADSL,
        "death_on_or_after_infusion",
        "plausibility",
        "temporal",
        "critical",
        TEMPORAL_SHARE,
        "An infused patient cannot die before day 0: OS time would be negative and the KM estimate wrong.",
        query=f"""select {ADAM_SITE}, {ADAM_SUBJECT}, DTHDT >= TRTSDT as ok from {ADSL}
           where INFFL = 'Y' and DTHDT is not null and TRTSDT is not null""",
    ),
    _adam(
        ADSL,
        "death_on_or_after_last_contact",
        "plausibility",
        "temporal",
        "critical",
        TEMPORAL_SHARE,
        "Brief 7: death >= last contact (LSTCNTDT is the last date known alive, so it cannot follow death).",
        query=f"""select {ADAM_SITE}, {ADAM_SUBJECT}, LSTCNTDT <= DTHDT as ok from {ADSL}
           where DTHDT is not null and LSTCNTDT is not null""",
    ),
)


# ADTTE: one row per patient, infusion and parameter.
ADTTE_RULES: tuple[Rule, ...] = (
    _adam(
        ADTTE,
        "key_unique",
        "plausibility",
        "uniqueness",
        "critical",
        0.0,
        "ADTTE grain: one row per patient, infusion and parameter.",
        expectation="ExpectCompoundColumnsToBeUnique",
        kwargs={"column_list": [ADAM_SUBJECT, "INFNUM", "PARAMCD"]},
        ids=IDS_TTE,
    ),
    _adam(
        ADTTE,
        "competing_iff_cnsr_null",
        "conformance",
        "computational",
        "critical",
        0.0,
        "A competing event is carried by CMPEVFL = 'Y' with CNSR NULL (so a naive Kaplan-Meier fails on it instead "
        "of treating it as a censoring); every other row has CNSR 0 or 1.",
        query=f"""select {", ".join(IDS_TTE)}, (CNSR is null) = (coalesce(CMPEVFL, 'N') = 'Y') as ok from {ADTTE}""",
        ids=IDS_TTE,
    ),
    _adam(
        ADTTE,
        "no_competing_event_for_os_pfs",
        "conformance",
        "computational",
        "critical",
        0.0,
        "OS, OS_ITT, PFS, EFS and DOR have no competing risk (death is an event of each): CMPEVFL is never 'Y'.",
        query=f"""select {", ".join(IDS_TTE)}, coalesce(CMPEVFL, 'N') <> 'Y' as ok from {ADTTE}
           where PARAMCD in ('OS', 'OS_ITT', 'PFS', 'EFS', 'DOR')""",
        ids=IDS_TTE,
    ),
    _adam(
        ADTTE,
        "aval.not_null",
        "completeness",
        "atemporal",
        "critical",
        0.0,
        "Every time-to-event row has a time (AVAL).",
        expectation="ExpectColumnValuesToNotBeNull",
        kwargs={"column": "AVAL"},
        ids=IDS_TTE,
    ),
    _adam(
        ADTTE,
        "aval_nonnegative",
        "plausibility",
        "temporal",
        "critical",
        TEMPORAL_SHARE,
        "Brief 7 applied to analysis times: ADT >= STARTDT, so AVAL >= 0 (a negative time means an event "
        "before day 0, e.g. a death date before the infusion).",
        query=f"select {', '.join(IDS_TTE)}, AVAL >= 0 as ok from {ADTTE} where AVAL is not null",
        ids=IDS_TTE,
    ),
    _adam(
        ADTTE,
        "entry_nonnegative",
        "conformance",
        "computational",
        "critical",
        0.0,
        "ENTRYT (delayed entry, days from STARTDT to enrolment) is 0 or positive: enrolment before day 0 is "
        "entry at 0 (ARCHITECTURE.md).",
        query=f"select {', '.join(IDS_TTE)}, coalesce(ENTRYT, 0) >= 0 as ok from {ADTTE}",
        ids=IDS_TTE,
    ),
    _adam(
        ADTTE,
        "pre_entry_flagged",
        "conformance",
        "computational",
        "critical",
        0.0,
        "Left truncation (endpoints.md 'Delayed entry'): an event or competing event on or before registry entry "
        "(ENTRYT > 0 and AVAL <= ENTRYT) is kept and flagged PREENTFL = 'Y' so that every estimator excludes it; "
        "such rows are legitimate (registration after an early progression or count recovery), not data errors. "
        "This rule checks the flag is set exactly on them.",
        query=f"""select {", ".join(IDS_TTE)},
                  (coalesce(PREENTFL, 'N') = 'Y') = coalesce(ENTRYT > 0 and AVAL <= ENTRYT
                                                             and (CNSR = 0 or CMPEVFL = 'Y'), false) as ok
           from {ADTTE} where AVAL is not null""",
        ids=IDS_TTE,
    ),
    _adam(
        ADTTE,
        "censoring_not_before_entry",
        "plausibility",
        "temporal",
        "warning",
        0.05,
        "A censored row ends at the last contact, which is never before registry enrolment (enrolment is a "
        "contact): ENTRYT > AVAL on a censored row means an enrolment date after every other contact. Not a row "
        "censored at a national registry's completeness date (kocartr.censoring.COMPLETENESS_CENSORINGS), which a "
        "patient registered after that date rightly ends before entry (the analyses exclude it as no follow-up "
        "inside the completeness window).",
        query=f"""select {", ".join(IDS_TTE)}, coalesce(ENTRYT, 0) <= AVAL as ok
           from {ADTTE} where AVAL is not null and CNSR = 1
           and coalesce(CNSDTDSC, '') not in ({", ".join(f"'{c}'" for c in COMPLETENESS_CENSORINGS)})""",
        ids=IDS_TTE,
    ),
)


# ADAE: one row per patient and event.
ADAE_RULES: tuple[Rule, ...] = (
    _adam(
        ADAE,
        "atoxgr_range",
        "plausibility",
        "atemporal",
        "critical",
        0.0,
        "Grades (ASTCT, CTCAE, ICAHT) are 1-5 (ATOXGRN, numeric twin of the character ATOXGR).",
        expectation="ExpectColumnValuesToBeBetween",
        kwargs={"column": "ATOXGRN", "min_value": 1, "max_value": 5},
        ids=IDS_AE,
    ),
    _adam(
        ADAE,
        "grdstd.not_null",
        "completeness",
        "atemporal",
        "warning",
        0.0,
        "A grade is meaningless without its grading standard and version (CTCAE v5 vs v6 differ).",
        expectation="ExpectColumnValuesToNotBeNull",
        kwargs={"column": "GRDSTD"},
        ids=IDS_AE,
    ),
    _adam(
        ADAE,
        "onset_on_or_after_day0",
        "plausibility",
        "temporal",
        "critical",
        TEMPORAL_SHARE,
        "Brief 7: CRS / ICANS onset >= day 0 (ASTDY >= 0).",
        query=f"select {', '.join(IDS_AE)}, ASTDY >= 0 as ok from {ADAE} where AECAT in ('CRS', 'ICANS') "
        "and ASTDY is not null",
        ids=IDS_AE,
    ),
    _adam(
        ADAE,
        "late_onset",
        "plausibility",
        "temporal",
        "warning",
        0.05,
        f"Brief 7: CRS / ICANS onset after day {CRS_ICANS_LATE_ONSET_DAY} is flagged.",
        query=f"select {', '.join(IDS_AE)}, ASTDY <= {CRS_ICANS_LATE_ONSET_DAY} as ok from {ADAE} "
        "where AECAT in ('CRS', 'ICANS') "
        "and ASTDY is not null",
        ids=IDS_AE,
    ),
    _adam(
        ADAE,
        "resolution_on_or_after_onset",
        "plausibility",
        "temporal",
        "critical",
        TEMPORAL_SHARE,
        "Brief 7: resolution >= onset (AENDT >= ASTDT; ADURN would be negative).",
        query=f"select {', '.join(IDS_AE)}, AENDT >= ASTDT as ok from {ADAE} "
        "where AENDT is not null and ASTDT is not null",
        ids=IDS_AE,
    ),
)


def rules(dictionary: Dictionary) -> list[Rule]:
    return [*ADSL_RULES, *ADTTE_RULES, *ADAE_RULES]
