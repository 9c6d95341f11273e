-- Concept: death with its primary and contributing causes, one row per patient; whether the primary cause is a
-- non-relapse cause (dictionary code-list attribute death_cause.nrm).
-- Reference: CIBMTR 4100 cause of death (one primary + contributing); NRM definition, registry brief section 4.
-- Several death records for one patient: the earliest date wins (then the latest submission).
with deaths as (
    select *
    from {{ ref('stg_death') }}
    where death_date is not null
    qualify row_number() over (partition by patient_key
                               order by death_date, submission_month desc, record_id desc) = 1
),
codes as (
    select code, nrm from {{ ref('dictionary_codes') }} where code_list = 'death_cause'
)
select
    d.patient_key,
    d.site_code,
    d.death_date,
    d.primary_cause,
    d.contributing_causes,
    coalesce(c.nrm, true) as is_nrm_cause,
    d.primary_cause = 'CRS' or coalesce(list_contains(string_split(d.contributing_causes, ';'), 'CRS'), false)
        as crs_contributed,
    d.autopsy,
    'death' as source_form,
    d.record_id as source_record_id
from deaths as d
left join codes as c on d.primary_cause = c.code
