-- Concept: one death per patient from every source that reports it (int_death_sources: death form, follow-up
-- vital status DEAD, fatal adverse event), dated on or before the data cut-off, with its primary and contributing
-- causes, whether the primary cause is a non-relapse cause (dictionary attribute death_cause.nrm), the source used
-- and why the death needs a site query (sources disagree on the date, or no death form).
-- Reference: CIBMTR 4100 cause of death (one primary + contributing); endpoint spec (endpoints.md, "Death"):
-- precedence death form > follow-up or national linkage (earlier date) > fatal AE; cause from the death form, else the fatal AE, else UNKNOWN.
with reports as (
    select * from {{ ref('int_death_sources') }} where not is_after_cutoff
),
chosen as (
    select * from reports where is_analysis_death
),
per_patient as (
    select patient_key,
           count(*) as n_death_reports,
           bool_or(source_form = 'death') as has_death_form,
           count(distinct death_date) > 1 as dates_disagree,
           string_agg(distinct source_form, ';' order by source_form) as death_source_forms,
           -- cause: the death form's; otherwise the earliest fatal AE's (a follow-up or a linkage return gives none)
           arg_min(cause, (precedence, death_date, source_form, source_record_id))
               filter (where source_form not in ('followup', 'linkage_death')) as reported_cause
    from reports
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
        case when not p.has_death_form then 'death reported on ' || p.death_source_forms || ' but no death form' end,
        case when p.dates_disagree then 'death dates differ between ' || p.death_source_forms end), '')
        as death_query_reason
from chosen as d
join per_patient as p on d.patient_key = p.patient_key
left join codes as c on coalesce(p.reported_cause, 'UNKNOWN') = c.code
left join {{ ref('stg_death') }} as s
    on d.source_form = 'death' and d.site_code = s.site_code and d.source_record_id = s.record_id
