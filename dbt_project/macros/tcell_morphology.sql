-- One T-cell rule for every malignancy source (site-reported: int_secondary_malignancies; national cancer registry:
-- int_linkage_cancers): an ICD-O-3 morphology ('9702/3') whose histology, its first four digits, falls in a range of
-- seed icdo3_tcell_morphology (ICD-O-3.1 histology group 10, T-cell and NK-cell neoplasms: Fritz et al., WHO 2013,
-- Table 25). The generator's truth applies the same seed (kocartr.censoring.is_tcell_morphology).
{% macro is_tcell_morphology(morphology) -%}
    exists (select 1 from {{ ref('icdo3_tcell_morphology') }} as tcell_range
            where try_cast(left({{ morphology }}, 4) as integer)
                  between tcell_range.histology_from and tcell_range.histology_to)
{%- endmacro %}
