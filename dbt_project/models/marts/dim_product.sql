-- Concept: CAR-T products (dimension), one row per code of the versioned dictionary code list `product`.
-- Reference: MFDS approvals in Korea (registry brief §6); CIBMTR 4003 product.
with products as (
    select code as product_code, label as product_label, target, approved_kr
    from {{ ref('dictionary_codes') }}
    where code_list = 'product'
),
usage as (
    select product_code, count(*) as n_infusions, count(distinct patient_key) as n_patients
    from {{ ref('int_infusion_episodes') }}
    where is_infused
    group by product_code
)
select
    p.product_code,
    p.product_label,
    p.target as antigen_target,
    cast(p.approved_kr as date) as approved_kr_date,
    cast(coalesce(u.n_infusions, 0) as integer) as n_infusions,
    cast(coalesce(u.n_patients, 0) as integer) as n_patients
from products as p
left join usage as u on p.product_code = u.product_code
