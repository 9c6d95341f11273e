-- Concept: the day-0 patient timeline (fact): one row per dated event with patient, infusion, event type, date,
-- day relative to the first infusion (study_day, day 0 = first infusion) and to the attached infusion
-- (infusion_day), and the source form and record. Every adam.adtte endpoint can be re-derived from it.
-- Reference: CIBMTR forms 4000 / 4003 / 4006 / 4100 / 3500; registry brief §4 (time zero).
select
    event_key,
    patient_key,
    site_code,
    infusion_key,
    infusion_number,
    event_type,
    event_date,
    study_day,
    infusion_day,
    event_detail,
    source_form,
    source_record_id,
    is_contact,
    is_after_cutoff
from {{ ref('int_patient_events') }}
