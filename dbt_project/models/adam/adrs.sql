-- Concept: ADaM response analysis dataset (ADRS, BDS): best overall response of the index infusion within each
-- response window (seed response_landmarks: day 30, 90, 180, 365), one row per infused patient and window, with
-- the CR / responder flags (CR rate = share of CRFL = 'Y') and the response dates.
-- Reference: CDISC ADaM BDS (ADaMIG v1.3; PARAMCD / AVALC / AVISIT / ADT); Lugano 2014, IMWG 2016, ALL CR/CRi;
-- CIBMTR 4100 best response. The best response is marts.fct_best_response (from int_best_response, the one
-- definition shared with the marts and the HIRA view; endpoints.md "Best overall response"). No qualifying assessment: AVALC = 'NE' (not evaluable),
-- EVALFL = 'N' - never counted as a non-response.
with idx as (
    select * from {{ ref('fct_infusion') }} where is_index_infusion
)
select
    'KOCARTR' as STUDYID,
    b.patient_key as USUBJID,
    i.site_code as SITEID,
    cast(b.infusion_number as integer) as INFNUM,
    'BOR' as PARAMCD,
    'Best overall response by the window' as PARAM,
    b.landmark as AVISIT,
    cast(b.landmark_day as integer) as AVISITN,
    coalesce(b.best_response, 'NE') as AVALC,
    cast(b.response_rank as integer) as AVAL,
    b.response_criteria as RSCRIT,
    b.best_response_date as ADT,
    cast(date_diff('day', i.infusion_date, b.best_response_date) as integer) as ADY,
    i.infusion_date as TRTSDT,
    case when b.best_response is not null then 'Y' else 'N' end as EVALFL,
    case when b.is_window_complete then 'Y' else 'N' end as WINDCMFL,
    case when coalesce(b.is_complete_response, false) then 'Y' else 'N' end as CRFL,
    case when coalesce(b.is_responder, false) then 'Y' else 'N' end as RSPFL,
    b.first_response_date as FRSPDT,
    i.product_code as PRODUCT,
    i.disease_group as DISGRP,
    cast(year(i.infusion_date) as integer) as INFYEAR,
    b.source_record_id as SRCREC
from {{ ref('fct_best_response') }} as b
join idx as i on b.infusion_key = i.infusion_key
where i.infusion_date <= b.data_cutoff
