-- fct_followup_schedule accounts for every expected visit of every infused patient: exactly one row per infused
-- patient and timepoint of the seed followup_schedule, and no row for anyone else.
with expected as (
    select p.patient_key, s.timepoint
    from {{ ref('dim_patient') }} as p
    cross join {{ ref('followup_schedule') }} as s
    where p.is_infused
),
actual as (
    select patient_key, timepoint, count(*) as n from {{ ref('fct_followup_schedule') }} group by 1, 2
)
select coalesce(e.patient_key, a.patient_key) as patient_key, coalesce(e.timepoint, a.timepoint) as timepoint,
       a.n
from expected as e
full outer join actual as a on e.patient_key = a.patient_key and e.timepoint = a.timepoint
where a.n is null or a.n <> 1 or e.patient_key is null
