-- Concept: the day-0 patient timeline: every dated event of a patient from every form (and the derived count
-- recoveries), one row per source record and event type, attached to an infusion.
-- Reference: CIBMTR forms 4000/4003/4006/4100/3500; day 0 = first infusion (registry brief §4). is_contact marks
-- the events that prove the patient was seen (last contact / last known alive). The lab series enters as one
-- LAST_LAB event per patient (latest sample up to the data cut-off) and as ANC / platelet recovery events.
with events as (
    select patient_key, site_code, 'CART_ORDER' as event_type, cart_order_date as event_date,
           cast(null as varchar) as event_detail, 'registration' as source_form, record_id as source_record_id,
           true as is_contact
    from {{ ref('stg_registration') }}
    union all
    select patient_key, site_code, 'CONSENT', consent_date, null, 'registration', record_id, true
    from {{ ref('stg_registration') }}
    union all
    select patient_key, site_code, 'ENROLMENT', enrolment_date, null, 'registration', record_id, true
    from {{ ref('stg_registration') }}
    union all
    select patient_key, site_code, 'LEUKAPHERESIS', leukapheresis_date, product_code, 'product_infusion', record_id,
           true
    from {{ ref('stg_product_infusion') }}
    union all
    select patient_key, site_code, 'INFUSION', infusion_date, product_code, 'product_infusion', record_id, true
    from {{ ref('stg_product_infusion') }}
    union all
    select patient_key, site_code, 'LYMPHODEPLETION', ld_start_date, ld_regimen, 'baseline', record_id, true
    from {{ ref('stg_baseline') }}
    union all
    select patient_key, site_code, 'CRS_ONSET', onset_date, 'GRADE ' || cast(astct_grade as varchar), 'crs',
           record_id, true
    from {{ ref('stg_crs') }}
    union all
    select patient_key, site_code, 'CRS_RESOLUTION', resolution_date, null, 'crs', record_id, true
    from {{ ref('stg_crs') }}
    union all
    select patient_key, site_code, 'ICANS_ONSET', onset_date, 'GRADE ' || cast(astct_grade as varchar), 'icans',
           record_id, true
    from {{ ref('stg_icans') }}
    union all
    select patient_key, site_code, 'ICANS_RESOLUTION', resolution_date, null, 'icans', record_id, true
    from {{ ref('stg_icans') }}
    union all
    select patient_key, site_code, 'AE_ONSET', onset_date, ae_term, 'adverse_event', record_id, true
    from {{ ref('stg_adverse_event') }}
    union all
    select patient_key, site_code, 'AE_RESOLUTION', resolution_date, ae_term, 'adverse_event', record_id, true
    from {{ ref('stg_adverse_event') }}
    union all
    select patient_key, site_code, 'RESPONSE_ASSESSMENT', assessment_date, response, 'response', record_id, true
    from {{ ref('stg_response') }}
    union all
    -- a follow-up reporting the patient DEAD proves nothing about being alive (its contact date is the death date)
    select patient_key, site_code, 'FOLLOWUP_CONTACT', contact_date, timepoint || ' ' || vital_status, 'followup',
           record_id, coalesce(vital_status <> 'DEAD', true)
    from {{ ref('stg_followup') }}
    union all
    select patient_key, site_code, 'DISEASE_ASSESSMENT', last_disease_assessment_date, disease_status, 'followup',
           record_id, true
    from {{ ref('stg_followup') }}
    union all
    select patient_key, site_code, 'PROGRESSION', progression_date, disease_status, 'followup', record_id, true
    from {{ ref('stg_followup') }}
    union all
    select patient_key, site_code, 'PROGRESSION', assessment_date, response, 'response', record_id, true
    from {{ ref('stg_response') }}
    where response in ('PD', 'RELAPSE')
    union all
    select patient_key, site_code, 'SUBSEQUENT_THERAPY', subsequent_therapy_date, null, 'followup', record_id, true
    from {{ ref('stg_followup') }}
    where subsequent_therapy = 'Y'
    union all
    select patient_key, site_code, 'SUBSEQUENT_HCT', subsequent_hct_date, subsequent_hct, 'followup', record_id, true
    from {{ ref('stg_followup') }}
    where subsequent_hct in ('AUTO', 'ALLO', 'BOTH')
    union all
    select patient_key, site_code, 'SECONDARY_MALIGNANCY', diagnosis_date, category, 'secondary_malignancy',
           record_id, true
    from {{ ref('stg_secondary_malignancy') }}
    union all
    select patient_key, site_code, 'PREGNANCY_REPORTED', reported_date, subject, 'pregnancy', record_id, true
    from {{ ref('stg_pregnancy') }}
    union all
    select patient_key, site_code, 'PREGNANCY_OUTCOME', outcome_date, outcome, 'pregnancy', record_id, false
    from {{ ref('stg_pregnancy') }}
    union all
    -- every death report (death form, follow-up DEAD, fatal AE); int_deaths picks the analysis death
    select patient_key, site_code, 'DEATH', death_date, cause, source_form, source_record_id, false
    from {{ ref('int_death_sources') }}
    union all
    select patient_key, any_value(site_code), 'LAST_LAB', max(lab_date), arg_max(analyte, (lab_date, source_record_id, analyte)) filter (where lab_date is not null), 'lab',
           arg_max(source_record_id, (lab_date, source_record_id, analyte)) filter (where lab_date is not null), true
    from {{ ref('int_lab_daily') }}
    where lab_date <= (select data_cutoff from {{ ref('int_data_cutoff') }})
    group by patient_key
    union all
    select r.patient_key, e.site_code, r.analyte || '_RECOVERY', r.recovery_date, r.infusion_key, 'lab',
           r.recovery_record_id, true
    from {{ ref('int_count_recovery') }} as r
    join {{ ref('int_infusion_episodes') }} as e on r.infusion_key = e.infusion_key
    where r.recovery_date is not null
),
dated as (
    select * from events where event_date is not null
),
attached as (
    {{ attach_infusion('dated', 'event_date') }}
)
select
    a.source_form || ':' || a.site_code || ':' || a.source_record_id || ':' || a.event_type
        || case when a.event_type in ('ANC_RECOVERY', 'PLT_RECOVERY') then ':' || a.event_detail else '' end
        as event_key,
    a.patient_key,
    a.site_code,
    a.infusion_key,
    a.infusion_number,
    a.event_type,
    a.event_date,
    cast(date_diff('day', a.index_infusion_date, a.event_date) as integer) as study_day,
    cast(date_diff('day', a.infusion_date, a.event_date) as integer) as infusion_day,
    a.event_detail,
    a.source_form,
    a.source_record_id,
    a.is_contact,
    a.event_date > c.data_cutoff as is_after_cutoff
from attached as a
cross join {{ ref('int_data_cutoff') }} as c
