-- Concept: the expected 15-year follow-up visits of every infused patient with their CIBMTR contact window and
-- state at the data cut-off, one row per patient and timepoint.
-- Reference: CIBMTR 4100 schedule and windows (day 100 = day 85-115, month 6 = day 150-210, year 1 = day
-- 365-425; year 2-15 = anniversary to +60 days, a registry choice) in seed followup_schedule; MFDS LTFU 15 years.
-- Day 0 = first infusion. A visit is RECEIVED when a follow-up form reports its timepoint or any follow-up contact
-- falls in its window (contacts on or before the cut-off). Otherwise: ENDED_BY_DEATH when the patient died on or
-- before the cut-off and before the window closed; NOT_YET_DUE while the window has not closed at the cut-off;
-- OVERDUE when it closed less than clinical_thresholds.followup_overdue_grace_days ago; MISSED after that.
with idx as (
    select infusion_key, patient_key, site_code, infusion_number, infusion_date
    from {{ ref('int_infusion_episodes') }}
    where is_index_infusion
),
cutoff as (
    select data_cutoff from {{ ref('int_data_cutoff') }}
),
expected as (
    select
        i.*,
        s.timepoint,
        s.visit_order,
        s.target_day,
        s.window_start_day,
        s.window_end_day,
        i.infusion_date + s.target_day as target_date,
        i.infusion_date + s.window_start_day as window_start_date,
        i.infusion_date + s.window_end_day as window_end_date
    from idx as i
    cross join {{ ref('followup_schedule') }} as s
),
contacts as (
    select f.patient_key, f.timepoint, f.contact_date, f.record_id
    from {{ ref('stg_followup') }} as f
    cross join cutoff as c
    where f.contact_date is not null and f.contact_date <= c.data_cutoff
),
matched as (
    select
        e.patient_key,
        e.timepoint,
        min(f.contact_date) as received_date,
        arg_min(f.record_id, (f.contact_date, f.record_id)) filter (where f.contact_date is not null) as received_record_id
    from expected as e
    join contacts as f
        on f.patient_key = e.patient_key
       and (f.timepoint = e.timepoint
            or f.contact_date between e.window_start_date and e.window_end_date)
    group by e.patient_key, e.timepoint
),
deaths as (
    select d.patient_key, d.death_date
    from {{ ref('int_deaths') }} as d
    cross join cutoff as c
    where d.death_date <= c.data_cutoff
)
select
    e.patient_key || ':' || e.timepoint as visit_key,
    e.patient_key,
    e.site_code,
    e.infusion_key,
    e.infusion_number,
    e.infusion_date,
    e.timepoint,
    cast(e.visit_order as integer) as visit_order,
    cast(e.target_day as integer) as target_day,
    cast(e.window_start_day as integer) as window_start_day,
    cast(e.window_end_day as integer) as window_end_day,
    cast(e.target_date as date) as target_date,
    cast(e.window_start_date as date) as window_start_date,
    cast(e.window_end_date as date) as window_end_date,
    m.received_date,
    m.received_record_id,
    coalesce(m.received_date between e.window_start_date and e.window_end_date, false) as received_in_window,
    d.death_date,
    c.data_cutoff,
    case
        when m.received_date is not null then 'RECEIVED'
        when d.death_date is not null and d.death_date <= e.window_end_date then 'ENDED_BY_DEATH'
        when c.data_cutoff <= e.window_end_date then 'NOT_YET_DUE'
        when date_diff('day', e.window_end_date, c.data_cutoff) < {{ cfg('followup_overdue_grace_days') }}
            then 'OVERDUE'
        else 'MISSED'
    end as visit_state
from expected as e
cross join cutoff as c
left join matched as m on e.patient_key = m.patient_key and e.timepoint = m.timepoint
left join deaths as d on e.patient_key = d.patient_key
