"""Staging-layer suite (dbt models staging.stg_<form>: the current, non-deleted version of each record).

Generated from the dictionary: no free-text column past staging, per-site completeness of key variables (record
key uniqueness and non-null keys are the dbt tests of the staging models: one rule, one place). By hand: the
cross-form temporal rules of registry brief section 7 and the ASTCT grade consistency rules. Temporal rules allow
2% failing rows: one implausible patient must not block a national release; its record goes to the site queries
(audit.dq_failing_records) instead.
"""

from __future__ import annotations

from expectations.config import CRS_ICANS_LATE_ONSET_DAY, KEY_VARIABLES, STAGING_ID_COLUMNS, score_bands, stg
from expectations.rules import Rule, rule

TEMPORAL_SHARE = 0.02
GRADE_SHARE = 0.05
IDS = ", ".join(f"x.{c}" for c in STAGING_ID_COLUMNS)


def _lit(v) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _grade_case(dictionary, code_list: str, column: str) -> str:
    """SQL CASE mapping a component code to the ASTCT grade it implies (dictionary code-list attributes)."""
    whens = " ".join(
        f"when {_lit(c.code)} then {int(c.attributes['astct_grade'])}"
        for c in dictionary.code_lists[code_list].codes
        if "astct_grade" in c.attributes
    )
    return f"coalesce(case {column} {whens} end, 0)"


def generated_rules(dictionary) -> list[Rule]:
    rules: list[Rule] = []
    for form_name, form in dictionary.forms.items():
        table = stg(form_name)
        schema, tname = table.split(".")
        text_fields = [f.name for f in form.fields if f.is_free_text]
        if text_fields:
            rules.append(
                rule(
                    table,
                    "no_free_text_columns",
                    category="conformance",
                    subcategory="value",
                    severity="critical",
                    max_failing_share=0.0,
                    site_column=None,
                    id_columns=("column_name",),
                    source="dictionary",
                    reason="PIPA: free text cannot be assumed pseudonymized; text fields "
                    f"({', '.join(text_fields)}) stay in raw and never pass staging.",
                    query=f"""select column_name, column_name not in ({", ".join(_lit(t) for t in text_fields)}) as ok
                          from information_schema.columns
                          where table_schema = {_lit(schema)} and table_name = {_lit(tname)}
                            and (select count(*) from (select 1 from {table} limit 1)) >= 0""",
                )
            )
    for form_name, (fields, min_share) in KEY_VARIABLES.items():
        table = stg(form_name)
        for f in fields:
            rules.append(
                rule(
                    table,
                    f"{f}.site_completeness",
                    category="completeness",
                    subcategory="per_site",
                    severity="warning",
                    max_failing_share=round(1.0 - min_share, 6),
                    per_site=True,
                    id_columns=STAGING_ID_COLUMNS,
                    source="dictionary",
                    reason=f"Key analysis variable (config KEY_VARIABLES): each site reports {f} for at least "
                    f"{min_share:.0%} of its records.",
                    expectation="ExpectColumnValuesToNotBeNull",
                    kwargs={"column": f},
                )
            )
    return rules


PI, BL, CRS, ICANS, AE = stg("product_infusion"), stg("baseline"), stg("crs"), stg("icans"), stg("adverse_event")
DEATH, FU, REG, LAB, RESP = stg("death"), stg("followup"), stg("registration"), stg("lab"), stg("response")
FIRST_INF = f"(select patient_key, min(infusion_date) as first_infusion from {PI} group by patient_key)"


def _temporal(
    name, table, reason, query, severity="critical", share=TEMPORAL_SHARE, sub="temporal", cat="plausibility"
) -> Rule:
    """A cross-form SQL rule (brief section 7 by default): `query` returns one row per record with `ok`."""
    return rule(
        table,
        f"{name}",
        category=cat,
        subcategory=sub,
        severity=severity,
        max_failing_share=share,
        reason=reason,
        query=query,
    )


def _grain_rules() -> list[Rule]:
    """Uniqueness of the clinical grain."""
    R: list[Rule] = []
    for table, cols, why in (
        (REG, ["patient_key"], "registration: one row per patient"),
        (DEATH, ["patient_key"], "death: one row per patient"),
        (PI, ["patient_key", "infusion_number"], "product_infusion: one row per infusion"),
        (BL, ["patient_key", "infusion_number"], "baseline: one row per infusion"),
    ):
        R.append(
            rule(
                table,
                "grain_unique",
                category="plausibility",
                subcategory="uniqueness",
                severity="critical",
                max_failing_share=0.0,
                reason=f"Dictionary grain, {why}; a duplicate double-counts patients or infusions.",
                expectation="ExpectCompoundColumnsToBeUnique",
                kwargs={"column_list": cols},
            )
        )
    return R


def _ordering_rules() -> list[Rule]:
    """Leukapheresis <= lymphodepletion <= infusion (brief 7), and the order before them."""
    R: list[Rule] = []
    R.append(
        _temporal(
            "leukapheresis_le_lymphodepletion_le_infusion",
            PI,
            "Brief 7: leukapheresis <= lymphodepletion start <= infusion (day 0), across forms product_infusion "
            "and baseline (same patient and infusion_number); lymphodepletion is checked when reported.",
            f"""select {IDS}, coalesce(x.leukapheresis_date <= x.infusion_date
                          and (b.ld_start is null or (x.leukapheresis_date <= b.ld_start
                                                      and b.ld_start <= x.infusion_date)), false) as ok
                 from {PI} x left join (select patient_key, infusion_number, min(ld_start_date) as ld_start
                                        from {BL} group by all) b
                   on b.patient_key = x.patient_key and b.infusion_number = x.infusion_number""",
        )
    )
    R.append(
        _temporal(
            "has_baseline",
            PI,
            "Form 4000 is due for every infusion: an infusion without its baseline cannot enter the analyses "
            "stratified by baseline factors (site query, not a release blocker).",
            f"""select {IDS}, exists (select 1 from {BL} b where b.patient_key = x.patient_key
                                       and b.infusion_number = x.infusion_number) as ok from {PI} x""",
            severity="warning",
            share=0.05,
            cat="conformance",
            sub="relational",
        )
    )
    R.append(
        _temporal(
            "order_le_leukapheresis",
            REG,
            "ITT anchor: the CAR-T order precedes the leukapheresis of the patient's first infusion.",
            f"""select {IDS}, coalesce(x.cart_order_date <= p.leuka, false) as ok from {REG} x
                 join (select patient_key, min(leukapheresis_date) as leuka from {PI} group by all) p
                   using (patient_key)""",
            severity="warning",
            share=0.05,
        )
    )
    return R


def _onset_rules() -> list[Rule]:
    """Onsets on/after day 0, late onsets flagged, resolution after onset."""
    R: list[Rule] = []
    for table, form, sev in ((CRS, "CRS", "critical"), (ICANS, "ICANS", "critical"), (AE, "adverse event", "warning")):
        R.append(
            _temporal(
                "onset_on_or_after_day0",
                table,
                f"Brief 7: {form} onset >= day 0 (first infusion of the patient); an onset before any infusion "
                "is a date error."
                + (" Warning only for other AEs: cytopenias may predate infusion." if sev == "warning" else ""),
                f"""select {IDS}, coalesce(x.onset_date >= i.first_infusion, false) as ok from {table} x
                     join {FIRST_INF} i using (patient_key)""",
                severity=sev,
            )
        )
        R.append(
            _temporal(
                "resolution_on_or_after_onset",
                table,
                f"Brief 7: {form} resolution >= onset.",
                f"""select {IDS}, x.resolution_date >= x.onset_date as ok from {table} x
                     where x.resolution_date is not null and x.onset_date is not null""",
            )
        )
        # Blocking: a toxicity dated from a day 0 that no infusion record gives would otherwise
        # make the patient silently "not infused" and drop out of the toxicity denominators. Every failing record
        # becomes a site query; the run stops when more than 5% of the form's records lack their infusion (a
        # missing infusion form at that scale is a submission failure, not a few quarantined rows).
        R.append(
            _temporal(
                "has_infusion",
                table,
                f"A {form} record implies an infusion (its onset is counted from day 0): without an infusion record "
                "the patient would be silently 'not infused' and leave the toxicity denominators. Blocking; "
                "each record is a site query for the missing infusion form.",
                f"""select {IDS}, i.patient_key is not null as ok from {table} x
                     left join {FIRST_INF} i using (patient_key)""",
                severity="critical",
                share=0.05,
                cat="conformance",
                sub="relational",
            )
        )
    for table, form in ((CRS, "CRS"), (ICANS, "ICANS")):
        R.append(
            _temporal(
                "late_onset",
                table,
                f"Brief 7: {form} onset after day {CRS_ICANS_LATE_ONSET_DAY} of the latest infusion is flagged "
                "for the site to confirm (plausible but rare).",
                f"""select {IDS}, (x.onset_date - (select max(p.infusion_date) from {PI} p
                                   where p.patient_key = x.patient_key and p.infusion_date <= x.onset_date))
                                   <= {CRS_ICANS_LATE_ONSET_DAY} as ok
                     from {table} x
                     where exists (select 1 from {PI} p where p.patient_key = x.patient_key
                                   and p.infusion_date <= x.onset_date)""",
                severity="warning",
                share=0.05,
            )
        )
    return R


def _grade_rules(dictionary) -> list[Rule]:
    """ASTCT grade consistency (brief 3 and 7)."""
    R: list[Rule] = []
    hypo = _grade_case(dictionary, "crs_hypotension", "x.hypotension")
    hypox = _grade_case(dictionary, "crs_hypoxia", "x.hypoxia")
    R.append(
        _temporal(
            "grade3plus_needs_vasopressor_or_high_flow",
            CRS,
            "ASTCT 2019 (brief 7): CRS grade 3-4 needs at least one vasopressor or high-flow oxygen / positive "
            "pressure (a component of grade >= 3). Grade 5 (death) is exempt.",
            f"""select {IDS}, greatest({hypo}, {hypox}) >= 3 as ok from {CRS} x where x.astct_grade in (3, 4)""",
            share=GRADE_SHARE,
            sub="atemporal",
        )
    )
    R.append(
        _temporal(
            "grade_matches_components",
            CRS,
            "ASTCT 2019: CRS grade 1-4 = the more severe of hypotension and hypoxia (grade 1 = fever alone). "
            "Mismatches go to site queries (site may grade from data not in the form).",
            f"""select {IDS}, x.astct_grade = greatest(1, {hypo}, {hypox}) as ok from {CRS} x
                 where x.astct_grade between 1 and 4""",
            severity="warning",
            share=GRADE_SHARE,
            cat="conformance",
            sub="computational",
        )
    )
    # ICE and CAPD bands from the seed (data/config/icans_score_grading.csv); ICE 0 and unarousable is grade 4
    # through the consciousness domain below
    ice = "(case " + " ".join(f"when x.ice_score between {lo} and {hi} then {g}" for lo, hi, g in score_bands("ICE"))
    ice += " else 0 end)"
    capd_g3 = min(lo for lo, _, g in score_bands("CAPD") if g >= 3)  # CAPD counts here only as a grade-3 domain
    capd = f"(case when x.capd_score >= {capd_g3} then 3 else 0 end)"
    domains = (
        f"greatest({ice}, {capd}, {_grade_case(dictionary, 'icans_consciousness', 'x.consciousness')}, "
        f"{_grade_case(dictionary, 'icans_seizure', 'x.seizure')}, "
        f"(case when x.motor_weakness = 'Y' then 4 else 0 end), "
        f"{_grade_case(dictionary, 'icans_cerebral_edema', 'x.cerebral_edema')})"
    )
    R.append(
        _temporal(
            "grade3plus_needs_severe_domain",
            ICANS,
            "ASTCT 2019: ICANS grade 3-4 needs a domain of grade >= 3 (ICE 0-2, awakens only to touch, seizure, "
            "deep motor weakness, oedema; CAPD >= 9 in children). Grade 5 exempt.",
            f"select {IDS}, {domains} >= 3 as ok from {ICANS} x where x.astct_grade in (3, 4)",
            share=GRADE_SHARE,
            sub="atemporal",
        )
    )
    R.append(
        _temporal(
            "grade_matches_ice_and_domains",
            ICANS,
            "ASTCT 2019 (brief 7): adult ICANS grade 1-4 = most severe domain, ICE 7-9 G1, 3-6 G2, 0-2 G3, "
            "0 and unarousable G4. Checked where an ICE score is reported (adults).",
            f"""select {IDS}, x.astct_grade = {domains} as ok from {ICANS} x
                 where x.astct_grade between 1 and 4 and x.ice_score is not null""",
            severity="warning",
            share=GRADE_SHARE,
            cat="conformance",
            sub="computational",
        )
    )
    return R


def _death_rules() -> list[Rule]:
    """Death."""
    R: list[Rule] = []
    R.append(
        _temporal(
            "death_on_or_after_infusion",
            DEATH,
            "An infused patient cannot die before day 0 (deaths before infusion are recorded as "
            "not_infused_reason = DEATH and have no infusion). OS would be negative.",
            f"""select {IDS}, x.death_date >= i.first_infusion as ok from {DEATH} x
                 join {FIRST_INF} i using (patient_key) where x.death_date is not null""",
        )
    )
    R.append(
        _temporal(
            "death_on_or_after_last_contact",
            DEATH,
            "Brief 7: death >= the last contact at which the patient was reported alive.",
            f"""select {IDS}, x.death_date >= f.last_alive as ok from {DEATH} x
                 join (select patient_key, max(contact_date) as last_alive from {FU}
                       where vital_status = 'ALIVE' group by all) f using (patient_key)
                 where x.death_date is not null""",
        )
    )
    R.append(
        _temporal(
            "no_visit_after_death",
            DEATH,
            "Brief 7: no visit after death: labs, response assessments and CRS/ICANS/AE onsets dated after the "
            "death date are impossible.",
            f"""with ev as (select patient_key, lab_date as d from {LAB}
                            union all select patient_key, assessment_date from {RESP}
                            union all select patient_key, onset_date from {CRS}
                            union all select patient_key, onset_date from {ICANS}
                            union all select patient_key, onset_date from {AE}),
                 last_ev as (select patient_key, max(d) as last_event from ev group by all)
                 select {IDS}, coalesce(e.last_event <= x.death_date, true) as ok
                 from {DEATH} x left join last_ev e using (patient_key) where x.death_date is not null""",
        )
    )
    R.append(
        _temporal(
            "dead_has_death_form",
            FU,
            "A follow-up reporting DEAD makes the death form (cause of death) due.",
            f"""select {IDS}, exists (select 1 from {DEATH} d where d.patient_key = x.patient_key) as ok
                 from {FU} x where x.vital_status = 'DEAD'""",
            severity="warning",
            share=0.05,
            cat="completeness",
            sub="atemporal",
        )
    )
    return R


def hand_rules(dictionary) -> list[Rule]:
    return [
        *_grain_rules(),
        *_ordering_rules(),
        *_onset_rules(),
        *_grade_rules(dictionary),
        *_death_rules(),
    ]


def rules(dictionary) -> list[Rule]:
    from expectations.suites import consistency

    return generated_rules(dictionary) + hand_rules(dictionary) + consistency.rules(dictionary)
