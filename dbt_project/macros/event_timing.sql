-- Timing of an adverse-event episode relative to its infusion, one definition for CRS, ICANS and other AEs:
-- onset_day counts from the infusion (day 0 = infusion date, registry brief section 4); duration_days counts both
-- the onset and the resolution day (an episode resolving on its onset day lasts 1 day); NULL while unresolved.
{% macro onset_day_and_duration() -%}
    cast(date_diff('day', infusion_date, onset_date) as integer) as onset_day,
    cast(date_diff('day', onset_date, resolution_date) + 1 as integer) as duration_days
{%- endmacro %}
