-- Concept: last contact and last known alive date per patient, up to the data cut-off.
-- Reference: CIBMTR 4100 date of contact; OS censoring at last contact (registry brief §4). Evidence = every
-- timeline event flagged is_contact dated on or before the cut-off; a death on or before the cut-off makes the
-- death date the last contact.
with contacts as (
    select patient_key,
           max(event_date) as last_alive_date,
           arg_max(source_form, (event_date, source_form, source_record_id)) filter (where event_date is not null) as last_alive_source_form,
           arg_max(source_record_id, (event_date, source_form, source_record_id)) filter (where event_date is not null) as last_alive_record_id
    from {{ ref('int_patient_events') }}
    where is_contact and not is_after_cutoff
    group by patient_key
),
deaths as (
    select d.*
    from {{ ref('int_deaths') }} as d
    cross join {{ ref('int_data_cutoff') }} as c
    where d.death_date <= c.data_cutoff
),
patients as (
    select distinct patient_key from {{ ref('int_infusion_episodes') }}
)
select
    p.patient_key,
    least(c.last_alive_date, coalesce(d.death_date, c.last_alive_date)) as last_alive_date,
    coalesce(d.death_date, c.last_alive_date) as last_contact_date,
    case when d.death_date is not null then 'death' else c.last_alive_source_form end as last_contact_source_form,
    case when d.death_date is not null then d.source_record_id else c.last_alive_record_id end
        as last_contact_record_id,
    d.death_date is not null as is_dead_at_cutoff
from patients as p
left join contacts as c on p.patient_key = c.patient_key
left join deaths as d on p.patient_key = d.patient_key
