-- Accepted values from the dictionary, every code column of a model in one test (one dbt node per model instead of
-- one per column): each non-null value (each ';'-separated code for the columns listed in `multiple`) must be a code
-- of the column's code list in the generated seed dictionary_codes (never a retyped list). `code_lists` maps each
-- column to its code list. Returns one row per failing value, naming its column and code list.
{% test in_code_lists(model, code_lists, multiple=[]) %}
with vals as (
{%- for column, code_list in code_lists.items() %}
    select '{{ column }}' as column_name, '{{ code_list }}' as code_list,
        {% if column in multiple -%}
        unnest(string_split({{ column }}, ';'))
        {%- else -%}
        cast({{ column }} as varchar)
        {%- endif %} as value
    from {{ model }}
    where {{ column }} is not null
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
)
select column_name, code_list, value
from vals
where not exists (
    select 1 from {{ ref('dictionary_codes') }} as codes
    where codes.code_list = vals.code_list and codes.code = vals.value
)
{% endtest %}
