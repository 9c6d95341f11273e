-- Concept: new primary cancers found by the national cancer registry linkage, one row per linkage cancer of a
-- registered patient, with the T-cell flag from its ICD-O-3 morphology.
-- Reference: Ko-CARTR form linkage_cancer (Korea Central Cancer Registry, ICD-O-3, returned by the designated
-- combination agency, PIPA Art. 28-3); T-cell and NK-cell neoplasms = ICD-O-3.1 histology group 10 (seed
-- icdo3_tcell_morphology: Fritz et al., WHO 2013, Table 25). With censoring where status is known
-- (os_censor_at_linkage_completeness = 1) these are SPM / SPM_TCELL events beside the site-reported malignancies
-- (endpoints.md "Censoring where cancer status is known").
select
    l.record_id as linkage_record_id,
    l.patient_key,
    l.diagnosis_date,
    l.icdo3_topography,
    l.icdo3_morphology,
    {{ is_tcell_morphology('l.icdo3_morphology') }} as is_t_cell
from {{ ref('stg_linkage_cancer') }} as l
where l.diagnosis_date is not null
  and l.patient_key in (select patient_key from {{ ref('stg_registration') }})
