-- Concept: ADaM subject-level analysis dataset (ADSL), one row per patient with a CAR-T order (ITTFL = 'Y');
-- INFFL = 'Y' when infused. Upper-case CDISC ADaM variable names (docs/ARCHITECTURE.md).
-- Reference: CDISC ADaM IG (ADSL); CIBMTR 4000 baseline; CAR-HEMATOTOX raw labs (Rejeski, Blood 2021: stored raw,
-- the score stays unverified); registry brief §4 (REGLATFL: enrolled after infusion -> delayed entry).
-- ADaMIG ADSL core variables: SUBJID is a registry-issued subject number (the first 12 hex digits of the HMAC
-- pseudonym, prefixed KC: stable across cut-offs, never the site's patient id); AGEU; TRT01P / TRT01A (the
-- registry records the infused product only, so planned = actual product of the index infusion, NULL when never
-- infused); TRTSDT / TRTEDT (first / last infusion); SAFFL (safety population = infused, as INFFL). RACE is not
-- collected by the registry (Korean single-country registry) and is not derived.
with idx as (
    select * from {{ ref('fct_infusion') }} where is_index_infusion or not is_infused
),
last_inf as (
    select patient_key, max(infusion_date) as last_infusion_date
    from {{ ref('fct_infusion') }} where is_infused group by patient_key
)
select
    'KOCARTR' as STUDYID,
    p.patient_key as USUBJID,
    'KC' || upper(substr(p.patient_key, 1, 12)) as SUBJID,
    p.site_code as SITEID,
    'Y' as ITTFL,
    case when p.is_infused then 'Y' else 'N' end as INFFL,
    case when p.is_infused then 'Y' else 'N' end as SAFFL,
    p.sex as SEX,
    p.birth_year as BIRTHYR,
    p.age_at_index as AGE,
    'YEARS' as AGEU,
    i.product_code as PRODUCT,
    i.product_code as TRT01P,
    case when p.is_infused then i.product_code end as TRT01A,
    p.disease_group as DISGRP,
    p.diagnosis as DIAGNOSIS,
    p.cart_order_date as ORDERDT,
    p.enrolment_date as ENRLDT,
    i.leukapheresis_date as LEUKDT,
    p.first_infusion_date as TRTSDT,
    l.last_infusion_date as TRTEDT,
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
    p.death_source_form as DTHSRC,
    p.last_contact_date as LSTCNTDT,
    p.last_alive_date as LSTALVDT,
    case when p.death_site_reported then 'Y' when p.is_dead then 'N' end as DTHSITFL,
    case when p.is_lost_to_followup then 'Y' else 'N' end as LTFUFL,
    p.not_infused_reason as NOTINFRS,
    case when p.has_toxicity_without_infusion then 'Y' else 'N' end as INFQRYFL,
    p.data_cutoff as DCUTDT
from {{ ref('dim_patient') }} as p
left join idx as i on p.patient_key = i.patient_key
left join last_inf as l on p.patient_key = l.patient_key
where p.has_order_or_infusion
