-- Concept: neutrophil and platelet recovery after each infusion, one row per infusion and analyte.
-- Reference: CIBMTR 4100 (forms instruction manual): ANC >= 0.5 x10^9/L on 3 consecutive values on different
-- days, date = first of the three; platelets >= 20 x10^9/L (rules in seed recovery_rules; registry brief §2).
-- Recovery is sought after the nadir (the first value below the threshold on or after day 0) and before the
-- next infusion. status: RECOVERED, NOT_RECOVERED (fell below, no qualifying run yet), NEVER_BELOW (no value
-- below the threshold after infusion), NO_DATA (no value after infusion).
with infusions as (
    select infusion_key, patient_key, infusion_number, infusion_date, next_infusion_date
    from {{ ref('int_infusion_episodes') }}
    where is_infused
),
rules as (
    select * from {{ ref('recovery_rules') }}
),
series as (
    select
        l.infusion_key,
        l.analyte,
        l.lab_date,
        l.infusion_day,
        l.value,
        l.source_record_id,
        l.value >= r.min_value as is_above,
        r.consecutive_values
    from {{ ref('int_lab_daily') }} as l
    join rules as r on l.analyte = r.analyte
    where l.infusion_day >= 0
),
after_nadir as (
    select
        *,
        min(case when not is_above then infusion_day end) over (partition by infusion_key, analyte) as nadir_day
    from series
),
runs as (
    select
        *,
        -- a run of values above the threshold = the values after the same number of values below it (one
        -- window, one sort; infusion_day is unique per infusion and analyte)
        count(*) filter (where not is_above) over (partition by infusion_key, analyte order by infusion_day
                                                  rows between unbounded preceding and current row) as run_id
    from after_nadir
    where infusion_day > nadir_day
),
run_stats as (
    select
        infusion_key,
        analyte,
        run_id,
        min(lab_date) as run_start_date,
        arg_min(source_record_id, (lab_date, source_record_id)) filter (where lab_date is not null) as run_start_record_id,
        count(*) as run_length,
        any_value(consecutive_values) as consecutive_values
    from runs
    where is_above
    group by infusion_key, analyte, run_id
),
recovered as (
    select infusion_key, analyte,
           min(run_start_date) as recovery_date,
           arg_min(run_start_record_id, (run_start_date, run_start_record_id)) filter (where run_start_date is not null) as recovery_record_id
    from run_stats
    where run_length >= consecutive_values
    group by infusion_key, analyte
),
summary as (
    select infusion_key, analyte, count(*) as n_values, min(nadir_day) as nadir_day,
           min(value) as nadir_value
    from after_nadir
    group by infusion_key, analyte
)
select
    i.infusion_key || ':' || r.analyte as recovery_key,
    i.infusion_key,
    i.patient_key,
    i.infusion_number,
    i.infusion_date,
    r.analyte,
    r.min_value as threshold,
    cast(coalesce(s.n_values, 0) as integer) as n_values,
    cast(s.nadir_value as double) as nadir_value,
    case when rec.recovery_date < coalesce(i.next_infusion_date, date '9999-12-31') then rec.recovery_date end
        as recovery_date,
    case when rec.recovery_date < coalesce(i.next_infusion_date, date '9999-12-31') then rec.recovery_record_id end
        as recovery_record_id,
    cast(case when rec.recovery_date < coalesce(i.next_infusion_date, date '9999-12-31')
              then date_diff('day', i.infusion_date, rec.recovery_date) end as integer) as recovery_day,
    case
        when s.n_values is null then 'NO_DATA'
        when s.nadir_day is null then 'NEVER_BELOW'
        when rec.recovery_date < coalesce(i.next_infusion_date, date '9999-12-31') then 'RECOVERED'
        else 'NOT_RECOVERED'
    end as recovery_status
from infusions as i
cross join rules as r
left join summary as s on i.infusion_key = s.infusion_key and r.analyte = s.analyte
left join recovered as rec on i.infusion_key = rec.infusion_key and r.analyte = rec.analyte
