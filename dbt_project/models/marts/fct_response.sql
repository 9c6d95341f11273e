-- Concept: disease response assessments (fact), one row per assessment, attached to an infusion, with the
-- dictionary's rank / complete / responder attributes and the best-response landmarks it achieves.
-- Reference: Lugano 2014 (Cheson), IMWG 2016 (Kumar), ALL CR/CRi with MRD; CIBMTR 4100 best response.
with assessments as (
    select * from {{ ref('stg_response') }}
),
attached as (
    {{ attach_infusion('assessments', 'assessment_date') }}
),
ranks as (
    select code, rank, complete, responder, progression from {{ ref('dictionary_codes') }}
    where code_list = 'response'
),
best as (
    select patient_key, source_record_id, string_agg(landmark, ';' order by landmark_day) as best_for_landmarks
    from {{ ref('int_best_response') }}
    where source_record_id is not null
    group by patient_key, source_record_id
)
select
    a.site_code || ':' || a.record_id as response_key,
    a.patient_key,
    a.site_code,
    a.infusion_key,
    cast(a.infusion_number as integer) as infusion_number,
    a.assessment_date,
    cast(date_diff('day', a.index_infusion_date, a.assessment_date) as integer) as study_day,
    cast(date_diff('day', a.infusion_date, a.assessment_date) as integer) as infusion_day,
    a.criteria,
    a.response,
    cast(k.rank as integer) as response_rank,
    coalesce(k.complete, false) as is_complete_response,
    coalesce(k.responder, false) as is_responder,
    coalesce(k.progression, false) as is_progression,
    a.method,
    cast(a.deauville_score as integer) as deauville_score,
    a.mrd_status,
    s.first_new_treatment_date is not null and a.assessment_date >= s.first_new_treatment_date
        as is_after_new_treatment,
    b.best_for_landmarks,
    a.record_id as source_record_id
from attached as a
left join ranks as k on a.response = k.code
left join {{ ref('int_subsequent_therapy') }} as s on a.patient_key = s.patient_key
left join best as b on a.patient_key = b.patient_key and a.record_id = b.source_record_id
