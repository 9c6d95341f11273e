-- Concept: one death per patient from every source that reports it (int_death_sources: death form, follow-up
-- vital status DEAD, fatal adverse event, national linkage), dated on or before the data cut-off, with its primary
-- and contributing causes, whether the primary cause is a non-relapse cause (dictionary attribute death_cause.nrm),
-- the source used and why the death needs a site query: only what the site can act on (a death no site reported, a
-- fatal event without a death form, death forms or reports disagreeing by macro death_report_disagrees).
-- Reference: CIBMTR 4100 cause of death (one primary + contributing); endpoint spec (endpoints.md, "Death"):
-- precedence death form > follow-up or national linkage (earlier date) > fatal AE; cause from the death form, else the fatal AE, else UNKNOWN.
-- A follow-up DEAD without a death form is queried on the follow-up itself (staging.stg_followup.dead_has_death_form).
with reports as (
    select * from {{ ref('int_death_sources') }} where not is_after_cutoff
),
chosen as (
    select * from reports where is_analysis_death
),
documented as (
    -- the date a report is checked against: the national record for a death form, else the death form's date
    select patient_key,
           min(death_date) filter (where source_form = 'death') as form_date,
           min(death_date) filter (where source_form = 'linkage_death') as linkage_date
    from reports
    group by patient_key
),
disagreements as (
    select r.patient_key,
           case when r.source_form = 'death'
                     then 'death form date differs from the national death record by '
                          || abs(date_diff('day', d.linkage_date, r.death_date)) || ' days'
                when r.source_form = 'followup' then 'follow-up reports the death at a contact before the death date'
                else r.source_form || ' fatal event dated after the death'
           end as reason
    from reports as r
    join documented as d on r.patient_key = d.patient_key
    where r.source_form <> 'linkage_death'
      and {{ death_report_disagrees('r.source_form', 'r.death_date',
             "case when r.source_form = 'death' then d.linkage_date else coalesce(d.form_date, d.linkage_date) end") }}
),
per_patient as (
    select patient_key,
           count(*) as n_death_reports,
           bool_or(source_form = 'death') as has_death_form,
           bool_or(source_form <> 'linkage_death') as site_reported,
           bool_or(source_form = 'followup') as has_followup,
           count(distinct death_date) filter (where source_form = 'death') > 1 as death_forms_disagree,
           string_agg(distinct source_form, ';' order by source_form) as death_source_forms,
           string_agg(distinct source_form, ';' order by source_form) filter (where source_form <> 'linkage_death')
               as site_source_forms,
           -- cause: the death form's; otherwise the earliest fatal AE's (a follow-up or a linkage return gives none)
           arg_min(cause, (precedence, death_date, source_form, source_record_id))
               filter (where source_form not in ('followup', 'linkage_death')) as reported_cause
    from reports
    group by patient_key
),
reasons as (
    select patient_key, string_agg(distinct reason, '; ' order by reason) as reasons
    from disagreements
    group by patient_key
),
codes as (
    select code, nrm from {{ ref('dictionary_codes') }} where code_list = 'death_cause'
)
select
    d.patient_key,
    d.site_code,
    d.death_date,
    coalesce(p.reported_cause, 'UNKNOWN') as primary_cause,
    d.contributing_causes,
    coalesce(c.nrm, true) as is_nrm_cause,
    coalesce(p.reported_cause, 'UNKNOWN') = 'CRS'
        or coalesce(list_contains(string_split(d.contributing_causes, ';'), 'CRS'), false) as crs_contributed,
    s.autopsy,
    d.source_form,
    d.source_record_id,
    cast(p.n_death_reports as integer) as n_death_reports,
    p.death_source_forms,
    p.has_death_form,
    nullif(concat_ws('; ',
        case when not p.site_reported then 'death found by national linkage, not reported by the site' end,
        case when p.site_reported and not p.has_death_form and not p.has_followup
             then 'death reported on ' || p.site_source_forms || ' but no death form' end,
        case when p.death_forms_disagree then 'death forms give different dates' end,
        q.reasons), '')
        as death_query_reason
from chosen as d
join per_patient as p on d.patient_key = p.patient_key
left join reasons as q on d.patient_key = q.patient_key
left join codes as c on coalesce(p.reported_cause, 'UNKNOWN') = c.code
left join {{ ref('stg_death') }} as s
    on d.source_form = 'death' and d.site_code = s.site_code and d.source_record_id = s.record_id
