-- Concept: the 15-year follow-up schedule (fact): for every infused patient, every expected visit (day 100,
-- month 6, then yearly to year 15) with its CIBMTR window and its state at the data cut-off (RECEIVED, OVERDUE,
-- MISSED, NOT_YET_DUE, ENDED_BY_DEATH), and the patient's lost-to-follow-up status.
-- Reference: CIBMTR 4100 forms manual windows; MFDS LTFU 15 years; registry choices for year 2-15 windows,
-- overdue grace and lost-to-follow-up (seed followup_schedule, clinical_thresholds).
select
    v.visit_key,
    v.patient_key,
    v.site_code,
    v.infusion_key,
    v.infusion_number,
    v.infusion_date,
    v.timepoint,
    v.visit_order,
    v.target_day,
    v.window_start_day,
    v.window_end_day,
    v.target_date,
    v.window_start_date,
    v.window_end_date,
    v.received_date,
    v.received_record_id,
    v.received_in_window,
    v.visit_state,
    v.death_date,
    v.data_cutoff,
    s.is_lost_to_followup
from {{ ref('int_followup_visits') }} as v
left join {{ ref('int_followup_status') }} as s on v.patient_key = s.patient_key
