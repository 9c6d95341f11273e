-- Concept: secondary (new) malignancies after CAR-T, with haematologic and T-cell flags and CAR-transgene testing.
-- Reference: CIBMTR 3500/3501; registry brief §2 (new malignancy excludes relapse / progression of the treated
-- disease and MDS->AML transformation) and §5 (FDA boxed warning 2024: T-cell malignancies). Haematologic flag =
-- dictionary code-list attribute malignancy_category.hematologic. Unexpected (ICH E2A: not consistent with the
-- product information) = a category with attribute `unexpected` (T-cell neoplasm) or a CAR-transgene-positive
-- tumour (FDA boxed warning 2024); serious per ICH E2A (reported, or any criterion named).
with spm as (
    select * from {{ ref('stg_secondary_malignancy') }}
),
attached as (
    {{ attach_infusion('spm', 'diagnosis_date') }}
),
codes as (
    select code, hematologic, unexpected from {{ ref('dictionary_codes') }} where code_list = 'malignancy_category'

)
select
    a.site_code || ':' || a.record_id as spm_key,
    a.patient_key,
    a.site_code,
    a.record_id as source_record_id,
    a.infusion_key,
    a.infusion_number,
    a.index_infusion_date,
    a.diagnosis_date,
    cast(date_diff('day', a.index_infusion_date, a.diagnosis_date) as integer) as study_day,
    a.category,
    coalesce(c.hematologic, false) as is_hematologic,
    -- T-cell: the site says so (category or flag), or the ICD-O-3 morphology is a T/NK-cell neoplasm (seed
    -- icdo3_tcell_morphology, the rule linkage cancers follow: macro is_tcell_morphology)
    a.category = 'T_CELL_NEOPLASM' or a.t_cell_malignancy = 'Y' or {{ is_tcell_morphology('a.icdo3_morphology') }}
        as is_t_cell,
    a.icdo3_morphology,
    a.t_cell_malignancy,
    a.car_transgene_tested,
    a.car_transgene_detected,
    a.serious,
    a.seriousness_criteria,
    coalesce(c.unexpected, false) or a.t_cell_malignancy = 'Y' or a.car_transgene_detected = 'Y' as is_unexpected,
    a.diagnosis_date >= a.index_infusion_date as is_after_infusion
from attached as a
left join codes as c on a.category = c.code
