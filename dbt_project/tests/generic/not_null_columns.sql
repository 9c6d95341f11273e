-- Completeness of several required columns in one scan (one test per model instead of one per column): returns
-- one row per column that has NULLs, with the number of NULL rows.
{% test not_null_columns(model, columns) %}
with counts as (
    select
    {% for c in columns %}
        count(*) filter (where {{ c }} is null) as "{{ c }}"{% if not loop.last %},{% endif %}
    {% endfor %}
    from {{ model }}
)
select column_name, n_null
from (unpivot counts on columns(*) into name column_name value n_null)
where n_null > 0
{% endtest %}
