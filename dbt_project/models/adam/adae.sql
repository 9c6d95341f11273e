-- Concept: ADaM adverse-event analysis dataset (ADAE), one row per patient and event: CRS, ICANS (ASTCT), ICAHT
-- (EHA/EBMT, derived), infections, cytopenias and other CTCAE-graded events, with grade, onset day and duration.
-- Reference: CDISC ADaM OCCDS (ADAE); ASTCT 2019; EHA/EBMT ICAHT 2023; CTCAE v5.0 / v6.0 (GRDSTD per record).
-- ASTDY = onset day relative to the attached infusion (day 0 = infusion); ADURN = resolution - onset + 1 days
-- (ICAHT early: onset to ANC recovery). Subjects are ADSL subjects only (a CAR-T order or an infusion); events of
-- patients whose registration and infusion never reached raw stay in marts.fct_adverse_event.
-- ATOXGR is character and ATOXGRN its numeric twin (CDISC ADaM OCCDS; character grades as in pharmaverse/admiral's
-- derive_var_atoxgr). AESOURCE tells site-reported events (REPORTED: CRS, ICANS, CTCAE forms) from events derived
-- from the lab series (DERIVED: ICAHT), so a neutropenia is never counted twice unknowingly. AESER follows ICH E2A
-- (fct_adverse_event.serious: reported, an E2A criterion, or grade 4-5); AESERCRT lists the reported criteria.
-- Infections carry their organism class (AEORGCL) and site (INFSITE) as CIBMTR 4100 collects them; severity is
-- ATOXGRN and onset day ASTDY, as for every event.
select
    'KOCARTR' as STUDYID,
    e.patient_key as USUBJID,
    e.site_code as SITEID,
    e.infusion_number as INFNUM,
    cast(row_number() over (partition by e.patient_key
                            order by e.onset_date nulls last, e.ae_category, e.ae_term, e.adverse_event_key)
         as integer) as AESEQ,
    e.ae_category as AECAT,
    e.ae_term as AEDECOD,
    cast(e.grade as varchar) as ATOXGR,
    e.grade as ATOXGRN,
    e.event_source as AESOURCE,
    e.grading_standard as GRDSTD,
    e.onset_date as ASTDT,
    e.resolution_date as AENDT,
    e.onset_day as ASTDY,
    cast(e.duration_days as double) as ADURN,
    e.serious as AESER,
    e.seriousness_criteria as AESERCRT,
    e.lab_ctcae_grade as LBTOXGRN,
    e.infection_organism_type as AEORGCL,
    e.infection_site as INFSITE,
    e.tocilizumab as AETOCI,
    e.steroids as AESTER,
    e.icu_admission as AEICU,
    e.icu_days as ICUDAYS,
    i.product_code as PRODUCT,
    i.disease_group as DISGRP,
    e.adverse_event_key as SRCKEY
from {{ ref('fct_adverse_event') }} as e
join {{ ref('dim_patient') }} as p on e.patient_key = p.patient_key and p.has_order_or_infusion
left join {{ ref('fct_infusion') }} as i on e.infusion_key = i.infusion_key
