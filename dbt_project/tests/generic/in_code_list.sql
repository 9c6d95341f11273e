-- Accepted values from the dictionary: every non-null value (each ';'-separated code when multiple) must be a
-- code of `code_list` in the generated seed dictionary_codes (never a retyped list).
{% test in_code_list(model, column_name, code_list, multiple=false) %}
with vals as (
    {% if multiple %}
    select unnest(string_split({{ column_name }}, ';')) as value from {{ model }} where {{ column_name }} is not null
    {% else %}
    select {{ column_name }} as value from {{ model }} where {{ column_name }} is not null
    {% endif %}
)
select value
from vals
where value not in (select code from {{ ref('dictionary_codes') }} where code_list = '{{ code_list }}')
{% endtest %}
