-- Concept: best response by day 30 / 90 / 180 after each infusion (landmarks in seed response_landmarks).
-- Reference: Lugano 2014 (lymphoma), IMWG 2016 (myeloma), CR/CRi with MRD (ALL); best = lowest dictionary rank
-- (code-list attribute response.rank). Assessments count from the day after infusion up to the landmark, before
-- the next infusion and before any subsequent anticancer therapy or HCT (a response to later therapy is not a
-- response to CAR-T). NE assessments do not make a best response.
with infusions as (
    select e.infusion_key, e.patient_key, e.infusion_number, e.infusion_date, e.next_infusion_date,
           s.first_new_treatment_date
    from {{ ref('int_infusion_episodes') }} as e
    left join {{ ref('int_subsequent_therapy') }} as s on e.patient_key = s.patient_key
    where e.is_infused
),
ranks as (
    select code, rank, complete, responder from {{ ref('dictionary_codes') }} where code_list = 'response'
),
assessments as (
    select r.patient_key, r.assessment_date, r.response, r.criteria, r.record_id, k.rank, k.complete, k.responder
    from {{ ref('stg_response') }} as r
    join ranks as k on r.response = k.code
    where r.response <> 'NE'
),
candidates as (
    select
        i.infusion_key, l.landmark, l.landmark_day, a.*,
        row_number() over (partition by i.infusion_key, l.landmark
                           order by a.rank, a.assessment_date, a.record_id) as pick
    from infusions as i
    cross join {{ ref('response_landmarks') }} as l
    join assessments as a
        on a.patient_key = i.patient_key
       and a.assessment_date > i.infusion_date
       and a.assessment_date <= i.infusion_date + cast(l.landmark_day as integer)
       and a.assessment_date < coalesce(i.next_infusion_date, date '9999-12-31')
       and a.assessment_date < coalesce(i.first_new_treatment_date, date '9999-12-31')
)
select
    i.infusion_key || ':' || l.landmark as best_response_key,
    i.infusion_key,
    i.patient_key,
    i.infusion_number,
    l.landmark,
    cast(l.landmark_day as integer) as landmark_day,
    c.response as best_response,
    c.criteria as response_criteria,
    c.assessment_date as best_response_date,
    c.record_id as source_record_id,
    cast(c.rank as integer) as response_rank,
    c.complete as is_complete_response,
    c.responder as is_responder
from infusions as i
cross join {{ ref('response_landmarks') }} as l
left join candidates as c on i.infusion_key = c.infusion_key and l.landmark = c.landmark and c.pick = 1
