-- Concept: national linkage returns reconciled with the sites' reports, one row per linkage death or cancer of a
-- registered patient dated on or before the cut-off: whether a site reported it, the site's date when it did, and
-- the query the site receives when it did not or when the dates differ.
-- Reference: Ko-CARTR linkage forms linkage_death (Statistics Korea, ICD-10) and linkage_cancer (Korea Central
-- Cancer Registry, ICD-O-3); endpoints.md "Death" (precedence death form > follow-up or linkage, the earlier date > fatal AE) and
-- "Censoring where vital status is known". Deaths: the site's death form, else its follow-up DEAD (the date it learnt
-- of the death), else its fatal event, compared like with like (macro death_report_disagrees, clinical_thresholds
-- death_date_tolerance_days); cancers: the site-reported new malignancy (int_secondary_malignancies) closest in date.
with cutoff as (
    select data_cutoff from {{ ref('int_data_cutoff') }}
),
reg as (
    select patient_key, any_value(site_code) as site_code from {{ ref('stg_registration') }} group by patient_key
),
site_deaths as (
    -- the date the site gives for the death: its death form's, else the follow-up at which it learnt of the death,
    -- else the fatal event's end (compared with the national date by macro death_report_disagrees)
    select patient_key,
           coalesce(min(death_date) filter (where source_form = 'death'),
                    min(death_date) filter (where source_form = 'followup'),
                    max(death_date) filter (where precedence = 3)) as site_date,
           case when bool_or(source_form = 'death') then 'death'
                when bool_or(source_form = 'followup') then 'followup'
                else arg_max(source_form, (death_date, source_form)) filter (where precedence = 3) end
               as site_source_form
    from {{ ref('int_death_sources') }}
    where source_form <> 'linkage_death' and not is_after_cutoff
    group by patient_key
),
deaths as (
    select 'DEATH' as event_type, l.patient_key, l.record_id, l.death_date as linkage_date,
           l.underlying_cause_icd10 as linkage_code, s.site_date, s.site_source_form,
           {{ death_report_disagrees('s.site_source_form', 's.site_date', 'l.death_date') }} as dates_disagree
    from {{ ref('stg_linkage_death') }} as l
    left join site_deaths as s on l.patient_key = s.patient_key
),
cancers_matched as (
    select 'CANCER' as event_type, l.patient_key, l.record_id, l.diagnosis_date as linkage_date,
           l.icdo3_topography || ' ' || l.icdo3_morphology as linkage_code,
           arg_min(s.diagnosis_date, (abs(date_diff('day', s.diagnosis_date, l.diagnosis_date)), s.spm_key))
               as site_date,
           case when count(s.spm_key) > 0 then 'secondary_malignancy' end as site_source_form
    from {{ ref('stg_linkage_cancer') }} as l
    left join {{ ref('int_secondary_malignancies') }} as s
        on l.patient_key = s.patient_key and s.diagnosis_date <= (select data_cutoff from cutoff)
    group by all
),
cancers as (
    select *, site_date <> linkage_date as dates_disagree from cancers_matched
),
events as (
    select * from deaths
    union all
    select * from cancers
)
select
    e.event_type || ':' || e.record_id as linkage_event_key,
    e.patient_key,
    r.site_code,
    e.event_type,
    e.record_id as linkage_record_id,
    e.linkage_date,
    e.linkage_code,
    e.site_date,
    e.site_source_form,
    cast(date_diff('day', e.site_date, e.linkage_date) as integer) as days_difference,
    case when e.site_date is null then 'NOT_REPORTED_BY_SITE'
         when e.dates_disagree then 'DATE_DIFFERS'
         else 'AGREES' end as reconciliation_status,
    case when e.site_date is null
              then lower(e.event_type) || ' found by national linkage, not reported by the site'
         when e.dates_disagree
              then lower(e.event_type) || ' date differs from national linkage by '
                   || date_diff('day', e.site_date, e.linkage_date) || ' days'
    end as query_reason
from events as e
join reg as r on e.patient_key = r.patient_key
cross join cutoff as c
where e.linkage_date <= c.data_cutoff
