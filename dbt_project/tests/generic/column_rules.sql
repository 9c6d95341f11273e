-- Every column rule of a model in one test (one dbt node per model instead of one per rule and column: at ~70 ms of
-- dbt overhead per node, the per-column tests cost more than their queries). Each rule keeps the semantics of the
-- dbt test it replaces:
--   not_null: [columns]                    no NULL (one scan for all columns)
--   unique: [columns]                      no non-NULL value twice, per column (dbt's unique)
--   unique_combination: [columns]          grain: no key (NULLs included) twice over these columns together
--   accepted_values: {column: [values]}    a non-NULL value is one of these (derived categories only: dictionary
--                                          codes go through code_lists)
--   relationships: {column: "ref('m')"}    a non-NULL value exists in the same-named column of model m
--   code_lists: {column: code_list}        a non-NULL value (each ';'-separated code for the columns listed in
--                                          `multiple`) is a code of that list in the generated seed dictionary_codes
-- Returns one row per rule, column and failing value (NULL for not_null) with the number of rows that carry it;
-- dbt's failure count (`fail_calc`) is the sum of those rows, so "Got N results" counts failing rows.
-- Severity and `where` are the test's (dbt config): rules that must only warn, or that apply to a subset of rows, go
-- in a second column_rules test of the model with that config and its own `name`.
{% test column_rules(model, not_null=[], unique=[], unique_combination=[], accepted_values={}, relationships={},
    code_lists={}, multiple=[]) %}
{{ config(fail_calc='coalesce(sum(n_rows), 0)') }}
select cast(null as varchar) as rule, cast(null as varchar) as column_name, cast(null as varchar) as value,
    cast(0 as bigint) as n_rows
where false
{%- if not_null %}
union all
select 'not_null', column_name, null, n_rows
from (unpivot (
    select
    {%- for c in not_null %}
        count(*) filter (where {{ c }} is null) as "{{ c }}"{% if not loop.last %},{% endif %}
    {%- endfor %}
    from {{ model }}
) on columns(*) into name column_name value n_rows)
where n_rows > 0
{%- endif %}
{%- for c in unique %}
union all
select 'unique', '{{ c }}', cast({{ c }} as varchar), count(*)
from {{ model }}
where {{ c }} is not null
group by {{ c }}
having count(*) > 1
{%- endfor %}
{%- if unique_combination %}
union all
select 'unique_combination', '{{ unique_combination | join(", ") }}',
    cast(row({{ unique_combination | join(", ") }}) as varchar), count(*)
from {{ model }}
group by {{ unique_combination | join(", ") }}
having count(*) > 1
{%- endif %}
{%- for c, values in accepted_values.items() %}
union all
select 'accepted_values', '{{ c }}', cast({{ c }} as varchar), count(*)
from {{ model }}
where {{ c }} not in ({% for v in values %}'{{ v }}'{% if not loop.last %}, {% endif %}{% endfor %})
group by {{ c }}
{%- endfor %}
{%- for c, parent in relationships.items() %}
union all
select 'relationships to {{ parent.identifier }}.{{ c }}', '{{ c }}', cast(child.{{ c }} as varchar), count(*)
from {{ model }} as child
where child.{{ c }} is not null
    and not exists (select 1 from {{ parent }} as parent where parent.{{ c }} = child.{{ c }})
group by child.{{ c }}
{%- endfor %}
{%- for c, code_list in code_lists.items() %}
union all
select 'code list {{ code_list }}', '{{ c }}', value, count(*)
from (
    select {% if c in multiple %}unnest(string_split({{ c }}, ';')){% else %}cast({{ c }} as varchar){% endif %} as value
    from {{ model }}
    where {{ c }} is not null
) as vals
where not exists (
    select 1 from {{ ref('dictionary_codes') }} as codes
    where codes.code_list = '{{ code_list }}' and codes.code = vals.value
)
group by value
{%- endfor %}
{% endtest %}
