-- Concept: best overall response per infusion and response window (fact), one row per infusion and window of the
-- seed response_landmarks, stamped with the data cut-off it was derived under. adam.adrs reads it.
-- Reference: Lugano 2014, IMWG 2016, ALL CR/CRi; CIBMTR 4100 best response; the one definition is
-- int_best_response (endpoints.md "Best overall response").
select
    b.best_response_key,
    b.infusion_key,
    b.patient_key,
    b.infusion_number,
    b.landmark,
    b.landmark_day,
    b.is_window_complete,
    b.best_response,
    b.response_criteria,
    b.best_response_date,
    b.source_record_id,
    b.response_rank,
    b.is_complete_response,
    b.is_responder,
    b.first_response_date,
    c.data_cutoff
from {{ ref('int_best_response') }} as b
cross join {{ ref('int_data_cutoff') }} as c
