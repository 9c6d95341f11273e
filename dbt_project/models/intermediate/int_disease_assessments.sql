-- Concept: dated disease assessments and progression / relapse reports after the first infusion, one row per
-- source record and kind (ASSESSMENT or PROGRESSION): the evidence behind PFS, relapse and their censoring.
-- Reference: Lugano 2014, IMWG 2016, ALL (response form); CIBMTR 4100 relapse / progression date and last
-- disease assessment. Progression = a response the dictionary marks
-- as progression (response.progression: PD, RELAPSE), or a follow-up progression_date (reported with
-- disease status PROGRESSION / RELAPSE). Only dates after the first infusion count.
with idx as (
    select patient_key, infusion_date as index_infusion_date
    from {{ ref('int_infusion_episodes') }}
    where is_index_infusion
),
evidence as (
    select patient_key, site_code, assessment_date as event_date, 'ASSESSMENT' as kind,
           response as detail, 'response' as source_form, record_id as source_record_id
    from {{ ref('stg_response') }}
    where response <> 'NE'
    union all
    select patient_key, site_code, assessment_date, 'PROGRESSION', response, 'response', record_id
    from {{ ref('stg_response') }}
    where response in (
        select code from {{ ref('dictionary_codes') }} where code_list = 'response' and progression
    )
    union all
    select patient_key, site_code, last_disease_assessment_date, 'ASSESSMENT', disease_status, 'followup', record_id
    from {{ ref('stg_followup') }}
    where last_disease_assessment_date is not null
    union all
    select patient_key, site_code, progression_date, 'PROGRESSION', disease_status, 'followup', record_id
    from {{ ref('stg_followup') }}
    where progression_date is not null
)
select
    e.source_form || ':' || e.site_code || ':' || e.source_record_id || ':' || e.kind as assessment_key,
    e.patient_key,
    e.site_code,
    e.kind,
    e.event_date,
    e.detail,
    e.source_form,
    e.source_record_id,
    cast(date_diff('day', i.index_infusion_date, e.event_date) as integer) as study_day
from evidence as e
join idx as i on e.patient_key = i.patient_key
where e.event_date > i.index_infusion_date
