-- Concept: immune effector cell-associated neurotoxicity syndrome (ICANS) episodes, ASTCT grade derived from the
-- most severe domain, with ICE-score consistency.
-- Reference: ASTCT consensus grading (Lee et al., Biol Blood Marrow Transplant 2019;25:625). Domains: ICE score
-- (bands in icans_score_grading; CAPD for children when no ICE score), depressed consciousness, seizure, deep
-- focal motor weakness (grade 4), raised ICP / cerebral oedema; component grades are the dictionary code-list
-- attribute astct_grade. Tremor, myoclonus and haemorrhage do not count. Grade 5 = death due to ICANS.
with icans as (
    select * from {{ ref('stg_icans') }}
),
attached as (
    {{ attach_infusion('icans', 'onset_date') }}
),
codes as (
    select code_list, code, astct_grade from {{ ref('dictionary_codes') }}
    where code_list in ('icans_consciousness', 'icans_seizure', 'icans_cerebral_edema')
),
bands as (
    select * from {{ ref('icans_score_grading') }}
),
graded as (
    select
        a.*,
        ice.grade as ice_grade,
        capd.grade as capd_grade,
        cs.astct_grade as consciousness_grade,
        sz.astct_grade as seizure_grade,
        case when a.motor_weakness = 'Y' then 4 else 0 end as motor_grade,
        ce.astct_grade as cerebral_edema_grade,
        d.primary_cause = 'ICANS' as died_of_icans
    from attached as a
    left join bands as ice
        on ice.score_type = 'ICE' and a.ice_score between ice.score_min and ice.score_max
    left join bands as capd
        on capd.score_type = 'CAPD' and a.capd_score between capd.score_min and capd.score_max
    left join codes as cs on cs.code_list = 'icans_consciousness' and a.consciousness = cs.code
    left join codes as sz on sz.code_list = 'icans_seizure' and a.seizure = sz.code
    left join codes as ce on ce.code_list = 'icans_cerebral_edema' and a.cerebral_edema = ce.code
    left join {{ ref('int_deaths') }} as d on a.patient_key = d.patient_key
),
final as (
    select
        site_code || ':' || record_id as icans_key,
        patient_key,
        site_code,
        record_id as source_record_id,
        infusion_key,
        infusion_number,
        infusion_date,
        onset_date,
        resolution_date,
        {{ onset_day_and_duration() }},
        cast(ice_score as integer) as ice_score,
        cast(capd_score as integer) as capd_score,
        consciousness,
        seizure,
        motor_weakness,
        cerebral_edema,
        cast(coalesce(ice_grade, capd_grade, 0) as integer) as score_grade,
        cast(astct_grade as integer) as reported_grade,
        cast(case
            when coalesce(died_of_icans, false) and astct_grade = 5 then 5
            else greatest(coalesce(ice_grade, capd_grade, 0), coalesce(consciousness_grade, 0),
                          coalesce(seizure_grade, 0), motor_grade, coalesce(cerebral_edema_grade, 0))
        end as integer) as derived_grade,
        steroids,
        icu_admission,
        serious,
        seriousness_criteria,
        coalesce(date_diff('day', infusion_date, onset_date) > {{ cfg('crs_icans_late_onset_day') }}, false)
            as late_onset_flag
    from graded
)
select
    *,
    coalesce(reported_grade <> derived_grade, false) as grade_mismatch_flag,
    -- the ICE score alone implies a higher grade than the site reported
    coalesce(score_grade > reported_grade, false) as ice_inconsistent_flag
from final
