-- Concept: immune effector cell-associated haematotoxicity (ICAHT) grade per infusion from the ANC lab series:
-- early (day 0-30) by the number of days at or below each ANC threshold, late (after day 30) by the lowest ANC
-- seen on at least two measurements.
-- Reference: EHA/EBMT ICAHT grading (Rejeski et al., Blood 2023;142:865); cut-offs in seed icaht_grading and
-- windows / counting rules in clinical_thresholds, all marked "to verify against the paper" (registry brief §3).
-- Counting rule: each measurement holds from its day until the next measurement of the series (the last one
-- counts for its own day only: no extrapolation past the data); days up to icaht_early_end_day are counted;
-- a stretch above the threshold shorter than icaht_transient_recovery_days that is followed by another value at
-- or below it does not stop the count (it counts as below).
with infusions as (
    select infusion_key, patient_key, infusion_number, infusion_date
    from {{ ref('int_infusion_episodes') }}
    where is_infused
),
anc as (
    select infusion_key, infusion_day, value
    from {{ ref('int_lab_daily') }}
    where analyte = 'ANC' and infusion_day >= 0 and infusion_day <= {{ cfg('icaht_late_end_day') }}
),
thresholds as (
    select distinct anc_max as threshold from {{ ref('icaht_grading') }} where phase = 'EARLY'
),
series as (
    select
        a.infusion_key,
        t.threshold,
        a.infusion_day,
        a.value,
        a.value <= t.threshold as is_below,
        lead(a.infusion_day) over (partition by a.infusion_key, t.threshold order by a.infusion_day) as next_day
    from anc as a
    cross join thresholds as t
),
early as (
    select
        *,
        least(coalesce(next_day, infusion_day + 1), {{ cfg('icaht_early_end_day') }} + 1) - infusion_day
            as held_days
    from series
    where infusion_day <= {{ cfg('icaht_early_end_day') }}
),
islands as (
    select
        *,
        sum(case when is_below then 1 else 0 end) over w_rev as belows_after,
        row_number() over w - row_number() over (partition by infusion_key, threshold, is_below
                                                 order by infusion_day) as island
    from early
    window w as (partition by infusion_key, threshold order by infusion_day),
           w_rev as (partition by infusion_key, threshold order by infusion_day
                     rows between 1 following and unbounded following)
),
island_span as (
    select
        *,
        sum(held_days) over (partition by infusion_key, threshold, is_below, island) as island_days,
        min(belows_after) over (partition by infusion_key, threshold, is_below, island) as belows_after_island
    from islands
),
counted as (
    select
        infusion_key,
        threshold,
        sum(case
            when is_below then held_days
            when island_days < {{ cfg('icaht_transient_recovery_days') }} and belows_after_island > 0
                then held_days
            else 0 end) as days_below,
        min(case when is_below then infusion_day end) as first_below_day,
        count(*) as n_values
    from island_span
    group by infusion_key, threshold
),
early_grade as (
    select
        c.infusion_key,
        max(g.grade) as icaht_early_grade
    from counted as c
    join {{ ref('icaht_grading') }} as g
        on g.phase = 'EARLY' and g.anc_max = c.threshold and c.days_below >= g.min_days
    group by c.infusion_key
),
late_values as (
    select
        infusion_key,
        value,
        row_number() over (partition by infusion_key order by value) as value_rank
    from anc
    where infusion_day between {{ cfg('icaht_late_start_day') }} and {{ cfg('icaht_late_end_day') }}
),
late_nadir as (
    -- the lowest ANC seen on at least N measurements = the N-th lowest value
    select infusion_key, value as late_anc_nadir
    from late_values
    where value_rank = {{ cfg('icaht_late_min_measurements') }}
),
late_grade as (
    select n.infusion_key, n.late_anc_nadir, max(g.grade) as icaht_late_grade
    from late_nadir as n
    left join {{ ref('icaht_grading') }} as g
        on g.phase = 'LATE' and n.late_anc_nadir <= g.anc_max
    group by n.infusion_key, n.late_anc_nadir
),
grade_threshold as (
    select min(anc_max) filter (where phase = 'EARLY') as deep_threshold,
           max(anc_max) filter (where phase = 'EARLY') as main_threshold
    from {{ ref('icaht_grading') }}
)
select
    i.infusion_key,
    i.patient_key,
    i.infusion_number,
    i.infusion_date,
    cast(coalesce(main.n_values, 0) as integer) as n_anc_values_early,
    cast(main.days_below as integer) as days_anc_le_main_threshold,
    cast(deep.days_below as integer) as days_anc_le_deep_threshold,
    cast(case when main.n_values is null then null else coalesce(eg.icaht_early_grade, 0) end as integer)
        as icaht_early_grade,
    cast(i.infusion_date + cast(main.first_below_day as integer) as date) as early_onset_date,
    cast(lg.late_anc_nadir as double) as late_anc_nadir,
    cast(case when lg.infusion_key is null then null else coalesce(lg.icaht_late_grade, 0) end as integer)
        as icaht_late_grade,
    'EHA/EBMT ICAHT (Rejeski, Blood 2023;142:865; cut-offs to verify)' as grading_standard
from infusions as i
cross join grade_threshold as gt
left join counted as main on i.infusion_key = main.infusion_key and main.threshold = gt.main_threshold
left join counted as deep on i.infusion_key = deep.infusion_key and deep.threshold = gt.deep_threshold
left join early_grade as eg on i.infusion_key = eg.infusion_key
left join late_grade as lg on i.infusion_key = lg.infusion_key
