-- Whether a site's report of a death disagrees with the documented death date in a way the site can act on
-- (endpoints.md "Death"; clinical_thresholds death_date_tolerance_days). Like is compared with like: a death form
-- date against the national death record, beyond the configured tolerance; a follow-up saying DEAD is dated at the
-- contact where the site learnt of the death, so it disagrees only when that contact precedes the death; a fatal
-- (grade 5) event ends on or before the death, so it disagrees only when dated after it.
{% macro death_report_disagrees(source_form, report_date, death_date) -%}
    case when {{ source_form }} = 'death'
              then abs(date_diff('day', {{ death_date }}, {{ report_date }})) > {{ cfg('death_date_tolerance_days') }}
         when {{ source_form }} = 'followup' then {{ report_date }} < {{ death_date }}
         else {{ report_date }} > {{ death_date }}
    end
{%- endmacro %}
