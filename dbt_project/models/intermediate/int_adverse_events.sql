-- Concept: other adverse events after infusion (cytopenias, infections, IEC-HS, hypogammaglobulinaemia, TLS,
-- others), CTCAE-graded with the CTCAE version each grade follows, attached to an infusion, with an ADaM category.
-- Reference: CTCAE v5.0 / v6.0 (version per record); CIBMTR 4100 infections (organism, site, date).
with ae as (
    select * from {{ ref('stg_adverse_event') }}
),
attached as (
    {{ attach_infusion('ae', 'onset_date') }}
)
select
    site_code || ':' || record_id as ae_key,
    patient_key,
    site_code,
    record_id as source_record_id,
    infusion_key,
    infusion_number,
    infusion_date,
    ae_term,
    case
        when ae_term = 'INFECTION' then 'INFECTION'
        when ae_term in ('NEUTROPENIA', 'THROMBOCYTOPENIA', 'ANEMIA') then 'CYTOPENIA'
        else 'OTHER'
    end as ae_category,
    onset_date,
    resolution_date,
    {{ onset_day_and_duration() }},
    cast(ctcae_grade as integer) as ctcae_grade,
    ctcae_version,
    infection_organism_type,
    infection_organism,
    infection_site,
    serious
from attached
