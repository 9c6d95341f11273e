-- The data cut-off (YYYY-MM-DD) of this build. REQUIRED: the dbt var `data_cutoff` when given (kocartr run / Dagster
-- pass the registry month's last day to in-process dbt, which is handed the parse and so never re-parses for a var),
-- else the environment variable KOCARTR_DATA_CUTOFF (command-line dbt: tests, make docs; an env var, unlike a var,
-- keeps the command line's partial parsing). There is no fallback (not today, not the latest submitted month): a
-- build without a cut-off would silently mix months, so it fails at compile time with this message.
-- dbt_project.yml must not declare `vars: data_cutoff`: a project var wins over var()'s default and hid the env var.
-- Read only when dbt executes a node: an env_var() read while parsing is recorded in the parse, and a new month
-- would make every run re-parse the models using it (the parsed SQL needs no value).
{% macro data_cutoff() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set cutoff = (var('data_cutoff', none) or env_var('KOCARTR_DATA_CUTOFF', '')) | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', cutoff) -%}
        {{- exceptions.raise_compiler_error(
            "No valid data cut-off (got '" ~ cutoff ~ "'). Every build needs one: set KOCARTR_DATA_CUTOFF=YYYY-MM-DD "
            ~ "or pass --vars '{data_cutoff: YYYY-MM-DD}' (kocartr run sets it to the registry month's last day).") -}}
    {%- endif -%}
    {{- return(cutoff) -}}
{%- endmacro %}

-- Staging reads the registry as of the cut-off: submissions of later months do not exist yet for this build.
{% macro cutoff_month_filter() -%}
    submission_month <= '{{ data_cutoff()[:7] }}'
{%- endmacro %}
