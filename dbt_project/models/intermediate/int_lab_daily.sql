-- Concept: the laboratory series, one value per patient, analyte and day (the lowest value of the day, so that a
-- recovery needs every same-day value at or above its threshold), attached to an infusion with its day.
-- Reference: CIBMTR 4100 blood counts and CAR persistence; recovery "on different days" (CIBMTR forms manual).
with labs as (
    select patient_key, site_code, analyte, lab_date, value, unit, record_id
    from {{ ref('stg_lab') }}
    where lab_date is not null and value is not null
),
-- the days with several values of an analyte (few): only these need aggregating, a day's single value is itself
-- (a keys-only aggregate and two joins cost less than aggregating all 5M lab rows at 100k patients)
several as (
    select patient_key, analyte, lab_date
    from labs
    group by patient_key, analyte, lab_date
    having count(*) > 1
),
daily as (
    select l.patient_key, l.site_code, l.analyte, l.lab_date, l.value, l.unit, 1 as n_values,
           l.record_id as source_record_id
    from labs as l
    anti join several as s
        on l.patient_key is not distinct from s.patient_key and l.analyte is not distinct from s.analyte
       and l.lab_date = s.lab_date
    union all
    select
        l.patient_key,
        any_value(l.site_code),
        l.analyte,
        l.lab_date,
        -- the lowest (value, record ID) pair: the day's lowest value and, among equal values, the lowest record ID
        min({'value': l.value, 'record_id': l.record_id}).value,
        any_value(l.unit),
        count(*),
        min({'value': l.value, 'record_id': l.record_id}).record_id
    from labs as l
    semi join several as s
        on l.patient_key is not distinct from s.patient_key and l.analyte is not distinct from s.analyte
       and l.lab_date = s.lab_date
    group by l.patient_key, l.analyte, l.lab_date
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
