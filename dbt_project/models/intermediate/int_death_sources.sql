-- Concept: every report of a patient's death, one row per source record: the death form, a follow-up with vital
-- status DEAD, a fatal (grade 5) adverse event on the adverse_event, crs or icans form. int_deaths picks one per
-- patient; the rest stay here so that disagreements reach the sites as queries.
-- Reference: CIBMTR 4100 (survival status; for a dead patient the contact date is the date of death) and 4100
-- cause of death; CTCAE v5 / ASTCT 2019 grade 5 = death related to the event; endpoint spec (endpoints.md,
-- "Death"): precedence (seed death_source_precedence, data/config) death form (1) > follow-up (2) or national
-- linkage (2), the earlier date > fatal AE (3), the earliest report within a source. A follow-up's date is the contact at which the site learnt of the death (on
-- or after it); the national death record dates the death itself, so among the two the earlier wins. A linkage
-- death no site reported, or one whose date differs, is queried at the patient's site (int_deaths).
-- A linkage death (Statistics Korea, ICD-10 causes in stg_linkage_death) carries the patient's registration site
-- and cause UNKNOWN until the site's death form gives the registry cause; patients not registered are ignored.
with reports as (
    select patient_key, site_code, 'death' as source_form, record_id as source_record_id,
           death_date, primary_cause as cause, contributing_causes
    from {{ ref('stg_death') }}
    where death_date is not null
    union all
    select patient_key, site_code, 'followup', record_id, contact_date, 'UNKNOWN', null
    from {{ ref('stg_followup') }}
    where vital_status = 'DEAD' and contact_date is not null
    union all
    select patient_key, site_code, 'adverse_event', record_id, coalesce(resolution_date, onset_date),
           case when ae_term in ('INFECTION', 'IEC_HS') then ae_term else 'ORGAN_FAILURE' end, null
    from {{ ref('stg_adverse_event') }}
    where ctcae_grade = 5 and coalesce(resolution_date, onset_date) is not null
    union all
    select patient_key, site_code, 'crs', record_id, coalesce(resolution_date, onset_date), 'CRS', null
    from {{ ref('stg_crs') }}
    where astct_grade = 5 and coalesce(resolution_date, onset_date) is not null
    union all
    select patient_key, site_code, 'icans', record_id, coalesce(resolution_date, onset_date), 'ICANS', null
    from {{ ref('stg_icans') }}
    where astct_grade = 5 and coalesce(resolution_date, onset_date) is not null
    union all
    select l.patient_key, r.site_code, 'linkage_death', l.record_id, l.death_date, 'UNKNOWN', null
    from {{ ref('stg_linkage_death') }} as l
    join {{ ref('stg_registration') }} as r on l.patient_key = r.patient_key
    where l.death_date is not null
),
ranked as (
    select r.*,
           s.precedence,
           r.death_date > c.data_cutoff as is_after_cutoff,
           -- the analysis death: among reports dated on or before the cut-off, best precedence, then earliest
           row_number() over (partition by r.patient_key
                              order by (r.death_date > c.data_cutoff), s.precedence, r.death_date,
                                       r.source_form, r.source_record_id) as pick
    from reports as r
    left join {{ ref('death_source_precedence') }} as s on r.source_form = s.source_form  -- a form without a rank fails not_null
    cross join {{ ref('int_data_cutoff') }} as c
)
select
    source_form || ':' || site_code || ':' || source_record_id as death_report_key,
    patient_key,
    site_code,
    source_form,
    source_record_id,
    precedence,
    death_date,
    cause,
    contributing_causes,
    is_after_cutoff,
    pick = 1 and not is_after_cutoff as is_analysis_death
from ranked
