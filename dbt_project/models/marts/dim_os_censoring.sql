-- Concept: the OS censoring rule of this build (one row): whether OS is censored where vital status is known
-- (configuration os_censor_at_linkage_completeness, data/config/clinical_thresholds.csv) and the date through
-- which national death data are complete (int_linkage_completeness, DEATH_STATISTICS; NULL without linkage).
-- Reference: endpoints.md "Censoring where vital status is known"; registry brief section 4 (last contact).
select
    'os_censor_at_linkage_completeness' as rule_id,
    {{ cfg('os_censor_at_linkage_completeness') }} = 1 as os_uses_linkage,
    (select complete_through from {{ ref('int_linkage_completeness') }}
     where linkage_source = 'DEATH_STATISTICS') as death_complete_through
