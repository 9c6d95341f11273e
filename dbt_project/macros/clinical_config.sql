-- Clinical thresholds come from the seed clinical_thresholds (data/config/clinical_thresholds.csv, each row
-- citing its standard): cfg('rule_id') renders a scalar subquery, so no threshold is typed into model SQL.
{% macro cfg(rule_id) -%}
    (select value from {{ ref('clinical_thresholds') }} where rule_id = '{{ rule_id }}')
{%- endmacro %}

-- Attach each dated event to an infusion: the latest infusion given on or before the event date, else (events
-- before the first infusion, undated events) the patient's first infusion. Each infusion owns the date range
-- [its date, the next infusion's date), the first one from the beginning of time: one equi-join on patient_key
-- with a range filter (measured 2.2 s for 4M lab days against 5.0 s for an ASOF join plus a fallback join).
-- `events` is a CTE / relation with patient_key and `date_col`; adds infusion_key, infusion_number,
-- infusion_date (of the attached infusion) and index_infusion_date (first infusion, day 0).
{% macro attach_infusion(events, date_col) -%}
    select
        e.*,
        a.infusion_key,
        a.infusion_number,
        a.infusion_date,
        a.index_infusion_date
    from {{ events }} as e
    left join (
        select
            patient_key, infusion_key, infusion_number, infusion_date, index_infusion_date,
            case when is_index_infusion then date '0001-01-01' else infusion_date end as valid_from,
            coalesce(next_infusion_date, date '9999-12-31') as valid_to
        from {{ ref('int_infusion_episodes') }}
        where is_infused
    ) as a
        on e.patient_key = a.patient_key
       and coalesce(e.{{ date_col }}, date '0001-01-01') >= a.valid_from
       and coalesce(e.{{ date_col }}, date '0001-01-01') < a.valid_to
{%- endmacro %}
