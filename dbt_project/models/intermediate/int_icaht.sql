-- Concept: immune effector cell-associated haematotoxicity (ICAHT) grade per infusion from the ANC lab series:
-- early (day 0-30) by the number of days at or below each ANC threshold, late (after day 30, through follow-up)
-- by the lowest ANC seen on at least two measurements; prolonged thrombocytopenia reported beside it.
-- Reference: EHA/EBMT consensus grading of ICAHT (Rejeski et al., Blood 2023;142(10):865-877): ICAHT grades
-- neutropenia only (depth and duration); thrombocytopenia is not part of the grade and is reported beside it
-- (late_plt_nadir, late_thrombocytopenia_flag; cut-off clinical_thresholds.late_thrombocytopenia_plt_below, from
-- the platelet extension, Blood 2025). Late ICAHT has no fixed end: it runs from icaht_late_start_day through
-- follow-up and is censored at relapse / progression or a new anticancer therapy or HCT (cytopenia after them is
-- not attributed to the CAR-T), and at the next CAR-T infusion (labs attach to it). Cut-offs in seed
-- icaht_grading and windows / counting rules in clinical_thresholds, marked "to verify against the paper".
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
    where analyte = 'ANC' and infusion_day >= 0
),
-- first relapse / progression or new therapy / HCT after the infusion: the end of late ICAHT
censor as (
    select
        i.infusion_key,
        least(min(p.progression_date), min(t.first_new_treatment_date)) as late_censor_date
    from infusions as i
    left join {{ ref('int_disease_progression') }} as p
        on p.patient_key = i.patient_key and p.progression_date > i.infusion_date
    left join {{ ref('int_subsequent_therapy') }} as t
        on t.patient_key = i.patient_key and t.first_new_treatment_date > i.infusion_date
    group by i.infusion_key
),
late_labs as (
    select l.infusion_key, l.analyte, l.infusion_day, l.value
    from {{ ref('int_lab_daily') }} as l
    join infusions as i on l.infusion_key = i.infusion_key
    join censor as c on l.infusion_key = c.infusion_key
    where l.analyte in ('ANC', 'PLT')
      and l.infusion_day >= {{ cfg('icaht_late_start_day') }}
      and (c.late_censor_date is null or i.infusion_date + cast(l.infusion_day as integer) < c.late_censor_date)
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
        -- an island = the values after the same number of values of the other kind (one sort for all windows)
        case when is_below then count(*) filter (where not is_below) over w
             else count(*) filter (where is_below) over w end as island
    from early
    window w as (partition by infusion_key, threshold order by infusion_day
                 rows between unbounded preceding and current row),
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
        analyte,
        value,
        row_number() over (partition by infusion_key, analyte order by value, infusion_day) as value_rank
    from late_labs
),
late_nadir as (
    -- the lowest count seen on at least N measurements = the N-th lowest value
    select infusion_key,
           max(value) filter (where analyte = 'ANC') as late_anc_nadir,
           max(value) filter (where analyte = 'PLT') as late_plt_nadir
    from late_values
    where value_rank = {{ cfg('icaht_late_min_measurements') }}
    group by infusion_key
),
late_grade as (
    select n.infusion_key, n.late_anc_nadir, max(g.grade) as icaht_late_grade
    from late_nadir as n
    left join {{ ref('icaht_grading') }} as g
        on g.phase = 'LATE' and n.late_anc_nadir <= g.anc_max
    where n.late_anc_nadir is not null
    group by n.infusion_key, n.late_anc_nadir
),
-- first late ANC at or below the grade-1 cut-off: onset of late ICAHT
late_onset as (
    select l.infusion_key, min(l.infusion_day) as late_onset_day
    from late_labs as l
    where l.analyte = 'ANC'
      and l.value <= (select max(anc_max) from {{ ref('icaht_grading') }} where phase = 'LATE')
    group by l.infusion_key
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
    cast(i.infusion_date + cast(lo.late_onset_day as integer) as date) as late_onset_date,
    ce.late_censor_date,
    cast(ln.late_plt_nadir as double) as late_plt_nadir,
    ln.late_plt_nadir < {{ cfg('late_thrombocytopenia_plt_below') }} as late_thrombocytopenia_flag,
    'EHA/EBMT ICAHT (Rejeski, Blood 2023;142:865; cut-offs to verify)' as grading_standard
from infusions as i
cross join grade_threshold as gt
left join counted as main on i.infusion_key = main.infusion_key and main.threshold = gt.main_threshold
left join counted as deep on i.infusion_key = deep.infusion_key and deep.threshold = gt.deep_threshold
left join early_grade as eg on i.infusion_key = eg.infusion_key
left join late_grade as lg on i.infusion_key = lg.infusion_key
left join late_nadir as ln on i.infusion_key = ln.infusion_key
left join late_onset as lo on i.infusion_key = lo.infusion_key
left join censor as ce on i.infusion_key = ce.infusion_key
