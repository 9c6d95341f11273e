-- Concept: first progression or relapse after the first infusion and the last disease assessment up to the data
-- cut-off, one row per infused patient.
-- Reference: CIBMTR 4100 relapse / progression date; PFS censoring at the last disease assessment (registry
-- brief §4). A progression is itself a disease assessment.
with idx as (
    select patient_key, infusion_date as index_infusion_date
    from {{ ref('int_infusion_episodes') }}
    where is_index_infusion
),
evidence as (
    select a.*
    from {{ ref('int_disease_assessments') }} as a
    cross join {{ ref('int_data_cutoff') }} as c
    where a.event_date <= c.data_cutoff
),
progression as (
    select patient_key,
           min(event_date) as progression_date,
           arg_min(source_form, (event_date, source_form, source_record_id)) filter (where event_date is not null) as progression_source_form,
           arg_min(source_record_id, (event_date, source_form, source_record_id)) filter (where event_date is not null) as progression_record_id
    from evidence where kind = 'PROGRESSION'
    group by patient_key
),
last_assessment as (
    select patient_key,
           max(event_date) as last_disease_assessment_date,
           arg_max(source_form, (event_date, source_form, source_record_id)) filter (where event_date is not null) as last_assessment_source_form,
           arg_max(source_record_id, (event_date, source_form, source_record_id)) filter (where event_date is not null) as last_assessment_record_id
    from evidence
    group by patient_key
)
select
    i.patient_key,
    i.index_infusion_date,
    p.progression_date,
    p.progression_source_form,
    p.progression_record_id,
    l.last_disease_assessment_date,
    l.last_assessment_source_form,
    l.last_assessment_record_id
from idx as i
left join progression as p on i.patient_key = p.patient_key
left join last_assessment as l on i.patient_key = l.patient_key
