-- Concept: pregnancies of the patient or the patient's partner after CAR-T infusion, with outcome.
-- Reference: CIBMTR 4100 pregnancy; gene-therapy LTFU (MFDS, 15 years).
with preg as (
    select * from {{ ref('stg_pregnancy') }}
),
attached as (
    {{ attach_infusion('preg', 'reported_date') }}
)
select
    site_code || ':' || record_id as pregnancy_key,
    patient_key,
    site_code,
    record_id as source_record_id,
    infusion_key,
    infusion_number,
    index_infusion_date,
    subject,
    reported_date,
    conception_date,
    outcome,
    outcome_date,
    cast(date_diff('day', index_infusion_date, reported_date) as integer) as study_day,
    cast(date_diff('day', index_infusion_date, conception_date) as integer) as conception_study_day
from attached
