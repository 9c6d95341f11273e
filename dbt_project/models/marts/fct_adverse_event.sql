-- Concept: adverse events after CAR-T (fact), one row per event: CRS and ICANS episodes (ASTCT), ICAHT (early and
-- late, derived from the ANC series) and the other CTCAE-graded events (infections, cytopenias, others).
-- Reference: ASTCT consensus (Lee 2019); EHA/EBMT ICAHT (Rejeski 2023, cut-offs to verify); CTCAE v5.0 / v6.0
-- (version per record). grade = the site-reported grade (CRS / ICANS / CTCAE) or the derived ICAHT grade;
-- derived_grade and grade_mismatch_flag show where the reported grade disagrees with its components; the CTCAE
-- cytopenias also carry the grade their lab nadir implies (lab_ctcae_grade, seed ctcae_lab_grading).
-- Seriousness (ICH E2A, 1994): serious = 'Y' when the site reports it serious or names an E2A criterion, or the
-- grade is 4 (life-threatening) or 5 (death), which are serious by definition (CTCAE v5.0 / ASTCT grade 4-5);
-- 'U' when the site does not know and nothing makes it serious; else 'N'. ICAHT rows are derived from the ANC
-- series (event_source = 'DERIVED'), not reported events: their seriousness is not assessed (NULL).
with crs as (
    select
        'crs:' || crs_key as adverse_event_key, patient_key, site_code, infusion_key, infusion_number,
        'CRS' as ae_category, 'CYTOKINE RELEASE SYNDROME' as ae_term, reported_grade as grade, reported_grade,
        derived_grade, grade_mismatch_flag, 'ASTCT 2019 (Lee, BBMT 2019;25:625)' as grading_standard,
        onset_date, resolution_date, onset_day, duration_days, serious as reported_serious, seriousness_criteria,
        tocilizumab, steroids, icu_admission, icu_days, late_onset_flag, 'REPORTED' as event_source,
        cast(null as double) as lab_nadir_value, cast(null as integer) as lab_ctcae_grade,
        false as lab_grade_mismatch_flag, cast(null as varchar) as infection_organism_type,
        cast(null as varchar) as infection_site, 'crs' as source_form, source_record_id
    from {{ ref('int_crs_episodes') }}
),
icans as (
    select
        'icans:' || icans_key, patient_key, site_code, infusion_key, infusion_number,
        'ICANS', 'IMMUNE EFFECTOR CELL-ASSOCIATED NEUROTOXICITY SYNDROME', reported_grade, reported_grade,
        derived_grade, grade_mismatch_flag or ice_inconsistent_flag, 'ASTCT 2019 (Lee, BBMT 2019;25:625)',
        onset_date, resolution_date, onset_day, duration_days, serious, seriousness_criteria,
        null, steroids, icu_admission, null, late_onset_flag, 'REPORTED', null, null, false, null, null,
        'icans', source_record_id
    from {{ ref('int_icans_episodes') }}
),
icaht as (
    select
        'icaht:' || h.infusion_key || ':EARLY', h.patient_key, e.site_code, h.infusion_key, h.infusion_number,
        'ICAHT', 'ICAHT EARLY', h.icaht_early_grade, null, h.icaht_early_grade, false, h.grading_standard,
        h.early_onset_date, r.recovery_date,
        cast(date_diff('day', h.infusion_date, h.early_onset_date) as integer),
        cast(date_diff('day', h.early_onset_date, r.recovery_date) as integer),
        null, null, null, null, null, null, false, 'DERIVED', null, null, false, null, null, 'lab', null
    from {{ ref('int_icaht') }} as h
    join {{ ref('int_infusion_episodes') }} as e on h.infusion_key = e.infusion_key
    left join {{ ref('int_count_recovery') }} as r on h.infusion_key = r.infusion_key and r.analyte = 'ANC'
    where h.icaht_early_grade >= 1
    union all
    select
        'icaht:' || h.infusion_key || ':LATE', h.patient_key, e.site_code, h.infusion_key, h.infusion_number,
        'ICAHT', 'ICAHT LATE', h.icaht_late_grade, null, h.icaht_late_grade, false, h.grading_standard,
        h.late_onset_date, null,
        cast(date_diff('day', h.infusion_date, h.late_onset_date) as integer), null,
        null, null, null, null, null, null, false, 'DERIVED', null, null, false, null, null, 'lab', null
    from {{ ref('int_icaht') }} as h
    join {{ ref('int_infusion_episodes') }} as e on h.infusion_key = e.infusion_key
    where h.icaht_late_grade >= 1
),
other as (
    select
        'ae:' || ae_key, patient_key, site_code, infusion_key, infusion_number,
        ae_category, ae_term, ctcae_grade, ctcae_grade, null, false,
        'CTCAE ' || replace(replace(ctcae_version, 'V', 'v'), '_', '.'),
        onset_date, resolution_date, onset_day, duration_days, serious, seriousness_criteria,
        null, null, null, null, false, 'REPORTED', lab_nadir_value, lab_ctcae_grade, lab_grade_mismatch_flag,
        infection_organism_type, infection_site, 'adverse_event', source_record_id
    from {{ ref('int_adverse_events') }}
),
unioned as (
    select * from crs
    union all select * from icans
    union all select * from icaht
    union all select * from other
)
select
    adverse_event_key,
    patient_key,
    site_code,
    infusion_key,
    cast(infusion_number as integer) as infusion_number,
    ae_category,
    ae_term,
    cast(grade as integer) as grade,
    cast(reported_grade as integer) as reported_grade,
    cast(derived_grade as integer) as derived_grade,
    coalesce(grade_mismatch_flag, false) as grade_mismatch_flag,
    grading_standard,
    onset_date,
    resolution_date,
    cast(onset_day as integer) as onset_day,
    cast(duration_days as integer) as duration_days,
    event_source,
    reported_serious,
    seriousness_criteria,
    case
        when event_source = 'DERIVED' then null
        when reported_serious = 'Y' or seriousness_criteria is not null or grade >= 4 then 'Y'
        when reported_serious = 'U' then 'U'
        else 'N'
    end as serious,
    event_source = 'REPORTED' and grade >= 4 and coalesce(reported_serious, 'U') <> 'Y'
        as serious_by_grade_flag,
    cast(lab_nadir_value as double) as lab_nadir_value,
    cast(lab_ctcae_grade as integer) as lab_ctcae_grade,
    coalesce(lab_grade_mismatch_flag, false) as lab_grade_mismatch_flag,
    infection_organism_type,
    infection_site,
    tocilizumab,
    steroids,
    icu_admission,
    cast(icu_days as integer) as icu_days,
    coalesce(late_onset_flag, false) as late_onset_flag,
    source_form,
    source_record_id
from unioned
