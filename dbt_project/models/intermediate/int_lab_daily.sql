-- Concept: the laboratory series, one value per patient, analyte and day (the lowest value of the day, so that a
-- recovery needs every same-day value at or above its threshold), attached to an infusion with its day.
-- Reference: CIBMTR 4100 blood counts and CAR persistence; recovery "on different days" (CIBMTR forms manual).
with daily as (
    select
        patient_key,
        any_value(site_code) as site_code,
        analyte,
        lab_date,
        -- the lowest (value, record ID) pair: the day's lowest value and, among equal values, the lowest record
        -- ID; one struct minimum costs less than min() beside arg_min() over a struct key (5M rows at 100k)
        min({'value': value, 'record_id': record_id}).value as value,
        any_value(unit) as unit,
        count(*) as n_values,
        min({'value': value, 'record_id': record_id}).record_id as source_record_id
    from {{ ref('stg_lab') }}
    where lab_date is not null and value is not null
    group by patient_key, analyte, lab_date
),
attached as (
    {{ attach_infusion('daily', 'lab_date') }}
)
select
    patient_key,
    site_code,
    analyte,
    lab_date,
    value,
    unit,
    cast(n_values as integer) as n_values,
    source_record_id,
    infusion_key,
    infusion_number,
    infusion_date,
    cast(date_diff('day', infusion_date, lab_date) as integer) as infusion_day
from attached
