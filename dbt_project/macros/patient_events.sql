-- The declarative mapping behind int_patient_events: which dated field of which form is which timeline event.
-- Reference: CIBMTR forms 4000/4003/4006/4100/3500 (the form fields are the dictionary's). One entry per event:
--   event    event_type of the timeline
--   form     dictionary form (read from stg_<form>; or `model` for a derived source, with `form_column`)
--   date     the dated field
--   detail   SQL expression for event_detail (default NULL)
--   contact  SQL boolean: the event proves the patient was seen (default true)
--   filter   SQL condition on the form's rows (plain column tests only)
--   codes    {column, code_list, attribute}: keep rows whose code has that dictionary attribute (no code typed here)
-- Adding an event = adding an entry; int_patient_events needs no change.
{% macro patient_event_sources() -%}
{%- set mapping -%}
- {event: CART_ORDER, form: registration, date: cart_order_date}
- {event: CONSENT, form: registration, date: consent_date}
- {event: ENROLMENT, form: registration, date: enrolment_date}
- {event: LEUKAPHERESIS, form: product_infusion, date: leukapheresis_date, detail: product_code}
- {event: INFUSION, form: product_infusion, date: infusion_date, detail: product_code}
- {event: LYMPHODEPLETION, form: baseline, date: ld_start_date, detail: ld_regimen}
- {event: CRS_ONSET, form: crs, date: onset_date, detail: "'GRADE ' || cast(astct_grade as varchar)"}
- {event: CRS_RESOLUTION, form: crs, date: resolution_date}
- {event: ICANS_ONSET, form: icans, date: onset_date, detail: "'GRADE ' || cast(astct_grade as varchar)"}
- {event: ICANS_RESOLUTION, form: icans, date: resolution_date}
- {event: AE_ONSET, form: adverse_event, date: onset_date, detail: ae_term}
- {event: AE_RESOLUTION, form: adverse_event, date: resolution_date, detail: ae_term}
- {event: RESPONSE_ASSESSMENT, form: response, date: assessment_date, detail: response}
# a follow-up reporting the patient DEAD proves nothing about being alive (its contact date is the death date)
- {event: FOLLOWUP_CONTACT, form: followup, date: contact_date, detail: "timepoint || ' ' || vital_status",
   contact: "coalesce(vital_status <> 'DEAD', true)"}
- {event: DISEASE_ASSESSMENT, form: followup, date: last_disease_assessment_date, detail: disease_status}
- {event: PROGRESSION, form: followup, date: progression_date, detail: disease_status}
- {event: PROGRESSION, form: response, date: assessment_date, detail: response,
   codes: {column: response, code_list: response, attribute: progression}}
- {event: SUBSEQUENT_THERAPY, form: followup, date: subsequent_therapy_date, filter: "subsequent_therapy = 'Y'"}
- {event: SUBSEQUENT_HCT, form: followup, date: subsequent_hct_date, detail: subsequent_hct,
   filter: "subsequent_hct in ('AUTO', 'ALLO', 'BOTH')"}
- {event: SECONDARY_MALIGNANCY, form: secondary_malignancy, date: diagnosis_date, detail: category}
- {event: PREGNANCY_REPORTED, form: pregnancy, date: reported_date, detail: subject}
- {event: PREGNANCY_OUTCOME, form: pregnancy, date: outcome_date, detail: outcome, contact: false}
# every death report (death form, follow-up DEAD, fatal AE); int_deaths picks the analysis death
- {event: DEATH, model: int_death_sources, form_column: source_form, record_column: source_record_id,
   date: death_date, detail: cause, contact: false}
{%- endset -%}
{{- return(fromyaml(mapping)) -}}
{%- endmacro %}

-- One SELECT per mapping entry, in the columns of int_patient_events' `events` CTE, joined by UNION ALL.
{% macro patient_event_selects() -%}
{%- for e in patient_event_sources() %}
    {%- set relation = ref(e.model) if e.model else ref('stg_' ~ e.form) %}
    select
        patient_key,
        site_code,
        '{{ e.event }}' as event_type,
        cast({{ e.date }} as date) as event_date,
        cast({{ e.detail or 'null' }} as varchar) as event_detail,
        {{ e.form_column if e.form_column else "'" ~ e.form ~ "'" }} as source_form,
        {{ e.record_column or 'record_id' }} as source_record_id,
        {{ 'true' if e.get('contact') is none else e.contact | string }} as is_contact
    from {{ relation }}
    {%- if e.filter or e.codes %}
    where
        {%- if e.filter %} {{ e.filter }}{% endif %}
        {%- if e.filter and e.codes %} and{% endif %}
        {%- if e.codes %} {{ e.codes.column }} in (
            select code from {{ ref('dictionary_codes') }}
            where code_list = '{{ e.codes.code_list }}' and {{ e.codes.attribute }}
        )
        {%- endif %}
    {%- endif %}
    {% if not loop.last %}union all{% endif %}
{%- endfor %}
{%- endmacro %}
