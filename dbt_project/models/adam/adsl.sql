-- Concept: ADaM subject-level analysis dataset (ADSL), one row per patient with a CAR-T order (ITTFL = 'Y');
-- INFFL = 'Y' when infused. Upper-case CDISC ADaM variable names (docs/ARCHITECTURE.md).
-- Reference: CDISC ADaM IG (ADSL); CIBMTR 4000 baseline; CAR-HEMATOTOX raw labs (Rejeski, Blood 2021: stored raw,
-- the score stays unverified); registry brief §4 (REGLATFL: enrolled after infusion -> delayed entry).
with idx as (
    select * from {{ ref('fct_infusion') }} where is_index_infusion or not is_infused
)
select
    'KOCARTR' as STUDYID,
    p.patient_key as USUBJID,
    p.site_code as SITEID,
    'Y' as ITTFL,
    case when p.is_infused then 'Y' else 'N' end as INFFL,
    p.sex as SEX,
    p.birth_year as BIRTHYR,
    p.age_at_index as AGE,
    i.product_code as PRODUCT,
    p.disease_group as DISGRP,
    p.diagnosis as DIAGNOSIS,
    p.cart_order_date as ORDERDT,
    p.enrolment_date as ENRLDT,
    i.leukapheresis_date as LEUKDT,
    p.first_infusion_date as TRTSDT,
    cast(year(p.first_infusion_date) as integer) as INFYEAR,
    case when p.registered_after_infusion then 'Y' else 'N' end as REGLATFL,
    i.prior_lines as PRIORLN,
    i.prior_hct as PRIORHCT,
    case when i.bridging_therapy is null then null when i.bridging_therapy = 'NONE' then 'N' else 'Y' end as BRIDGFL,
    i.ecog as ECOG,
    i.hematotox_anc as HTXANC,
    i.hematotox_hgb as HTXHGB,
    i.hematotox_plt as HTXPLT,
    i.hematotox_crp as HTXCRP,
    i.hematotox_ferritin as HTXFERR,
    p.death_date as DTHDT,
    case when p.is_dead then 'Y' else 'N' end as DTHFL,
    p.death_primary_cause as DTHCAUS,
    p.last_contact_date as LSTCNTDT,
    case when p.is_lost_to_followup then 'Y' else 'N' end as LTFUFL,
    p.not_infused_reason as NOTINFRS,
    p.data_cutoff as DCUTDT
from {{ ref('dim_patient') }} as p
left join idx as i on p.patient_key = i.patient_key
where p.has_order_or_infusion
