"""A small, clean synthetic warehouse (raw, staging, marts, adam, audit) in DuckDB for the quality-gate tests.

Every rule passes on it; tests then break one thing and check that the rule guarding it fails.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from expectations.config import RAW_TYPE_MAP
from kocartr.dictionary import load_dictionary

SITES = ("S01", "S02", "S03")
DAY0 = dt.date(2025, 1, 10)
MONTH = "2025-06"

# days relative to the patient's infusion (day 0)
DATES = {
    ("registration", "consent_date"): -41,
    ("registration", "enrolment_date"): -40,
    ("registration", "cart_order_date"): -45,
    ("baseline", "diagnosis_date"): -400,
    ("baseline", "ld_start_date"): -5,
    ("baseline", "ld_end_date"): -3,
    ("baseline", "hematotox_date"): -6,
    ("product_infusion", "leukapheresis_date"): -30,
    ("product_infusion", "infusion_date"): 0,
    ("crs", "onset_date"): 2,
    ("crs", "resolution_date"): 6,
    ("icans", "onset_date"): 5,
    ("icans", "resolution_date"): 8,
    ("adverse_event", "onset_date"): 10,
    ("adverse_event", "resolution_date"): 20,
    ("lab", "lab_date"): 14,
    ("hospitalization", "admission_date"): -5,
    ("hospitalization", "discharge_date"): 14,
    ("vaccination", "vaccination_date"): 120,
    ("vaccination", "response_date"): 150,
    ("response", "assessment_date"): 90,
    ("followup", "contact_date"): 100,
    ("followup", "last_disease_assessment_date"): 90,
    ("secondary_malignancy", "diagnosis_date"): 300,
    ("pregnancy", "reported_date"): 200,
    ("pregnancy", "conception_date"): 180,
    ("death", "death_date"): 400,
    ("linkage_death", "death_date"): 400,
    ("linkage_cancer", "diagnosis_date"): 300,
    ("linkage_completeness", "complete_through"): 100,  # within the return's month (linkage gate)
}
VALUES = {
    "product_code": "TISA_CEL",
    "fever": "Y",
    "hypotension": "NONE",
    "hypoxia": "NONE",
    "astct_grade": 1,
    "ice_score": 8,
    "consciousness": "AWAKENS_SPONTANEOUSLY",
    "seizure": "NONE",
    "motor_weakness": "N",
    "cerebral_edema": "NONE",
    "analyte": "ANC",
    "unit": "X10E9_L",
    "value": 1.5,
    "criteria": "LUGANO_2014",
    "response": "CR",
    "timepoint": "D100",
    "vital_status": "ALIVE",
    "disease_status": "CR",
    "subsequent_therapy": "N",
    "subsequent_hct": "NONE",
    "new_malignancy": "N",
    "ae_term": "NEUTROPENIA",
    "car_transgene_tested": "N",
    "outcome": "ONGOING",
    "primary_cause": "PRIMARY_DISEASE",
    "contributing_causes": "INFECTION;CRS",
    "birth_year": 1970,
    "infusion_number": 1,
    "ctcae_grade": 2,
    "prior_lines": 2,
    "ecog": 1,
    "tocilizumab_doses": 1,
    "icu_days": 0,
    "capd_score": None,
    "deauville_score": 2,
    "icdo3_morphology": "9680/3",
    "icdo3_topography": "C77.2",
    "underlying_cause_icd10": "C83.3",
    "contributing_causes_icd10": None,
    "infection_organism": None,
    "not_infused_reason": None,
}
NOT_EVERYONE = {
    "death": lambda i: i % 4 == 0,
    "pregnancy": lambda i: i % 6 == 0,
    "secondary_malignancy": lambda i: i % 5 == 0,
    "linkage_death": lambda i: i % 4 == 0,
    "linkage_cancer": lambda i: i % 5 == 0,
    "linkage_completeness": lambda i: i < 2,
}


def _value(form: str, f, i: int):
    if f.type == "date":
        off = DATES.get((form, f.name))
        return None if off is None else DAY0 + dt.timedelta(days=i + off)
    if f.name in VALUES:
        return VALUES[f.name]
    if f.name == "linkage_source":  # one completeness row per national source
        codes = load_dictionary().codes(f.code_list)
        return codes[i % len(codes)]
    if f.type == "text":
        return "free text 자유 기술"
    if f.type == "code":
        return load_dictionary().codes(f.code_list)[0]
    if f.type == "string":
        return "ABC-123"
    if f.type == "integer":
        return int(f.min) if f.min is not None else 1
    if f.type == "decimal":
        return float((f.min + f.max) / 2) if f.min is not None and f.max is not None else 1.0
    raise AssertionError(f.type)


def patients(n: int) -> list[tuple[str, str]]:
    return [(SITES[i % len(SITES)], f"pk{i:04d}") for i in range(n)]


def raw_frames(n: int = 12) -> dict[str, pd.DataFrame]:
    d = load_dictionary()
    out = {}
    for form_name, form in d.forms.items():
        rows = []
        for i, (site, pk) in enumerate(patients(n)):
            if form_name in NOT_EVERYONE and not NOT_EVERYONE[form_name](i):
                continue
            linked = not form.is_site_form  # linkage returns: the source's folder, the registry's own patient key
            row = {
                "site_code": form.source if linked else site,
                "patient_key": None if linked and not form.patient_level else pk,
                "record_id": f"{form_name[:3]}-{i:04d}",
                "submission_month": MONTH,
                "record_action": "U",
            }
            row.update({f.name: _value(form_name, f, i) for f in form.fields})
            row.update(
                {
                    "_source_file": f"{row['site_code']}/{MONTH}/{form_name}.csv",
                    "_source_row": i + 2,
                    "_file_sha256": "0" * 64,
                    "_version": 1,
                    "_valid_from_month": MONTH,
                    "_valid_to_month": None,
                    "_is_current": True,
                }
            )
            rows.append(row)
        out[form_name] = pd.DataFrame(rows)
    return out


def _create_typed(con, table: str, form_name: str, df: pd.DataFrame) -> None:
    d = load_dictionary()
    types = {
        "site_code": "VARCHAR",
        "patient_key": "VARCHAR",
        "record_id": "VARCHAR",
        "submission_month": "VARCHAR",
        "record_action": "VARCHAR",
        "_source_file": "VARCHAR",
        "_source_row": "BIGINT",
        "_file_sha256": "VARCHAR",
        "_version": "BIGINT",
        "_valid_from_month": "VARCHAR",
        "_valid_to_month": "VARCHAR",
        "_is_current": "BOOLEAN",
    }
    types.update({f.name: RAW_TYPE_MAP[f.type] for f in d.form(form_name).fields})
    cols = [c for c in df.columns]
    con.execute(f"create table {table} ({', '.join(f'{c} {types[c]}' for c in cols)})")
    con.register("_frame", df)
    con.execute(f"insert into {table} select {', '.join(f'cast({c} as {types[c]})' for c in cols)} from _frame")
    con.unregister("_frame")


def build(con: duckdb.DuckDBPyConnection | None = None, n: int = 12) -> duckdb.DuckDBPyConnection:
    con = con or duckdb.connect()
    d = load_dictionary()
    for s in ("raw", "staging", "marts", "adam", "audit"):
        con.execute(f"create schema if not exists {s}")
    frames = raw_frames(n)
    for form_name, df in frames.items():
        _create_typed(con, f"raw.{form_name}", form_name, df)
        keep = ["site_code", "patient_key", "record_id", "submission_month"] + [
            f.name for f in d.form(form_name).fields if not f.is_free_text
        ]
        con.execute(
            f"create table staging.stg_{form_name} as select {', '.join(keep)} from raw.{form_name} "
            "where _is_current and record_action = 'U'"
        )
    # marts
    con.execute("""create table marts.dim_patient as
                   select r.site_code, r.patient_key, d.death_date is not null as is_dead,
                          cast(null as varchar) as death_query_reason
                   from staging.stg_registration r left join staging.stg_death d using (patient_key)""")
    con.execute("""create table marts.fct_infusion as
                   select p.patient_key || '-' || p.infusion_number as infusion_key, p.site_code, p.patient_key,
                          p.infusion_number, true as is_infused, p.product_code, p.leukapheresis_date,
                          b.ld_start_date, p.infusion_date
                   from staging.stg_product_infusion p
                   left join staging.stg_baseline b using (patient_key, infusion_number)""")
    con.execute("""create table marts.fct_followup_schedule as
                   select p.patient_key || '-' || t.timepoint as visit_key, p.site_code, p.patient_key,
                          1 as infusion_number, t.timepoint, p.infusion_date + t.due_days as window_end_date,
                          case when t.timepoint = 'D100' then f.contact_date end as received_date,
                          case when t.timepoint = 'D100' then 'RECEIVED' else 'MISSED' end as visit_state,
                          d.death_date
                   from staging.stg_product_infusion p
                   cross join (values ('D100', 115), ('M6', 210)) t(timepoint, due_days)
                   left join staging.stg_followup f using (patient_key)
                   left join staging.stg_death d using (patient_key)""")
    con.execute("""create table marts.fct_linkage_reconciliation as
                   select 'CANCER:' || s.record_id as linkage_event_key, r.site_code, r.patient_key,
                          'CANCER' as event_type, 'AGREES' as reconciliation_status
                   from staging.stg_registration r join staging.stg_secondary_malignancy s using (patient_key)""")
    # adam
    con.execute("""create table adam.adsl as
        select 'KOCARTR' as STUDYID, r.patient_key as USUBJID, r.site_code as SITEID, 'Y' as ITTFL,
               'Y' as INFFL, 55 as AGE, r.cart_order_date as ORDERDT, p.leukapheresis_date as LEUKDT,
               p.infusion_date as TRTSDT, d.death_date as DTHDT,
               case when d.death_date is not null then 'Y' end as DTHFL, f.contact_date as LSTCNTDT
        from staging.stg_registration r
        join staging.stg_product_infusion p using (patient_key)
        left join staging.stg_death d using (patient_key)
        left join staging.stg_followup f using (patient_key)""")
    con.execute("""create table adam.adtte as
        select STUDYID, USUBJID, SITEID, 1 as INFNUM, pc as PARAMCD, TRTSDT as STARTDT,
               coalesce(DTHDT, LSTCNTDT) as ADT, cast(coalesce(DTHDT, LSTCNTDT) - TRTSDT as double) as AVAL,
               'DAYS' as AVALU, case when DTHDT is not null then 0 else 1 end as CNSR, 'N' as CMPEVFL,
               case when DTHDT is null then 'LAST CONTACT' end as CNSDTDSC, cast(0 as double) as ENTRYT,
               'N' as PREENTFL
        from adam.adsl cross join (values ('OS'), ('PFS')) t(pc)""")
    con.execute("""create table adam.adae as
        select 'KOCARTR' as STUDYID, patient_key as USUBJID, site_code as SITEID, 1 as INFNUM,
               row_number() over (partition by patient_key order by cat) as AESEQ, cat as AECAT,
               cat as AEDECOD, cast(astct_grade as varchar) as ATOXGR,
               cast(astct_grade as integer) as ATOXGRN, 'ASTCT 2019' as GRDSTD,
               onset_date as ASTDT, resolution_date as AENDT, cast(onset_date - infusion_date as integer) as ASTDY
        from (select 'CRS' as cat, * from staging.stg_crs union all by name
              select 'ICANS' as cat, * from staging.stg_icans)
        join (select patient_key, infusion_date from staging.stg_product_infusion) using (patient_key)""")
    # audit (ingest side)
    con.execute("""create table audit.quarantine as
        select 'S01' as site_code, '2025-06' as submission_month, 'lab' as form, 7 as source_row,
               'value out of range' as reason""")
    con.execute("""create table audit.ingest_ledger as
        select 'S01' as site_code, '2025-06' as submission_month, 'lab' as form, 'S01/2025-06/lab.csv' as file""")
    return con
