-- Concept: best overall response within each response window after an infusion (windows in the seed
-- response_landmarks, data/config/response_landmarks.csv), one row per infusion and window, and the first
-- documented PR-or-better response (the start of duration of response). THE one best-response definition:
-- fct_response, fct_infusion, adam.adrs and the release's HIRA view all read it.
-- Reference: Lugano 2014 (lymphoma), IMWG 2016 (myeloma), CR/CRi with MRD (ALL); CIBMTR 4100 best response;
-- endpoint spec (endpoints.md, "Best overall response"). Best = lowest dictionary rank (code-list attribute
-- response.rank) among the response-form assessments with day 0 < assessment day <= window, dated on or before
-- the data cut-off, excluding NE, and only those on or before the first progression (PD / RELAPSE on the
-- response form or a follow-up progression date) and before the first subsequent anticancer therapy or HCT after
-- the infusion: a response to later therapy is not a response to CAR-T; PD is the best response when nothing
-- better came before it. No qualifying assessment: best response missing (not evaluable), not a non-response.
-- A second CAR-T infusion does not end the windows of the first (re-infusion does not restart the clock).
with cutoff as (
    select data_cutoff from {{ ref('int_data_cutoff') }}
),
infusions as (
    select e.infusion_key, e.patient_key, e.infusion_number, e.infusion_date
    from {{ ref('int_infusion_episodes') }} as e
    where e.is_infused
),
limits as (
    -- first progression and first new treatment after each infusion, as reported by the cut-off
    select
        i.infusion_key,
        (select min(a.event_date) from {{ ref('int_disease_assessments') }} as a
         where a.patient_key = i.patient_key and a.kind = 'PROGRESSION' and a.event_date > i.infusion_date
           and a.event_date <= c.data_cutoff) as first_progression_date,
        (select min(t.d) from (
            select f.subsequent_therapy_date as d from {{ ref('stg_followup') }} as f
            where f.patient_key = i.patient_key and f.subsequent_therapy = 'Y'
            union all
            select f.subsequent_hct_date from {{ ref('stg_followup') }} as f
            where f.patient_key = i.patient_key and f.subsequent_hct in ('AUTO', 'ALLO', 'BOTH')
         ) as t where t.d >= i.infusion_date and t.d <= c.data_cutoff) as first_new_treatment_date
    from infusions as i
    cross join cutoff as c
),
ranks as (
    select code, rank, complete, responder from {{ ref('dictionary_codes') }} where code_list = 'response'
),
assessments as (
    select r.patient_key, r.assessment_date, r.response, r.criteria, r.record_id, k.rank, k.complete, k.responder
    from {{ ref('stg_response') }} as r
    join ranks as k on r.response = k.code
    cross join cutoff as c
    where r.response <> 'NE' and r.assessment_date <= c.data_cutoff
),
qualifying as (
    select i.infusion_key, a.*,
           cast(date_diff('day', i.infusion_date, a.assessment_date) as integer) as assessment_day
    from infusions as i
    join limits as m on i.infusion_key = m.infusion_key
    join assessments as a
        on a.patient_key = i.patient_key
       and a.assessment_date > i.infusion_date
       and a.assessment_date <= coalesce(m.first_progression_date, date '9999-12-31')
       and a.assessment_date < coalesce(m.first_new_treatment_date, date '9999-12-31')
),
candidates as (
    select
        q.*, l.landmark, cast(l.landmark_day as integer) as landmark_day,
        row_number() over (partition by q.infusion_key, l.landmark
                           order by q.rank, q.assessment_date, q.record_id) as pick,
        min(q.assessment_date) filter (where q.responder) over (partition by q.infusion_key, l.landmark)
            as first_response_date
    from qualifying as q
    join {{ ref('response_landmarks') }} as l on q.assessment_day <= l.landmark_day
)
select
    i.infusion_key || ':' || l.landmark as best_response_key,
    i.infusion_key,
    i.patient_key,
    i.infusion_number,
    l.landmark,
    cast(l.landmark_day as integer) as landmark_day,
    i.infusion_date + cast(l.landmark_day as integer) <= (select data_cutoff from cutoff) as is_window_complete,
    c.response as best_response,
    c.criteria as response_criteria,
    c.assessment_date as best_response_date,
    c.record_id as source_record_id,
    cast(c.rank as integer) as response_rank,
    c.complete as is_complete_response,
    c.responder as is_responder,
    c.first_response_date
from infusions as i
cross join {{ ref('response_landmarks') }} as l
left join candidates as c on i.infusion_key = c.infusion_key and l.landmark = c.landmark and c.pick = 1
