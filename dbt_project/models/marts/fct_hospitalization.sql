-- Concept: hospital admissions around and after CAR-T (fact), one row per patient and admission: the infusion
-- admission and every readmission, with its reason and whether it included an ICU stay.
-- Reference: CIBMTR 4006 (inpatient / outpatient infusion) and 4100; days alive and out of hospital (a common HTA
-- resource-use measure) is computed from exactly these columns by the analysis layer.
-- Day 0 = the patient's first infusion (admission_day / discharge_day NULL for a patient never infused).
-- discharge_date NULL = still in hospital at the last report; a death in hospital is reported as the discharge.
-- Two records of one patient with the same admission date are one admission: the latest submission wins (a
-- duplicate the staging grain cannot see, as for infusions). icu_flag: 'Y' / 'N'; NULL when the site reported U.
with admissions as (
    select *
    from {{ ref('stg_hospitalization') }}
    where admission_date is not null
    qualify row_number() over (partition by patient_key, admission_date
                               order by submission_month desc, record_id desc) = 1
),
day0 as (
    select patient_key, infusion_date
    from {{ ref('int_infusion_episodes') }}
    where is_index_infusion
)
select
    a.patient_key,
    a.site_code,
    a.admission_date,
    a.discharge_date,
    a.reason,
    case a.icu_admission when 'Y' then 'Y' when 'N' then 'N' end as icu_flag,
    cast(date_diff('day', d.infusion_date, a.admission_date) as integer) as admission_day,
    cast(date_diff('day', d.infusion_date, a.discharge_date) as integer) as discharge_day
from admissions as a
left join day0 as d on a.patient_key = d.patient_key
