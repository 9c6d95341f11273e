-- Concept: registry patients (dimension), one row per patient: demographics, anchors (order, enrolment, first
-- infusion = day 0), vital status and follow-up status at the data cut-off. Patients with a CAR-T order or an
-- infusion are the analysis population (has_order_or_infusion); patients seen only on other forms (their
-- registration and infusion rows quarantined or not yet submitted) are kept, flagged, so that every fact joins.
-- Reference: CIBMTR CRID / 4000 / 4100; registry brief §2 (order and infusion anchors), §4 (left truncation).
-- has_toxicity_without_infusion: CRS / ICANS / AE reported but no infusion record (a blocking quality rule and a
-- site query, never a silent "not infused"); death_query_reason: death sources disagree or no death form.
with registration as (
    select *
    from {{ ref('stg_registration') }}
    qualify row_number() over (partition by patient_key order by submission_month desc, record_id desc) = 1
),
n_inf as (
    select patient_key, count(*) filter (where is_infused) as n_infusions
    from {{ ref('int_infusion_episodes') }}
    group by patient_key
),
episodes as (
    select * from {{ ref('int_infusion_episodes') }} where is_index_infusion or not is_infused
),
orphans as (
    -- hospital stays and vaccinations are no timeline events: read here too, so that their facts join as well
    select patient_key, any_value(site_code) as site_code
    from (select patient_key, site_code from {{ ref('int_patient_events') }}
          union all select patient_key, site_code from {{ ref('stg_hospitalization') }}
          union all select patient_key, site_code from {{ ref('stg_vaccination') }})
    where patient_key not in (select patient_key from episodes)
    group by patient_key
),
toxicity as (
    -- CRS / ICANS / other AE reports: each implies an infusion (onset is dated from day 0)
    select patient_key, count(*) as n_toxicity_reports
    from (select patient_key from {{ ref('stg_crs') }}
          union all select patient_key from {{ ref('stg_icans') }}
          union all select patient_key from {{ ref('stg_adverse_event') }})
    group by patient_key
),
patients as (
    select patient_key, site_code, true as has_order_or_infusion from episodes
    union all
    select patient_key, site_code, false from orphans
)
select
    pt.patient_key,
    pt.site_code,
    pt.has_order_or_infusion,
    r.sex,
    cast(r.birth_year as integer) as birth_year,
    cast(year(coalesce(e.infusion_date, e.cart_order_date)) - r.birth_year as integer) as age_at_index,
    r.consent_date,
    e.enrolment_date,
    e.cart_order_date,
    e.leukapheresis_date as first_leukapheresis_date,
    coalesce(e.is_infused, false) as is_infused,
    e.infusion_date as first_infusion_date,
    cast(coalesce(n.n_infusions, 0) as integer) as n_infusions,
    e.not_infused_reason,
    not coalesce(e.is_infused, false) and coalesce(t.n_toxicity_reports, 0) > 0 as has_toxicity_without_infusion,
    e.product_code as first_product_code,
    e.diagnosis,
    e.disease_group,
    coalesce(e.enrolment_date > e.infusion_date, false) as registered_after_infusion,
    ep.death_date,
    ep.death_date is not null as is_dead,
    ep.death_primary_cause,
    case when ep.death_date is not null then d.contributing_causes end as death_contributing_causes,
    ep.death_is_nrm_cause,
    d.source_form as death_source_form,
    ep.death_site_reported,
    d.source_record_id as death_source_record_id,
    d.death_query_reason,
    lc.last_alive_date,
    ep.last_contact_date,
    coalesce(fs.is_lost_to_followup, false) as is_lost_to_followup,
    (select data_cutoff from {{ ref('int_data_cutoff') }}) as data_cutoff
from patients as pt
left join episodes as e on pt.patient_key = e.patient_key
left join registration as r on pt.patient_key = r.patient_key
left join n_inf as n on pt.patient_key = n.patient_key
left join {{ ref('int_endpoint_events') }} as ep on pt.patient_key = ep.patient_key
left join {{ ref('int_last_contact') }} as lc on pt.patient_key = lc.patient_key
left join {{ ref('int_followup_status') }} as fs on pt.patient_key = fs.patient_key
left join {{ ref('int_deaths') }} as d on pt.patient_key = d.patient_key
left join toxicity as t on pt.patient_key = t.patient_key
