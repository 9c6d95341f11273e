-- Concept: B-cell aplasia and hypogammaglobulinaemia after each infusion (on-target off-tumour effect of CD19 /
-- BCMA CAR-T), with IVIG use reported on follow-up.
-- Reference: registry brief §3 (no consensus: raw values stored, flags derived with configurable thresholds):
-- hypogammaglobulinaemia IgG < clinical_thresholds.igg_hypogamma_max (400 mg/dL, common IVIG threshold);
-- B-cell aplasia CD19+ B cells < clinical_thresholds.bcell_aplasia_max (unverified registry choice).
with infusions as (
    select infusion_key, patient_key, infusion_number, infusion_date
    from {{ ref('int_infusion_episodes') }}
    where is_infused
),
labs as (
    select infusion_key, analyte, lab_date, value
    from {{ ref('int_lab_daily') }}
    where analyte in ('CD19_B_CELLS', 'IGG') and infusion_day >= 0
),
bcell as (
    select
        infusion_key,
        count(*) as n_cd19_values,
        min(lab_date) filter (where value < {{ cfg('bcell_aplasia_max') }}) as first_bcell_aplasia_date,
        max(lab_date) filter (where value < {{ cfg('bcell_aplasia_max') }}) as last_bcell_aplasia_date
    from labs where analyte = 'CD19_B_CELLS'
    group by infusion_key
),
bcell_recovery as (
    select l.infusion_key, min(l.lab_date) as bcell_recovery_date
    from labs as l
    join bcell as b on l.infusion_key = b.infusion_key
    where l.analyte = 'CD19_B_CELLS' and l.value >= {{ cfg('bcell_aplasia_max') }}
      and l.lab_date > b.first_bcell_aplasia_date
    group by l.infusion_key
),
igg as (
    select
        infusion_key,
        count(*) as n_igg_values,
        min(value) as min_igg,
        min(lab_date) filter (where value < {{ cfg('igg_hypogamma_max') }}) as first_hypogamma_date
    from labs where analyte = 'IGG'
    group by infusion_key
),
ivig as (
    select f.patient_key, bool_or(f.ivig = 'Y') as ivig_reported
    from {{ ref('stg_followup') }} as f
    group by f.patient_key
)
select
    i.infusion_key,
    i.patient_key,
    i.infusion_number,
    i.infusion_date,
    cast(coalesce(b.n_cd19_values, 0) as integer) as n_cd19_values,
    b.first_bcell_aplasia_date is not null as bcell_aplasia_flag,
    b.first_bcell_aplasia_date,
    b.last_bcell_aplasia_date,
    r.bcell_recovery_date,
    cast(coalesce(g.n_igg_values, 0) as integer) as n_igg_values,
    cast(g.min_igg as double) as min_igg,
    g.first_hypogamma_date is not null as hypogamma_flag,
    g.first_hypogamma_date,
    coalesce(v.ivig_reported, false) as ivig_reported
from infusions as i
left join bcell as b on i.infusion_key = b.infusion_key
left join bcell_recovery as r on i.infusion_key = r.infusion_key
left join igg as g on i.infusion_key = g.infusion_key
left join ivig as v on i.patient_key = v.patient_key
