-- Concept: ADaM time-to-event analysis dataset (ADTTE), one row per patient, index infusion and parameter.
-- Reference: CDISC ADaM BDS-TTE (ADaMIG; ADaM BDS for time-to-event analyses): CNSR = 0 event, 1 censored;
-- EVNTDESC / CNSDTDSC say what happened. A competing event is neither: CNSR is NULL, CMPEVFL = 'Y' and CMPEVDSC
-- describes it (endpoints.md "Encoding"). Registry brief §4; CIBMTR relapse / NRM conventions; endpoint
-- definitions: docs block adtte_endpoints (models/adam/endpoints.md), rendered as the model description.
-- STARTDT = first infusion (day 0) for every parameter except OS_ITT (CAR-T order date) and DOR (first PR-or-better
-- response). AVAL = ADT - STARTDT in days. Only dates on or before the data cut-off count (marts.fct_endpoint_events).
--   REL = first progression / relapse after day 0, else a death from the treated disease (a non-NRM cause) when no
--         progression was recorded (death from disease implies progression).
--   One censoring rule for PFS, NRM, RELAPSE (so 1 - PFS = RELAPSE + NRM), EFS and DOR: last contact (LC); when
--            censoring where status is known, a linkage-only death after the last site contact is censored there.
--   OS       event: death (any cause)                      censored: LC
--   OS_LC / OS_LNK  OS censored at last contact / where vital status is known (national death linkage complete
--            through date C: alive through C, a death after C censored at C; last contact when C is before day 0
--            or no linkage). OS follows cfg('os_censor_at_linkage_completeness'); see os_rules below.
--   OS_ITT   as OS (the same configured rule, os_rules), from the CAR-T order date; includes ordered-but-never-
--            infused patients (the death linkage covers every registered patient)
--   PFS      event: min(REL, death)                        censored: LC
--   NRM      event: death with no REL on or before it      competing: REL             censored: LC
--   RELAPSE  event: REL (on or before death)               competing: non-relapse death; censored: LC
--   EFS      (ALL only) event: treatment failure (no CR/CRi by the remission window) at day 0, else min(REL, death)
--   DOR      (responders by day 180) from the first PR-or-better response: event min(REL, death); censored: LC
--   SPM      event: first new malignancy on/after day 0    competing: death without SPM; censored: LC; when
--            censoring where status is known, linkage cancers count too and the censoring date is the earlier of
--            the cancer and death registries' completeness dates (spm_rules below)
--   SPM_TCELL as SPM, T-cell malignancies only (ICD-O-3 morphology: seed icdo3_tcell_morphology)
--   ANC_REC / PLT_REC event: recovery (CIBMTR rule; NEVER_BELOW = event at day 0); competing: death; censored: LC
-- ENTRYT = days from STARTDT to registry enrolment when the patient enrolled later, else 0 (left truncation).
-- PREENTFL = 'Y' when the event or competing event happened on or before entry (ENTRYT > 0, AVAL <= ENTRYT):
-- kept for transparency, excluded by every estimator (endpoints.md "Delayed entry").
with known as (
    -- Disease status (relapse) is known only through site follow-up: under the rule that censors where status is
    -- known (cfg os_censor_at_linkage_completeness), a death only the national linkage found, dated after the last
    -- site contact proving the patient alive, is not counted by PFS, NRM, RELAPSE, EFS or DOR, which are censored
    -- at that contact instead (endpoints.md "Censoring where status is known").
    select e.*,
           coalesce(oc.os_uses_linkage and not e.death_site_reported and e.death_date > e.last_alive_date, false)
               as dz_death_unknown
    from {{ ref('fct_endpoint_events') }} as e
    cross join {{ ref('dim_os_censoring') }} as oc
),
p as (
    select
        * exclude (dz_death_unknown),
        case when not dz_death_unknown then death_date end as dz_death_date,
        case when dz_death_unknown then last_alive_date else last_contact_date end as dz_last_contact_date,
        coalesce(progression_date,
                 case when death_date is not null and not death_is_nrm_cause and not dz_death_unknown
                      then death_date end) as rel_date,
        case when progression_date is not null then 'PROGRESSION OR RELAPSE'
             when death_date is not null and not death_is_nrm_cause and not dz_death_unknown
             then 'DEATH FROM TREATED DISEASE'
        end as rel_desc
    from known
),
inf as (
    select
        *,
        -- REL on or before death wins (a relapse on the day of death is a relapse)
        rel_date is not null and (dz_death_date is null or rel_date <= dz_death_date) as rel_first,
        least(rel_date, dz_death_date) as pfs_event_date
    from p where is_infused and index_infusion_date <= data_cutoff
),
-- Censoring where vital status is known (the one place OS censoring is chosen, OS_ITT included): admin_date = the
-- national death linkage's completeness date when the rule uses it and it is on or after the parameter's start
-- (first infusion; the CAR-T order for OS_ITT), else NULL (last contact). The linkage returns the deaths of every
-- registered patient, infused or not (int_death_sources), so OS_ITT's never-infused patients are covered too.
os_rules as (
    select s.*, r.paramcd, r.param,
           case when coalesce(r.uses_linkage, oc.os_uses_linkage) and oc.death_complete_through >= s.startdt
                then oc.death_complete_through end as admin_date
    from (
        select patient_key, death_date, last_contact_date, index_infusion_date as startdt, false as itt from inf
        union all
        select patient_key, death_date, last_contact_date, itt_start_date, true from p
        where itt_start_date <= data_cutoff
    ) as s
    cross join {{ ref('dim_os_censoring') }} as oc
    join (
        select 'OS' as paramcd, 'Overall survival from first infusion' as param,
               cast(null as boolean) as uses_linkage, false as itt
        union all select 'OS_LC', 'Overall survival from first infusion, censored at last contact', false, false
        union all select 'OS_LNK', 'Overall survival from first infusion, censored where vital status is known', true,
                         false
        union all select 'OS_ITT', 'Overall survival from CAR-T order (intention to treat)', null, true
    ) as r on r.itt = s.itt  -- uses_linkage NULL: the parameter follows the configuration
    -- the two explicit variants exist once a linkage return states its completeness (else both equal OS)
    where r.paramcd in ('OS', 'OS_ITT') or oc.death_complete_through is not null
),
-- Censoring where cancer status is known (SPM, SPM_TCELL): under the same configuration, linkage cancers count
-- beside the site-reported malignancies (the earlier date), and a patient is censored at admin_date = the earlier
-- of the cancer registry's and the death data's completeness dates when it is on or after day 0 (alive and free of
-- a new cancer is known only through both); an event or death after it is censored there. Otherwise (last-contact
-- rule, or no such date) site-reported malignancies, censored at last contact, as before.
spm_known as (
    select i.*, r.paramcd, r.param, r.evntdesc,
           case when oc.os_uses_linkage then least(r.site_date, r.linkage_date) else r.site_date end as ev_date,
           case when oc.os_uses_linkage and oc.spm_complete_through >= i.index_infusion_date
                then oc.spm_complete_through end as admin_date
    from inf as i
    cross join {{ ref('dim_os_censoring') }} as oc
    cross join lateral (
        select 'SPM' as paramcd, 'Secondary (new) malignancy' as param, 'NEW MALIGNANCY' as evntdesc,
               i.first_spm_date as site_date, i.first_linkage_spm_date as linkage_date
        union all
        select 'SPM_TCELL', 'Secondary T-cell malignancy', 'NEW T-CELL MALIGNANCY', i.first_tcell_spm_date,
               i.first_linkage_tcell_spm_date
    ) as r
),
spm_rules as (
    select *,
           case when admin_date is null or ev_date <= admin_date then ev_date end as spm_event_date,
           case when admin_date is null or death_date <= admin_date then death_date end as spm_death_date,
           coalesce(admin_date, last_contact_date) as spm_censor_date
    from spm_known
),
-- status: 'E' event, 'C' censored, 'X' competing event; every competing-risk parameter goes through the one
-- macro competing_risk (macros/competing_risk.sql)
params as (
    select patient_key, paramcd, param, startdt,
           case when admin_date is null then coalesce(death_date, last_contact_date)
                when death_date <= admin_date then death_date else admin_date end as adt,
           case when death_date is not null and (admin_date is null or death_date <= admin_date) then 'E'
                else 'C' end as status,
           'DEATH' as evntdesc, cast(null as varchar) as cmpevdsc
    from os_rules
    union all
    select patient_key, 'PFS', 'Progression-free survival from first infusion', index_infusion_date,
           coalesce(pfs_event_date, dz_last_contact_date),
           case when pfs_event_date is not null then 'E' else 'C' end,
           case when rel_first then rel_desc else 'DEATH' end, null
    from inf
    union all
    select patient_key, 'NRM', 'Non-relapse mortality', index_infusion_date,
           {{ competing_risk('dz_death_date', competing_date='rel_date', tie='competing',
                             censor_date='dz_last_contact_date') }},
           'NON-RELAPSE DEATH', rel_desc
    from inf
    union all
    select patient_key, 'RELAPSE', 'Relapse or progression (cumulative incidence)', index_infusion_date,
           {{ competing_risk('rel_date', competing_date='dz_death_date', censor_date='dz_last_contact_date') }},
           rel_desc, 'NON-RELAPSE DEATH'
    from inf
    union all
    select patient_key, 'EFS', 'Event-free survival from first infusion (ALL)', index_infusion_date,
           case when x.failure then index_infusion_date else coalesce(pfs_event_date, dz_last_contact_date) end,
           case when x.failure or pfs_event_date is not null then 'E' else 'C' end,
           case when x.failure then 'TREATMENT FAILURE (NO CR/CRI BY DAY ' || cast(remission_window_day as varchar)
                                    || ')'
                when rel_first then rel_desc else 'DEATH' end,
           null
    from inf
    cross join lateral (
        -- no CR/CRi by the window, known once the window has ended or a relapse / death came within it
        select not cr_by_remission_window
               and (remission_window_complete
                    or pfs_event_date <= index_infusion_date + remission_window_day) as failure
    ) as x
    where disease_group = 'ALL'
    union all
    select patient_key, 'DOR', 'Duration of response (responders by day 180)', first_response_date,
           greatest(coalesce(pfs_event_date, dz_last_contact_date), first_response_date),
           case when pfs_event_date is not null then 'E' else 'C' end,
           case when rel_first then rel_desc else 'DEATH' end, null
    from inf
    where responder_by_d180 and first_response_date is not null
    union all
    select patient_key, paramcd, param, index_infusion_date,
           {{ competing_risk('spm_event_date', competing_date='spm_death_date', censor_date='spm_censor_date') }},
           evntdesc, 'DEATH'
    from spm_rules
    union all
    select patient_key, x.paramcd, x.param, index_infusion_date,
           {{ competing_risk("case when x.status = 'NEVER_BELOW' then index_infusion_date else x.rec_date end",
                             tie='always') }},
           case when x.status = 'NEVER_BELOW' then 'NEVER BELOW THRESHOLD' else 'RECOVERY' end,
           'DEATH'
    from inf
    cross join lateral (
        select 'ANC_REC' as paramcd, 'Neutrophil recovery (ANC >= 0.5 x10^9/L, CIBMTR)' as param,
               anc_recovery_date as rec_date, anc_recovery_status as status
        union all
        select 'PLT_REC', 'Platelet recovery (>= 20 x10^9/L, CIBMTR)', plt_recovery_date, plt_recovery_status
    ) as x
),
timed as (
    select
        a.*,
        p.*,
        cast(date_diff('day', a.startdt, a.adt) as double) as aval,
        cast(greatest(coalesce(date_diff('day', a.startdt, p.enrolment_date), 0), 0) as double) as entryt,
        oc.death_complete_through,
        oc.cancer_complete_through,
        oc.spm_complete_through,
        oc.os_uses_linkage
    from params as a
    join p on a.patient_key = p.patient_key
    cross join {{ ref('dim_os_censoring') }} as oc
)
select
    'KOCARTR' as STUDYID,
    t.patient_key as USUBJID,
    t.site_code as SITEID,
    case when t.paramcd = 'OS_ITT' and not t.is_infused then null else t.index_infusion_number end as INFNUM,
    t.paramcd as PARAMCD,
    t.param as PARAM,
    t.startdt as STARTDT,
    t.adt as ADT,
    t.aval as AVAL,
    'DAYS' as AVALU,
    cast(case t.status when 'E' then 0 when 'C' then 1 end as integer) as CNSR,
    case when t.status = 'E' then t.evntdesc end as EVNTDESC,
    case when t.status = 'C' then
        case when t.paramcd in ('OS', 'OS_ITT', 'OS_LNK') and t.adt = t.death_complete_through
                  and (t.paramcd = 'OS_LNK' or t.os_uses_linkage)
             then 'ALIVE THROUGH LINKAGE COMPLETENESS'
             -- SPM where cancer status is known: censored at the earlier of the two registries' completeness dates
             when t.paramcd in ('SPM', 'SPM_TCELL') and t.os_uses_linkage and t.spm_complete_through >= t.startdt
             then case when t.cancer_complete_through <= t.death_complete_through
                       then 'CANCER REGISTRY COMPLETENESS' else 'DEATH REGISTRY COMPLETENESS' end
             -- a death only the linkage found after the last site contact: censored at that contact, patient dead
             when t.paramcd in ('PFS', 'NRM', 'RELAPSE', 'EFS', 'DOR') and t.death_date is not null
                  and t.dz_death_date is null
             then 'LAST SITE CONTACT (LATER DEATH KNOWN ONLY FROM NATIONAL LINKAGE)'
             when t.paramcd in ('ANC_REC', 'PLT_REC')
                  and (t.paramcd = 'ANC_REC' and t.anc_recovery_status = 'NO_DATA'
                       or t.paramcd = 'PLT_REC' and t.plt_recovery_status = 'NO_DATA')
             then 'LAST CONTACT (NO COUNTS)' else 'LAST CONTACT' end
    end as CNSDTDSC,
    case when t.status = 'X' then 'Y' else 'N' end as CMPEVFL,
    case when t.status = 'X' then 'COMPETING: ' || t.cmpevdsc end as CMPEVDSC,
    t.entryt as ENTRYT,
    case when t.entryt > 0 and t.aval <= t.entryt and t.status in ('E', 'X') then 'Y' else 'N' end as PREENTFL,
    case when t.entryt > 0 and t.aval <= t.entryt and t.status in ('E', 'X') then
        case t.status when 'E' then 'EVENT' else 'COMPETING EVENT' end
        || ' ON OR BEFORE REGISTRY ENROLMENT (LEFT TRUNCATION): NOT AT RISK IN THE REGISTRY; EXCLUDED FROM ESTIMATES'
    end as PREENTRS,
    t.product_code as PRODUCT,
    t.disease_group as DISGRP,
    t.infusion_year as INFYEAR
from timed as t
