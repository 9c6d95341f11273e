-- Concept: the censoring rule of this build where status is known (one row): whether OS is censored where vital
-- status is known (configuration os_censor_at_linkage_completeness, data/config/clinical_thresholds.csv), the date
-- through which national death data are complete (int_linkage_completeness, DEATH_STATISTICS; NULL without
-- linkage), the cancer registry's (CANCER_REGISTRY), and SPM's administrative censoring date: the earlier of the
-- two (a patient alive and free of a new cancer is known only through both; NULL unless both are stated).
-- Reference: endpoints.md "Censoring where vital status is known" and "Censoring where cancer status is known";
-- registry brief section 4 (last contact).
with c as (
    select
        max(complete_through) filter (where linkage_source = 'DEATH_STATISTICS') as death_complete_through,
        max(complete_through) filter (where linkage_source = 'CANCER_REGISTRY') as cancer_complete_through
    from {{ ref('int_linkage_completeness') }}
)
select
    'os_censor_at_linkage_completeness' as rule_id,
    {{ cfg('os_censor_at_linkage_completeness') }} = 1 as os_uses_linkage,
    c.death_complete_through,
    c.cancer_complete_through,
    case when c.death_complete_through is not null and c.cancer_complete_through is not null
         then least(c.death_complete_through, c.cancer_complete_through) end as spm_complete_through
from c
