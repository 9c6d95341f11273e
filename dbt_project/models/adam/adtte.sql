-- Concept: ADaM time-to-event analysis dataset (ADTTE), one row per patient, index infusion and parameter.
-- Reference: CDISC ADaM BDS-TTE (CNSR 0 = event, 1 = censored; 2 = competing event for NRM, RELAPSE, SPM,
-- SPM_TCELL, ANC_REC, PLT_REC); registry brief §4; CIBMTR relapse / NRM conventions. Endpoint definitions:
-- docs block adtte_endpoints (models/adam/endpoints.md), rendered as the model description in dbt docs.
-- STARTDT = first infusion (day 0) for every parameter except OS_ITT (CAR-T order date). AVAL = ADT - STARTDT in
-- days. Only dates on or before the data cut-off count (int_endpoint_events applies the cut-off).
--   REL = first progression / relapse after day 0, else a death from the treated disease (a non-NRM cause) when no
--         progression was recorded (death from disease implies progression).
--   OS       event: death (any cause)                      censored: last contact
--   OS_ITT   as OS, from the CAR-T order date; includes ordered-but-never-infused patients
--   PFS      event: min(REL, death)                        censored: last disease assessment (day 0 if none);
--            subsequent therapy / HCT do NOT censor (treatment-policy estimand; dates are in adsl / timeline)
--   NRM      event: death with no REL on or before it      competing (2): REL             censored: last contact
--   RELAPSE  event: REL (on or before death)               competing (2): non-relapse death; censored: last contact
--   SPM      event: first new malignancy on/after day 0    competing (2): death without SPM; censored: last contact
--   SPM_TCELL as SPM, T-cell malignancies only
--   ANC_REC / PLT_REC event: recovery (CIBMTR rule; NEVER_BELOW = event at day 0); competing: death; censored:
--            last contact
-- ENTRYT = days from STARTDT to registry enrolment when the patient enrolled later, else 0 (left truncation).
with p as (
    select
        *,
        coalesce(progression_date,
                 case when death_date is not null and not death_is_nrm_cause then death_date end) as rel_date,
        case when progression_date is not null then 'PROGRESSION OR RELAPSE'
             when death_date is not null and not death_is_nrm_cause then 'DEATH FROM TREATED DISEASE'
        end as rel_desc
    from {{ ref('int_endpoint_events') }}
),
inf as (
    select * from p where is_infused and index_infusion_date <= data_cutoff
),
params as (
    -- OS
    select patient_key, 'OS' as paramcd, 'Overall survival from first infusion' as param,
           index_infusion_date as startdt,
           coalesce(death_date, last_contact_date) as adt,
           case when death_date is not null then 0 else 1 end as cnsr,
           case when death_date is not null then 'DEATH' end as evntdesc,
           case when death_date is null then 'LAST CONTACT' end as cnsdtdsc
    from inf
    union all
    -- OS_ITT
    select patient_key, 'OS_ITT', 'Overall survival from CAR-T order (intention to treat)', itt_start_date,
           coalesce(death_date, last_contact_date),
           case when death_date is not null then 0 else 1 end,
           case when death_date is not null then 'DEATH' end,
           case when death_date is null then 'LAST CONTACT' end
    from p
    where itt_start_date <= data_cutoff
    union all
    -- PFS
    select patient_key, 'PFS', 'Progression-free survival from first infusion', index_infusion_date,
           case when rel_date is not null or death_date is not null then least(rel_date, death_date)
                else greatest(coalesce(last_disease_assessment_date, index_infusion_date), index_infusion_date) end,
           case when rel_date is not null or death_date is not null then 0 else 1 end,
           case when rel_date is not null and (death_date is null or rel_date <= death_date) then rel_desc
                when death_date is not null then 'DEATH' end,
           case when rel_date is null and death_date is null then
                case when last_disease_assessment_date is null then 'NO DISEASE ASSESSMENT AFTER INFUSION'
                     else 'LAST DISEASE ASSESSMENT' end end
    from inf
    union all
    -- NRM
    select patient_key, 'NRM', 'Non-relapse mortality', index_infusion_date,
           case when rel_date is not null and (death_date is null or rel_date <= death_date) then rel_date
                when death_date is not null then death_date
                else last_contact_date end,
           case when rel_date is not null and (death_date is null or rel_date <= death_date) then 2
                when death_date is not null then 0
                else 1 end,
           case when rel_date is not null and (death_date is null or rel_date <= death_date)
                    then 'COMPETING: ' || rel_desc
                when death_date is not null then 'NON-RELAPSE DEATH' end,
           case when rel_date is null and death_date is null then 'LAST CONTACT' end
    from inf
    union all
    -- RELAPSE
    select patient_key, 'RELAPSE', 'Relapse or progression (cumulative incidence)', index_infusion_date,
           case when rel_date is not null and (death_date is null or rel_date <= death_date) then rel_date
                when death_date is not null then death_date
                else last_contact_date end,
           case when rel_date is not null and (death_date is null or rel_date <= death_date) then 0
                when death_date is not null then 2
                else 1 end,
           case when rel_date is not null and (death_date is null or rel_date <= death_date) then rel_desc
                when death_date is not null then 'COMPETING: NON-RELAPSE DEATH' end,
           case when rel_date is null and death_date is null then 'LAST CONTACT' end
    from inf
    union all
    -- SPM
    select patient_key, 'SPM', 'Secondary (new) malignancy', index_infusion_date,
           case when first_spm_date is not null and (death_date is null or first_spm_date <= death_date)
                    then first_spm_date
                when death_date is not null then death_date else last_contact_date end,
           case when first_spm_date is not null and (death_date is null or first_spm_date <= death_date) then 0
                when death_date is not null then 2 else 1 end,
           case when first_spm_date is not null and (death_date is null or first_spm_date <= death_date)
                    then 'NEW MALIGNANCY'
                when death_date is not null then 'COMPETING: DEATH' end,
           case when first_spm_date is null and death_date is null then 'LAST CONTACT' end
    from inf
    union all
    -- SPM_TCELL
    select patient_key, 'SPM_TCELL', 'Secondary T-cell malignancy', index_infusion_date,
           case when first_tcell_spm_date is not null
                     and (death_date is null or first_tcell_spm_date <= death_date) then first_tcell_spm_date
                when death_date is not null then death_date else last_contact_date end,
           case when first_tcell_spm_date is not null
                     and (death_date is null or first_tcell_spm_date <= death_date) then 0
                when death_date is not null then 2 else 1 end,
           case when first_tcell_spm_date is not null
                     and (death_date is null or first_tcell_spm_date <= death_date) then 'NEW T-CELL MALIGNANCY'
                when death_date is not null then 'COMPETING: DEATH' end,
           case when first_tcell_spm_date is null and death_date is null then 'LAST CONTACT' end
    from inf
    union all
    -- ANC_REC and PLT_REC
    select patient_key, x.paramcd, x.param, index_infusion_date,
           case when x.status = 'NEVER_BELOW' then index_infusion_date
                when x.rec_date is not null then x.rec_date
                when death_date is not null then death_date else last_contact_date end,
           case when x.status = 'NEVER_BELOW' or x.rec_date is not null then 0
                when death_date is not null then 2 else 1 end,
           case when x.status = 'NEVER_BELOW' then 'NEVER BELOW THRESHOLD'
                when x.rec_date is not null then 'RECOVERY'
                when death_date is not null then 'COMPETING: DEATH' end,
           case when x.status <> 'NEVER_BELOW' and x.rec_date is null and death_date is null then
                case when x.status = 'NO_DATA' then 'LAST CONTACT (NO COUNTS)' else 'LAST CONTACT' end end
    from inf
    cross join lateral (
        select 'ANC_REC' as paramcd, 'Neutrophil recovery (ANC >= 0.5 x10^9/L, CIBMTR)' as param,
               anc_recovery_date as rec_date, anc_recovery_status as status
        union all
        select 'PLT_REC', 'Platelet recovery (>= 20 x10^9/L, CIBMTR)', plt_recovery_date, plt_recovery_status
    ) as x
)
select
    'KOCARTR' as STUDYID,
    a.patient_key as USUBJID,
    p.site_code as SITEID,
    case when a.paramcd = 'OS_ITT' and not p.is_infused then null else p.index_infusion_number end as INFNUM,
    a.paramcd as PARAMCD,
    a.param as PARAM,
    a.startdt as STARTDT,
    a.adt as ADT,
    cast(date_diff('day', a.startdt, a.adt) as double) as AVAL,
    'DAYS' as AVALU,
    cast(a.cnsr as integer) as CNSR,
    a.evntdesc as EVNTDESC,
    a.cnsdtdsc as CNSDTDSC,
    cast(greatest(coalesce(date_diff('day', a.startdt, p.enrolment_date), 0), 0) as double) as ENTRYT,
    p.product_code as PRODUCT,
    p.disease_group as DISGRP,
    p.infusion_year as INFYEAR
from params as a
join p on a.patient_key = p.patient_key
