-- Concept: revaccination after CAR-T (fact), one row per vaccine dose, with the antibody response where tested.
-- Reference: EBMT/EHA recommendations (Hayden et al., Ann Oncol 2022;33:259): inactivated vaccines from about
-- 3-6 months after infusion, live vaccines not before 1 year and off immunosuppression (is_live from the
-- dictionary's vaccine code list); CIBMTR 4100. Day 0 = the patient's first infusion.
with doses as (
    select * from {{ ref('stg_vaccination') }}
),
day0 as (
    select patient_key, infusion_date
    from {{ ref('int_infusion_episodes') }}
    where is_index_infusion
),
live as (
    select code, lower(cast(live as varchar)) = 'true' as is_live
    from {{ ref('dictionary_codes') }}
    where code_list = 'vaccine'
)
select
    v.site_code || ':' || v.record_id as vaccination_key,
    v.patient_key,
    v.site_code,
    v.vaccine,
    coalesce(l.is_live, false) as is_live,
    cast(v.dose_number as integer) as dose_number,
    v.vaccination_date,
    cast(date_diff('day', d.infusion_date, v.vaccination_date) as integer) as vaccination_day,
    v.antibody_response,
    v.response_date,
    v.record_id as source_record_id
from doses as v
left join day0 as d on v.patient_key = d.patient_key
left join live as l on v.vaccine = l.code
