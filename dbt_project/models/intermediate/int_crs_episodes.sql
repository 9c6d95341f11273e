-- Concept: cytokine release syndrome episodes with the ASTCT grade derived from their components and a flag where
-- the site-reported grade disagrees.
-- Reference: ASTCT consensus grading (Lee et al., Biol Blood Marrow Transplant 2019;25:625): fever >= 38 C is
-- needed for grade 1; grade = the more severe of hypotension and hypoxia (component grades come from the
-- dictionary code-list attribute astct_grade); grade 5 = death due to CRS. Late onset: after the day in
-- clinical_thresholds.crs_icans_late_onset_day (Kahn DQ temporal rule, registry brief section 7).
with crs as (
    select * from {{ ref('stg_crs') }}
),
attached as (
    {{ attach_infusion('crs', 'onset_date') }}
),
hypotension as (
    select code, astct_grade from {{ ref('dictionary_codes') }} where code_list = 'crs_hypotension'
),
hypoxia as (
    select code, astct_grade from {{ ref('dictionary_codes') }} where code_list = 'crs_hypoxia'
),
graded as (
    select
        a.*,
        ht.astct_grade as hypotension_grade,
        hx.astct_grade as hypoxia_grade,
        greatest(coalesce(ht.astct_grade, 0), coalesce(hx.astct_grade, 0)) as component_grade,
        d.crs_contributed and d.death_date is not null as died_of_crs
    from attached as a
    left join hypotension as ht on a.hypotension = ht.code
    left join hypoxia as hx on a.hypoxia = hx.code
    left join {{ ref('int_deaths') }} as d on a.patient_key = d.patient_key
),
final as (
select
    site_code || ':' || record_id as crs_key,
    patient_key,
    site_code,
    record_id as source_record_id,
    infusion_key,
    infusion_number,
    infusion_date,
    onset_date,
    resolution_date,
    {{ onset_day_and_duration() }},
    max_temperature_c,
    fever,
    hypotension,
    hypoxia,
    hypotension_grade,
    hypoxia_grade,
    cast(astct_grade as integer) as reported_grade,
    cast(case
        when coalesce(died_of_crs, false) and astct_grade = 5 then 5
        when component_grade >= 2 then component_grade
        -- grade 1 needs fever (not masked by antipyretics / tocilizumab / steroids: fever 'U' is accepted)
        when component_grade = 1 and coalesce(fever, 'U') <> 'N' then 1
        else 0
    end as integer) as derived_grade,
    tocilizumab,
    cast(tocilizumab_doses as integer) as tocilizumab_doses,
    steroids,
    icu_admission,
    cast(icu_days as integer) as icu_days,
    serious,
    seriousness_criteria,
    coalesce(date_diff('day', infusion_date, onset_date) > {{ cfg('crs_icans_late_onset_day') }}, false)
        as late_onset_flag
from graded
)
select
    *,
    -- the site-reported grade disagrees with the grade its components imply (e.g. grade >= 3 without a
    -- vasopressor or high-flow oxygen)
    coalesce(reported_grade <> derived_grade, false) as grade_mismatch_flag
from final
