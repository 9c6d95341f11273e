-- Concept: secondary (new) malignancies after CAR-T (fact), one row per new malignancy.
-- Reference: CIBMTR 3500 / 3501; FDA boxed warning 2024 (T-cell malignancies); registry brief §2 (exclusions:
-- relapse / progression of the treated disease, MDS->AML transformation); ICH E2A seriousness (serious = Y when
-- reported serious or an E2A criterion is named) and unexpectedness (T-cell or CAR-positive tumour).
select
    spm_key,
    patient_key,
    site_code,
    infusion_key,
    cast(infusion_number as integer) as infusion_number,
    diagnosis_date,
    study_day,
    category,
    is_hematologic,
    coalesce(is_t_cell, false) as is_t_cell,
    icdo3_morphology,
    t_cell_malignancy,
    car_transgene_tested,
    car_transgene_detected,
    serious as reported_serious,
    seriousness_criteria,
    case when serious = 'Y' or seriousness_criteria is not null then 'Y' else serious end as serious,
    coalesce(is_unexpected, false) as is_unexpected,
    coalesce(is_after_infusion, false) as is_after_infusion,
    source_record_id
from {{ ref('int_secondary_malignancies') }}
