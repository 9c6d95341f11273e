-- One competing-risks rule for every adtte parameter that has a competing event (NRM, RELAPSE, SPM, SPM_TCELL,
-- ANC_REC, PLT_REC, ...). Reference: CDISC ADaM BDS-TTE with the registry's competing-event encoding
-- (endpoints.md "Encoding"); CIBMTR relapse / NRM conventions. Renders two columns:
--   adt     the event date when the event comes first, else the competing event's date, else censor_date
--   status  'E' event, 'X' competing event, 'C' censored (at censor_date, last contact by default)
-- `tie` says who owns a same-day event and competing event: 'event' (a relapse on the day of death is a relapse),
-- 'competing' (NRM: a death on the relapse day is not non-relapse), or 'always' (the event counts whatever the
-- competing date: count recoveries, as the CIBMTR rule defines them from the counts alone).
{% macro competing_risk(event_date, competing_date='death_date', tie='event', censor_date='last_contact_date') -%}
    {%- if tie == 'event' -%}
        {%- set first = '(' ~ event_date ~ ') is not null and ((' ~ competing_date ~ ') is null or (' ~ event_date
                        ~ ') <= (' ~ competing_date ~ '))' -%}
    {%- elif tie == 'competing' -%}
        {%- set first = '(' ~ event_date ~ ') is not null and ((' ~ competing_date ~ ') is null or (' ~ event_date
                        ~ ') < (' ~ competing_date ~ '))' -%}
    {%- elif tie == 'always' -%}
        {%- set first = '(' ~ event_date ~ ') is not null' -%}
    {%- else -%}
        {{- exceptions.raise_compiler_error("competing_risk: tie must be 'event', 'competing' or 'always', got " ~ tie) -}}
    {%- endif -%}
    case when {{ first }} then {{ event_date }}
         else coalesce({{ competing_date }}, {{ censor_date }}) end as adt,
    case when {{ first }} then 'E'
         when ({{ competing_date }}) is not null then 'X'
         else 'C' end as status
{%- endmacro %}
