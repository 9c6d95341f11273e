-- Concept: CAR-T treatment episodes (fact), one row per infusion plus one row per ordered-but-never-infused
-- patient (intention-to-treat), with the per-infusion toxicity, recovery, immune and response outcomes.
-- Reference: CIBMTR 4000 / 4003 / 4006 / 4100; ASTCT 2019; EHA/EBMT ICAHT 2023; CIBMTR recovery rules;
-- Lugano 2014 / IMWG 2016 best response (details in the intermediate models).
with crs as (
    select infusion_key, max(reported_grade) as max_crs_grade from {{ ref('int_crs_episodes') }} group by 1
),
icans as (
    select infusion_key, max(reported_grade) as max_icans_grade from {{ ref('int_icans_episodes') }} group by 1
),
recovery as (
    select
        infusion_key,
        max(case when analyte = 'ANC' then recovery_date end) as anc_recovery_date,
        max(case when analyte = 'ANC' then recovery_status end) as anc_recovery_status,
        max(case when analyte = 'PLT' then recovery_date end) as plt_recovery_date,
        max(case when analyte = 'PLT' then recovery_status end) as plt_recovery_status
    from {{ ref('int_count_recovery') }}
    group by infusion_key
),
best as (
    select
        infusion_key,
        max(case when landmark = 'D30' then best_response end) as best_response_d30,
        max(case when landmark = 'D90' then best_response end) as best_response_d90,
        max(case when landmark = 'D180' then best_response end) as best_response_d180
    from {{ ref('int_best_response') }}
    group by infusion_key
)
select
    e.infusion_key,
    e.patient_key,
    e.site_code,
    e.infusion_number,
    e.is_infused,
    e.is_index_infusion,
    e.cart_order_date,
    e.leukapheresis_date,
    e.ld_start_date,
    e.infusion_date,
    e.infusion_study_day,
    cast(date_diff('day', e.leukapheresis_date, e.infusion_date) as integer) as vein_to_vein_days,
    e.product_code,
    e.product_setting,
    e.out_of_specification,
    e.dose_value,
    e.dose_unit,
    e.lot_number,
    e.batch_number,
    e.manufacturer_product_code,
    e.join_id,
    e.cd4_lot_number,
    e.cd8_lot_number,
    e.not_infused_reason,
    e.diagnosis,
    e.diagnosis_date,
    e.disease_group,
    e.baseline_disease_status,
    e.prior_lines,
    e.prior_hct,
    e.bridging_therapy,
    e.ld_regimen,
    e.ecog,
    e.hematotox_anc,
    e.hematotox_hgb,
    e.hematotox_plt,
    e.hematotox_crp,
    e.hematotox_ferritin,
    cast(c.max_crs_grade as integer) as max_crs_grade,
    cast(n.max_icans_grade as integer) as max_icans_grade,
    h.icaht_early_grade,
    h.icaht_late_grade,
    h.late_plt_nadir,
    h.late_thrombocytopenia_flag,
    r.anc_recovery_date,
    r.anc_recovery_status,
    r.plt_recovery_date,
    r.plt_recovery_status,
    i.bcell_aplasia_flag,
    i.hypogamma_flag,
    i.min_igg,
    b.best_response_d30,
    b.best_response_d90,
    b.best_response_d180,
    e.source_record_id
from {{ ref('int_infusion_episodes') }} as e
left join crs as c on e.infusion_key = c.infusion_key
left join icans as n on e.infusion_key = n.infusion_key
left join {{ ref('int_icaht') }} as h on e.infusion_key = h.infusion_key
left join recovery as r on e.infusion_key = r.infusion_key
left join {{ ref('int_immune_reconstitution') }} as i on e.infusion_key = i.infusion_key
left join best as b on e.infusion_key = b.infusion_key
