-- The data cut-off (YYYY-MM-DD) of this build: the dbt var `data_cutoff` when given (tests, ad-hoc runs), else the
-- environment variable KOCARTR_DATA_CUTOFF (the pipeline sets it per registry month: an env var, unlike a var,
-- keeps dbt's partial parsing), else none (the latest submitted month decides; see int_data_cutoff).
{% macro data_cutoff() -%}
    {{- return(var('data_cutoff', env_var('KOCARTR_DATA_CUTOFF', ''))) -}}
{%- endmacro %}

-- Staging reads the registry as of the cut-off: submissions of later months do not exist yet for this build.
{% macro cutoff_month_filter() -%}
    {%- set cutoff = data_cutoff() -%}
    {%- if cutoff -%} submission_month <= '{{ cutoff[:7] }}' {%- else -%} true {%- endif -%}
{%- endmacro %}
