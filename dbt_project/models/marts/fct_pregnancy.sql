-- Concept: pregnancies of patients or partners after CAR-T (fact), one row per pregnancy.
-- Reference: CIBMTR 4100 pregnancy; MFDS gene-therapy LTFU.
select
    pregnancy_key,
    patient_key,
    site_code,
    infusion_key,
    cast(infusion_number as integer) as infusion_number,
    subject,
    reported_date,
    conception_date,
    outcome,
    outcome_date,
    study_day,
    conception_study_day,
    source_record_id
from {{ ref('int_pregnancies') }}
