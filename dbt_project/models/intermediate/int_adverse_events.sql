-- Concept: other adverse events after infusion (cytopenias, infections, IEC-HS, hypogammaglobulinaemia, TLS,
-- others), CTCAE-graded with the CTCAE version each grade follows, attached to an infusion, with an ADaM category
-- (dictionary attribute ae_term.ae_category),
-- their seriousness (ICH E2A) and, for the lab-defined cytopenias, the grade the lowest count in the event's
-- window implies.
-- Reference: CTCAE v5.0 / v6.0 (version per record; lab cut-offs in seed ctcae_lab_grading); ICH E2A (1994)
-- seriousness; CIBMTR 4100 infections (organism, site, date). The lab-implied grade is shown beside the reported
-- one and queried when higher (GX staging rule), never substituted for it.
with ae as (
    select * from {{ ref('stg_adverse_event') }}
),
attached as (
    {{ attach_infusion('ae', 'onset_date') }}
),
categories as (
    -- ADaM category of each term: dictionary attribute ae_term.ae_category
    select code, ae_category from {{ ref('dictionary_codes') }} where code_list = 'ae_term'
),
cutoffs as (
    select ae_term, analyte, ctcae_version, grade, value_below from {{ ref('ctcae_lab_grading') }}
),
-- lowest value of the term's analyte from onset to resolution (unresolved: onset + ae_lab_window_open_days)
nadir as (
    select
        a.site_code,
        a.record_id,
        min(l.value) as lab_nadir_value
    from attached as a
    join (select distinct ae_term, analyte from cutoffs) as t on a.ae_term = t.ae_term
    join {{ ref('stg_lab') }} as l
        on l.patient_key = a.patient_key
       and l.analyte = t.analyte
       and l.lab_date between a.onset_date
           and coalesce(a.resolution_date,
                        cast(a.onset_date + cast({{ cfg('ae_lab_window_open_days') }} as integer) as date))
    where l.value is not null
    group by a.site_code, a.record_id
),
lab_graded as (
    select
        n.site_code,
        n.record_id,
        n.lab_nadir_value,
        coalesce(max(c.grade), 0) as lab_ctcae_grade
    from nadir as n
    join attached as a on a.site_code = n.site_code and a.record_id = n.record_id
    left join cutoffs as c
        on c.ae_term = a.ae_term and c.ctcae_version = a.ctcae_version and n.lab_nadir_value < c.value_below
    group by n.site_code, n.record_id, n.lab_nadir_value
)
select
    a.site_code || ':' || a.record_id as ae_key,
    a.patient_key,
    a.site_code,
    a.record_id as source_record_id,
    a.infusion_key,
    a.infusion_number,
    a.infusion_date,
    a.ae_term,
    k.ae_category,
    a.onset_date,
    a.resolution_date,
    {{ onset_day_and_duration() }},
    cast(a.ctcae_grade as integer) as ctcae_grade,
    a.ctcae_version,
    a.infection_organism_type,
    a.infection_organism,
    a.infection_site,
    a.serious,
    a.seriousness_criteria,
    g.lab_nadir_value,
    cast(g.lab_ctcae_grade as integer) as lab_ctcae_grade,
    coalesce(g.lab_ctcae_grade > a.ctcae_grade, false) as lab_grade_mismatch_flag
from attached as a
left join lab_graded as g on a.site_code = g.site_code and a.record_id = g.record_id
left join categories as k on a.ae_term = k.code
