-- Concept: subsequent anticancer therapy and haematopoietic cell transplantation after the first CAR-T infusion,
-- one row per infused patient (the first reported start date of each).
-- Reference: CIBMTR 4100 subsequent therapy / subsequent HCT. A second CAR-T infusion is an infusion episode
-- (int_infusion_episodes), not a subsequent therapy here. subsequent_therapy_type: the kind reported with the
-- first start date (dictionary code list subsequent_therapy_type).
with idx as (
    select patient_key, infusion_date as index_infusion_date
    from {{ ref('int_infusion_episodes') }}
    where is_index_infusion
),
fu as (
    select f.*, i.index_infusion_date
    from {{ ref('stg_followup') }} as f
    join idx as i on f.patient_key = i.patient_key
),
therapy as (
    select patient_key,
           min(subsequent_therapy_date) as subsequent_therapy_date,
           arg_min(record_id, (subsequent_therapy_date, record_id)) filter (where subsequent_therapy_date is not null) as subsequent_therapy_record_id,
           arg_min(subsequent_therapy_type, (subsequent_therapy_date, record_id))
               filter (where subsequent_therapy_date is not null) as subsequent_therapy_type
    from fu
    where subsequent_therapy = 'Y' and subsequent_therapy_date >= index_infusion_date
    group by patient_key
),
hct as (
    select patient_key,
           min(subsequent_hct_date) as subsequent_hct_date,
           arg_min(subsequent_hct, (subsequent_hct_date, record_id)) filter (where subsequent_hct_date is not null) as subsequent_hct_type,
           arg_min(record_id, (subsequent_hct_date, record_id)) filter (where subsequent_hct_date is not null) as subsequent_hct_record_id
    from fu
    where subsequent_hct in ('AUTO', 'ALLO', 'BOTH') and subsequent_hct_date >= index_infusion_date
    group by patient_key
)
select
    i.patient_key,
    i.index_infusion_date,
    t.subsequent_therapy_date,
    t.subsequent_therapy_record_id,
    t.subsequent_therapy_type,
    h.subsequent_hct_date,
    h.subsequent_hct_type,
    h.subsequent_hct_record_id,
    least(t.subsequent_therapy_date, h.subsequent_hct_date) as first_new_treatment_date
from idx as i
left join therapy as t on i.patient_key = t.patient_key
left join hct as h on i.patient_key = h.patient_key
