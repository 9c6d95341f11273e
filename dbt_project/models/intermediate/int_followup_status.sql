-- Concept: follow-up completeness and lost-to-follow-up status per infused patient at the data cut-off.
-- Reference: MFDS LTFU (15 years); registry rule (clinical_thresholds.ltfu_no_contact_days, a registry choice):
-- lost to follow-up = alive at the cut-off, at least one MISSED visit, and no contact for more than
-- ltfu_no_contact_days before the cut-off.
with visits as (
    select
        patient_key,
        count(*) as n_expected,
        count(*) filter (where visit_state = 'RECEIVED') as n_received,
        count(*) filter (where visit_state = 'OVERDUE') as n_overdue,
        count(*) filter (where visit_state = 'MISSED') as n_missed,
        count(*) filter (where visit_state = 'NOT_YET_DUE') as n_not_yet_due,
        count(*) filter (where visit_state = 'ENDED_BY_DEATH') as n_ended_by_death,
        any_value(data_cutoff) as data_cutoff
    from {{ ref('int_followup_visits') }}
    group by patient_key
)
select
    v.patient_key,
    cast(v.n_expected as integer) as n_expected,
    cast(v.n_received as integer) as n_received,
    cast(v.n_overdue as integer) as n_overdue,
    cast(v.n_missed as integer) as n_missed,
    cast(v.n_not_yet_due as integer) as n_not_yet_due,
    cast(v.n_ended_by_death as integer) as n_ended_by_death,
    l.last_contact_date,
    cast(date_diff('day', l.last_contact_date, v.data_cutoff) as integer) as days_since_last_contact,
    (not coalesce(l.is_dead_at_cutoff, false))
        and v.n_missed > 0
        and coalesce(date_diff('day', l.last_contact_date, v.data_cutoff) > {{ cfg('ltfu_no_contact_days') }}, true)
        as is_lost_to_followup
from visits as v
left join {{ ref('int_last_contact') }} as l on v.patient_key = l.patient_key
