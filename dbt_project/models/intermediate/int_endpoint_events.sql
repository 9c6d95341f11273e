-- Concept: the dated inputs of every time-to-event endpoint, one row per patient with a CAR-T order or infusion,
-- everything restricted to the data cut-off. adam.adtte applies the endpoint rules to these dates only.
-- Reference: registry brief §4 (OS, PFS, NRM, relapse, SPM; left truncation; ITT from order, DESCAR-T);
-- CIBMTR 4100 relapse / death / new malignancy; CIBMTR recovery rules. Response inputs of EFS (CR/CRi by the
-- remission window, clinical_thresholds efs_remission_window_day) and DOR (responder by day 180, first response
-- date) come from int_best_response, the one best-response definition.
with cutoff as (
    select data_cutoff from {{ ref('int_data_cutoff') }}
),
patients as (
    -- one row per patient: the index infusion, or the never-infused order row
    select *
    from {{ ref('int_infusion_episodes') }}
    where is_index_infusion or not is_infused
),
spm as (
    select
        s.patient_key,
        min(s.diagnosis_date) as first_spm_date,
        min(s.diagnosis_date) filter (where s.is_t_cell) as first_tcell_spm_date
    from {{ ref('int_secondary_malignancies') }} as s
    cross join cutoff as c
    where s.is_after_infusion and s.diagnosis_date <= c.data_cutoff
    group by s.patient_key
),
linkage_spm as (
    -- new primary cancers the national cancer registry returned (int_linkage_cancers), on or after day 0 (the
    -- index infusion) and by the cut-off: SPM events when censoring where status is known (adtte decides)
    select
        l.patient_key,
        min(l.diagnosis_date) as first_linkage_spm_date,
        min(l.diagnosis_date) filter (where l.is_t_cell) as first_linkage_tcell_spm_date
    from {{ ref('int_linkage_cancers') }} as l
    join patients as p on l.patient_key = p.patient_key
    cross join cutoff as c
    where l.diagnosis_date >= p.infusion_date and l.diagnosis_date <= c.data_cutoff
    group by l.patient_key
),
recovery as (
    select
        r.infusion_key,
        max(case when r.analyte = 'ANC' and r.recovery_date <= c.data_cutoff then r.recovery_date end)
            as anc_recovery_date,
        max(case when r.analyte = 'ANC' then r.recovery_status end) as anc_recovery_status,
        max(case when r.analyte = 'PLT' and r.recovery_date <= c.data_cutoff then r.recovery_date end)
            as plt_recovery_date,
        max(case when r.analyte = 'PLT' then r.recovery_status end) as plt_recovery_status
    from {{ ref('int_count_recovery') }} as r
    cross join cutoff as c
    group by r.infusion_key
),
response as (
    select
        b.infusion_key,
        bool_or(coalesce(b.is_complete_response, false))
            filter (where b.landmark_day = {{ cfg('efs_remission_window_day') }}) as cr_by_remission_window,
        bool_or(b.is_window_complete)
            filter (where b.landmark_day = {{ cfg('efs_remission_window_day') }}) as remission_window_complete,
        bool_or(coalesce(b.is_responder, false)) filter (where b.landmark = 'D180') as responder_by_d180,
        min(b.first_response_date) filter (where b.landmark = 'D180') as first_response_date
    from {{ ref('int_best_response') }} as b
    group by b.infusion_key
)
select
    p.patient_key,
    p.site_code,
    p.is_infused,
    p.infusion_number as index_infusion_number,
    p.infusion_date as index_infusion_date,
    coalesce(p.cart_order_date, p.leukapheresis_date, p.infusion_date) as itt_start_date,
    p.enrolment_date,
    c.data_cutoff,
    p.product_code,
    p.disease_group,
    cast(year(p.infusion_date) as integer) as infusion_year,
    d.death_date,
    d.primary_cause as death_primary_cause,
    d.is_nrm_cause as death_is_nrm_cause,
    d.source_form as death_source_form,
    d.death_source_forms <> 'linkage_death' as death_site_reported,  -- some site form reported it
    g.progression_date,
    g.last_disease_assessment_date,
    l.last_contact_date,
    l.last_alive_date,
    s.first_spm_date,
    s.first_tcell_spm_date,
    k.first_linkage_spm_date,
    k.first_linkage_tcell_spm_date,
    r.anc_recovery_date,
    r.anc_recovery_status,
    r.plt_recovery_date,
    r.plt_recovery_status,
    cast({{ cfg('efs_remission_window_day') }} as integer) as remission_window_day,
    coalesce(b.cr_by_remission_window, false) as cr_by_remission_window,
    coalesce(b.remission_window_complete, false) as remission_window_complete,
    coalesce(b.responder_by_d180, false) as responder_by_d180,
    b.first_response_date
from patients as p
cross join cutoff as c
left join {{ ref('int_deaths') }} as d on p.patient_key = d.patient_key
left join {{ ref('int_disease_progression') }} as g on p.patient_key = g.patient_key
left join {{ ref('int_last_contact') }} as l on p.patient_key = l.patient_key
left join spm as s on p.patient_key = s.patient_key
left join linkage_spm as k on p.patient_key = k.patient_key
left join recovery as r on p.infusion_key = r.infusion_key
left join response as b on p.infusion_key = b.infusion_key
