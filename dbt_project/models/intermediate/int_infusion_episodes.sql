-- Concept: CAR-T treatment episodes: one row per infusion (CIBMTR 4006; several per patient), plus one row per
-- patient with a CAR-T order but no infusion (kept for intention-to-treat, DESCAR-T style; infusion_number NULL).
-- Reference: CIBMTR forms 4000 / 4003 / 4006; registry brief section 2 (order and infusion anchors).
-- Day 0 = the patient's first infusion (index infusion). Duplicate records for the same infusion number keep the
-- latest submission (a data-quality issue the staging grain tests would not see).
-- Baseline (form 4000) columns carried by both branches below, in the contract's order.
{% set baseline_columns %}
    b.diagnosis,
    b.disease_group,
    b.diagnosis_date,
    b.disease_status as baseline_disease_status,
    cast(b.prior_lines as integer) as prior_lines,
    b.prior_hct,
    b.bridging_therapy,
    b.ld_regimen,
    cast(b.ecog as integer) as ecog,
    b.hematotox_date,
    b.hematotox_anc,
    b.hematotox_hgb,
    b.hematotox_plt,
    b.hematotox_crp,
    b.hematotox_ferritin,
{% endset %}
with registration as (
    select *
    from {{ ref('stg_registration') }}
    qualify row_number() over (partition by patient_key order by submission_month desc, record_id desc) = 1
),
infusions as (
    select *
    from {{ ref('stg_product_infusion') }}
    where infusion_date is not null
    qualify row_number() over (partition by patient_key, infusion_number
                               order by submission_month desc, record_id desc) = 1
),
baseline as (
    select *
    from {{ ref('stg_baseline') }}
    qualify row_number() over (partition by patient_key, infusion_number
                               order by submission_month desc, record_id desc) = 1
),
ranked as (
    select
        i.*,
        row_number() over (partition by i.patient_key order by i.infusion_date, i.infusion_number) as infusion_seq,
        lead(i.infusion_date) over (partition by i.patient_key order by i.infusion_date, i.infusion_number)
            as next_infusion_date,
        min(i.infusion_date) over (partition by i.patient_key) as index_infusion_date
    from infusions as i
),
infused as (
    select
        i.patient_key || ':' || cast(i.infusion_number as varchar) as infusion_key,
        i.patient_key,
        coalesce(r.site_code, i.site_code) as site_code,
        cast(i.infusion_number as integer) as infusion_number,
        true as is_infused,
        i.infusion_seq = 1 as is_index_infusion,
        r.cart_order_date,
        r.enrolment_date,
        r.consent_date,
        i.leukapheresis_date,
        b.ld_start_date,
        b.ld_end_date,
        i.infusion_date,
        i.index_infusion_date,
        cast(date_diff('day', i.index_infusion_date, i.infusion_date) as integer) as infusion_study_day,
        i.next_infusion_date,
        i.product_code,
        i.product_setting,
        i.out_of_specification,
        i.dose_value,
        i.dose_unit,
        i.lot_number,
        i.batch_number,
        i.manufacturer_product_code,
        i.join_id,
        i.cd4_lot_number,
        i.cd8_lot_number,
        cast(null as varchar) as not_infused_reason,
        {{ baseline_columns }}
        'product_infusion' as source_form,
        i.record_id as source_record_id,
        b.record_id as baseline_record_id
    from ranked as i
    left join registration as r on i.patient_key = r.patient_key
    left join baseline as b on i.patient_key = b.patient_key and i.infusion_number = b.infusion_number
),
not_infused as (
    select
        r.patient_key || ':ORDER' as infusion_key,
        r.patient_key,
        r.site_code,
        cast(null as integer) as infusion_number,
        false as is_infused,
        false as is_index_infusion,
        r.cart_order_date,
        r.enrolment_date,
        r.consent_date,
        cast(null as date) as leukapheresis_date,
        cast(null as date) as ld_start_date,
        cast(null as date) as ld_end_date,
        cast(null as date) as infusion_date,
        cast(null as date) as index_infusion_date,
        cast(null as integer) as infusion_study_day,
        cast(null as date) as next_infusion_date,
        cast(null as varchar) as product_code,
        cast(null as varchar) as product_setting,
        cast(null as varchar) as out_of_specification,
        cast(null as double) as dose_value,
        cast(null as varchar) as dose_unit,
        cast(null as varchar) as lot_number,
        cast(null as varchar) as batch_number,
        cast(null as varchar) as manufacturer_product_code,
        cast(null as varchar) as join_id,
        cast(null as varchar) as cd4_lot_number,
        cast(null as varchar) as cd8_lot_number,
        r.not_infused_reason,
        {{ baseline_columns }}
        'registration' as source_form,
        r.record_id as source_record_id,
        b.record_id as baseline_record_id
    from registration as r
    left join baseline as b
        on r.patient_key = b.patient_key and b.infusion_number = 1
    where not exists (select 1 from infusions as i where i.patient_key = r.patient_key)
)
select * from infused
union all
select * from not_infused
