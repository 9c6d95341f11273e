-- Concept: the day-0 patient timeline: every dated event of a patient from every form (and the derived count
-- recoveries), one row per source record and event type, attached to an infusion. Which form field is which
-- event is declared once, in macros/patient_events.sql (patient_event_sources); only the two events derived from
-- the lab series are written here.
-- Reference: CIBMTR forms 4000/4003/4006/4100/3500; day 0 = first infusion (registry brief §4). is_contact marks
-- the events that prove the patient was seen (last contact / last known alive). The lab series enters as one
-- LAST_LAB event per patient (latest sample up to the data cut-off) and as ANC / platelet recovery events.
with events as (
    -- one branch per entry of the declarative form -> event mapping (macros/patient_events.sql)
    {{ patient_event_selects() }}
    union all
    -- the latest (date, record, analyte) of the patient, as one struct maximum (cheaper than arg_max per field)
    select patient_key, any_value(site_code), 'LAST_LAB',
           max({'d': lab_date, 'r': source_record_id, 'a': analyte}).d,
           max({'d': lab_date, 'r': source_record_id, 'a': analyte}).a,
           'lab',
           max({'d': lab_date, 'r': source_record_id, 'a': analyte}).r,
           true
    from {{ ref('int_lab_daily') }}
    where lab_date <= (select data_cutoff from {{ ref('int_data_cutoff') }})
    group by patient_key
    union all
    select r.patient_key, e.site_code, r.analyte || '_RECOVERY', r.recovery_date, r.infusion_key, 'lab',
           r.recovery_record_id, true
    from {{ ref('int_count_recovery') }} as r
    join {{ ref('int_infusion_episodes') }} as e on r.infusion_key = e.infusion_key
    where r.recovery_date is not null
),
dated as (
    select * from events where event_date is not null
),
attached as (
    {{ attach_infusion('dated', 'event_date') }}
)
select
    a.source_form || ':' || a.site_code || ':' || a.source_record_id || ':' || a.event_type
        || case when a.event_type in ('ANC_RECOVERY', 'PLT_RECOVERY') then ':' || a.event_detail else '' end
        as event_key,
    a.patient_key,
    a.site_code,
    a.infusion_key,
    a.infusion_number,
    a.event_type,
    a.event_date,
    cast(date_diff('day', a.index_infusion_date, a.event_date) as integer) as study_day,
    cast(date_diff('day', a.infusion_date, a.event_date) as integer) as infusion_day,
    a.event_detail,
    a.source_form,
    a.source_record_id,
    a.is_contact,
    a.event_date > c.data_cutoff as is_after_cutoff
from attached as a
cross join {{ ref('int_data_cutoff') }} as c
