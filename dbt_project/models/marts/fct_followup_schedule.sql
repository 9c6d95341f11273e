-- Concept: the 15-year follow-up schedule (fact): for every infused patient, every expected visit (day 100,
-- month 6, then yearly to year 15) with its CIBMTR window and its state at the data cut-off (RECEIVED, OVERDUE,
-- MISSED, NOT_YET_DUE, ENDED_BY_DEATH), and the patient's lost-to-follow-up status.
-- Reference: CIBMTR 4100 forms manual windows; MFDS LTFU 15 years; registry choices for year 2-15 windows,
-- overdue grace and lost-to-follow-up (seed followup_schedule, clinical_thresholds).
-- The follow-up form that answered a visit (CIBMTR 4100) is carried beside it, so the CIBMTR export reports each
-- item per reporting period (100 days, 6 months, annual) and the MFDS view counts visits per year since infusion.
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
    v.visit_state in ('OVERDUE', 'MISSED') as is_past_due,
    case when v.visit_state in ('OVERDUE', 'MISSED')
         then cast(date_diff('day', v.window_end_date, v.data_cutoff) as integer) end as days_past_window_end,
    case v.timepoint when 'D100' then '100_DAYS' when 'M6' then '6_MONTHS' else 'ANNUAL' end as reporting_period,
    cast(greatest(1, ceil(v.target_day / 365.0)) as integer) as followup_year,
    v.death_date,
    v.data_cutoff,
    s.is_lost_to_followup,
    f.contact_date,
    f.vital_status,
    f.disease_status,
    f.progression_date,
    f.subsequent_therapy,
    f.subsequent_therapy_date,
    f.subsequent_therapy_type,
    f.subsequent_hct,
    f.subsequent_hct_date,
    f.ivig,
    f.new_malignancy
from {{ ref('int_followup_visits') }} as v
left join {{ ref('int_followup_status') }} as s on v.patient_key = s.patient_key
left join {{ ref('stg_followup') }} as f
    on v.patient_key = f.patient_key and v.received_record_id = f.record_id
