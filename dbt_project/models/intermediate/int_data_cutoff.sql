-- Concept: the data cut-off date used for censoring and follow-up visit states (one row).
-- Reference: Ko-CARTR analysis conventions (docs/ARCHITECTURE.md). The given cut-off (macro data_cutoff: dbt var
-- `data_cutoff` or KOCARTR_DATA_CUTOFF) when there is one; otherwise the last day of the latest submission_month present in staging; today when there is none.
{% set forms = ['registration', 'baseline', 'product_infusion', 'crs', 'icans', 'adverse_event', 'lab',
                'response', 'followup', 'secondary_malignancy', 'pregnancy', 'death'] %}
with months as (
    {% for f in forms %}
    select max(submission_month) as submission_month from {{ ref('stg_' ~ f) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)
{% if data_cutoff() %}
select
    cast('{{ data_cutoff() }}' as date) as data_cutoff,
    'given cut-off (dbt var data_cutoff or KOCARTR_DATA_CUTOFF)' as cutoff_source
{% else %}
select
    coalesce(cast(last_day(cast(strptime(max(submission_month), '%Y-%m') as date)) as date), current_date) as data_cutoff,
    case when max(submission_month) is null then 'today (no submissions)'
         else 'last day of latest submission_month' end as cutoff_source
from months
{% endif %}
