-- Concept: the dated inputs of every time-to-event endpoint (fact), one row per patient with a CAR-T order or
-- infusion, restricted to the data cut-off: death, progression, last contact, new malignancy (site-reported and national cancer registry), count recovery and
-- the response inputs of EFS and DOR. adam.adtte applies the endpoint rules to these dates only.
-- Reference: registry brief §4; CIBMTR 4100; derivation and sources in int_endpoint_events (endpoints.md).
-- Columns are listed so a new intermediate column reaches ADaM only when it is added to this contract.
select
    patient_key,
    site_code,
    is_infused,
    index_infusion_number,
    index_infusion_date,
    itt_start_date,
    enrolment_date,
    data_cutoff,
    product_code,
    disease_group,
    infusion_year,
    death_date,
    death_primary_cause,
    death_is_nrm_cause,
    death_source_form,
    death_site_reported,
    progression_date,
    last_disease_assessment_date,
    last_contact_date,
    last_alive_date,
    first_spm_date,
    first_tcell_spm_date,
    first_linkage_spm_date,
    first_linkage_tcell_spm_date,
    anc_recovery_date,
    anc_recovery_status,
    plt_recovery_date,
    plt_recovery_status,
    remission_window_day,
    cr_by_remission_window,
    remission_window_complete,
    responder_by_d180,
    first_response_date
from {{ ref('int_endpoint_events') }}
