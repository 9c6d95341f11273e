-- Concept: participating hospitals (dimension), one row per site code of the dictionary code list `site`.
-- Reference: Ko-CARTR data dictionary (synthetic site codes; the registry office keeps the real list).
with sites as (
    select code as site_code, label as site_label, code_order
    from {{ ref('dictionary_codes') }}
    where code_list = 'site'
),
patients as (
    select site_code,
           count(distinct patient_key) as n_patients,
           count(distinct patient_key) filter (where is_infused) as n_infused_patients
    from {{ ref('int_infusion_episodes') }}
    group by site_code
)
select
    s.site_code,
    s.site_label,
    cast(s.code_order as integer) as site_order,
    cast(coalesce(p.n_patients, 0) as integer) as n_patients,
    cast(coalesce(p.n_infused_patients, 0) as integer) as n_infused_patients
from sites as s
left join patients as p on s.site_code = p.site_code
