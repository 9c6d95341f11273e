"""A small, hand-written raw warehouse (raw.<form> exactly per docs/ARCHITECTURE.md) covering the clinical cases the
dbt models must get right. Expected values for the tests are written next to the rows that produce them.

Cut-off used with this fixture: DATA_CUTOFF (passed to dbt as the var data_cutoff).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb

from kocartr.dbt_sync import raw_columns
from kocartr.dictionary import load_dictionary

DATA_CUTOFF = "2025-06-30"

_rows: dict[str, list[dict[str, Any]]] = {}


def d(s: str) -> date:
    return date.fromisoformat(s)


def add(
    form: str,
    site: str,
    patient: str,
    record_id: str,
    month: str,
    *,
    version: int = 1,
    current: bool = True,
    action: str = "U",
    **fields: Any,
) -> None:
    rows = _rows.setdefault(form, [])
    row = {
        "site_code": site,
        "patient_key": patient,
        "record_id": record_id,
        "submission_month": month,
        "record_action": action,
        **{k: (d(v) if isinstance(v, str) and k.endswith("_date") else v) for k, v in fields.items()},
        "_source_file": f"{site}/{month}/{form}.csv",
        "_source_row": len(rows) + 2,
        "_file_sha256": "0" * 64,
        "_version": version,
        "_valid_from_month": month,
        "_valid_to_month": None if current else "2025-06",
        "_is_current": current,
    }
    rows.append(row)


def labs(
    site: str, patient: str, start: str, analyte: str, unit: str, series: list[tuple[int, float]], month: str
) -> None:
    for day, value in series:
        when = d(start) + timedelta(days=day)
        add(
            "lab",
            site,
            patient,
            f"L-{patient}-{analyte}-{day}",
            month,
            lab_date=when.isoformat(),
            analyte=analyte,
            value=value,
            unit=unit,
        )


def _build() -> None:
    if _rows:
        return
    # ---------------- P01: DLBCL, axi-cel, prospective; CRS G2; ICAHT early G3 / late G1; progression then death
    add(
        "registration",
        "S01",
        "P01",
        "R1",
        "2024-01",
        consent_date="2024-01-03",
        enrolment_date="2024-01-03",
        cart_order_date="2024-01-02",
        birth_year=1960,
        sex="M",
    )
    add(
        "baseline",
        "S01",
        "P01",
        "B1",
        "2024-01",
        infusion_number=1,
        diagnosis="DLBCL",
        disease_group="LBCL",
        disease_status="PD",
        prior_lines=2,
        prior_hct="AUTO",
        bridging_therapy="CHEMO",
        ld_regimen="FLU_CY",
        ld_start_date="2024-01-05",
        ld_end_date="2024-01-07",
        ecog=1,
        hematotox_anc=2.1,
        hematotox_hgb=10.5,
        hematotox_plt=150.0,
        hematotox_crp=1.2,
        hematotox_ferritin=500.0,
        comment="free text never staged",
    )
    add(
        "product_infusion",
        "S01",
        "P01",
        "I1",
        "2024-01",
        infusion_number=1,
        product_code="AXI_CEL",
        product_setting="COMMERCIAL",
        lot_number="LOT-001",
        leukapheresis_date="2023-12-20",
        infusion_date="2024-01-10",
        out_of_specification="N",
    )
    # ASTCT: fever + hypotension without vasopressor + no hypoxia = grade 2 (reported 2: consistent)
    add(
        "crs",
        "S01",
        "P01",
        "C1",
        "2024-01",
        onset_date="2024-01-12",
        resolution_date="2024-01-15",
        fever="Y",
        hypotension="NO_VASOPRESSOR",
        hypoxia="NONE",
        astct_grade=2,
        tocilizumab="Y",
        tocilizumab_doses=2,
        steroids="N",
        icu_admission="N",
        serious="Y",
        seriousness_criteria="HOSPITALIZATION",
    )
    add(
        "icans",
        "S01",
        "P01",
        "N1",
        "2024-01",
        onset_date="2024-01-15",
        resolution_date="2024-01-16",
        ice_score=8,
        consciousness="AWAKENS_SPONTANEOUSLY",
        seizure="NONE",
        motor_weakness="N",
        cerebral_edema="NONE",
        astct_grade=1,
        steroids="N",
        icu_admission="N",
        serious="N",
    )
    # ANC: days <= 0.5 in day 0-30 = 3+2+3+2 + 1 (transient day-10 recovery) + 3 = 14 -> early ICAHT grade 3;
    # days <= 0.1 = 2+3 = 5. Recovery: first of 3 consecutive >= 0.5 after the nadir = day 14 (2024-01-24).
    # Late (day 31-100): values 1.4, 0.9, 1.1 -> 2nd lowest 1.1 -> late ICAHT grade 1.
    labs(
        "S01",
        "P01",
        "2024-01-10",
        "ANC",
        "X10E9_L",
        [
            (0, 0.3),
            (3, 0.1),
            (5, 0.05),
            (8, 0.2),
            (10, 0.6),
            (11, 0.4),
            (14, 0.7),
            (16, 0.8),
            (18, 1.2),
            (40, 1.4),
            (45, 0.9),
            (60, 1.1),
        ],
        "2024-03",
    )
    # platelets: nadir day 7, then >= 20 on days 10, 12, 15 -> recovery day 10 (2024-01-20)
    labs("S01", "P01", "2024-01-10", "PLT", "X10E9_L", [(0, 50), (7, 15), (10, 25), (12, 30), (15, 40)], "2024-03")
    labs("S01", "P01", "2024-01-10", "IGG", "MG_DL", [(30, 350)], "2024-03")
    # CTCAE v5.0 lab consistency: neutropenia reported grade 3, ANC nadir 0.05 in its window -> lab grade 4
    # (mismatch, queried); thrombocytopenia grade 4 with PLT nadir 15 -> lab grade 4 (consistent) but reported not
    # serious -> serious by ICH E2A (grade 4 = life-threatening) and flagged.
    add(
        "adverse_event",
        "S01",
        "P01",
        "A1N",
        "2024-02",
        ae_term="NEUTROPENIA",
        onset_date="2024-01-10",
        resolution_date="2024-01-24",
        ctcae_grade=3,
        ctcae_version="V5_0",
        serious="N",
    )
    add(
        "adverse_event",
        "S01",
        "P01",
        "A1T",
        "2024-02",
        ae_term="THROMBOCYTOPENIA",
        onset_date="2024-01-15",
        resolution_date="2024-01-22",
        ctcae_grade=4,
        ctcae_version="V5_0",
        serious="N",
    )
    labs("S01", "P01", "2024-01-10", "CD19_B_CELLS", "CELLS_UL", [(30, 5)], "2024-03")
    add(
        "response",
        "S01",
        "P01",
        "RS1",
        "2024-02",
        assessment_date="2024-02-09",
        criteria="LUGANO_2014",
        response="PR",
        method="PET_CT",
        deauville_score=3,
    )
    add(
        "response",
        "S01",
        "P01",
        "RS2",
        "2024-04",
        assessment_date="2024-04-09",
        criteria="LUGANO_2014",
        response="CR",
        method="PET_CT",
        deauville_score=2,
    )
    add(
        "followup",
        "S01",
        "P01",
        "F1",
        "2024-04",
        timepoint="D100",
        contact_date="2024-04-19",
        vital_status="ALIVE",
        disease_status="CR",
        subsequent_therapy="N",
        subsequent_hct="NONE",
        new_malignancy="N",
    )
    add(
        "followup",
        "S01",
        "P01",
        "F2",
        "2024-07",
        timepoint="M6",
        contact_date="2024-07-10",
        vital_status="ALIVE",
        disease_status="CR",
        last_disease_assessment_date="2024-07-01",
        subsequent_therapy="N",
        subsequent_hct="NONE",
        new_malignancy="N",
    )
    add(
        "followup",
        "S01",
        "P01",
        "F3",
        "2025-01",
        timepoint="Y1",
        contact_date="2025-01-12",
        vital_status="ALIVE",
        disease_status="PROGRESSION",
        progression_date="2024-09-01",
        last_disease_assessment_date="2024-09-01",
        subsequent_therapy="Y",
        subsequent_therapy_date="2024-09-15",
        subsequent_hct="NONE",
        new_malignancy="N",
    )
    add(
        "death",
        "S01",
        "P01",
        "D1",
        "2025-02",
        death_date="2025-02-01",
        primary_cause="PRIMARY_DISEASE",
        contributing_causes="INFECTION; ORGAN_FAILURE",
        cause_text="free text never staged",
    )

    # ---------------- P02: B-ALL, tisa-cel, registered late (ENTRYT 61); CRS reported 2 but high-flow O2 (=3);
    # ICANS reported 2 with ICE 2 (=3); infection, non-relapse death on day 106.
    add(
        "registration",
        "S01",
        "P02",
        "R2",
        "2023-08",
        consent_date="2023-08-01",
        enrolment_date="2023-08-01",
        cart_order_date="2023-05-01",
        birth_year=2005,
        sex="F",
    )
    add(
        "baseline",
        "S01",
        "P02",
        "B2",
        "2023-08",
        infusion_number=1,
        diagnosis="B_ALL",
        disease_group="ALL",
        disease_status="RELAPSE",
        prior_lines=3,
        prior_hct="ALLO",
        bridging_therapy="NONE",
        ld_regimen="FLU_CY",
        ld_start_date="2023-05-26",
    )
    add(
        "product_infusion",
        "S01",
        "P02",
        "I2",
        "2023-08",
        infusion_number=1,
        product_code="TISA_CEL",
        product_setting="COMMERCIAL",
        batch_number="BAT-77",
        manufacturer_product_code="KYM-1",
        leukapheresis_date="2023-05-05",
        infusion_date="2023-06-01",
        out_of_specification="N",
    )
    add(
        "crs",
        "S01",
        "P02",
        "C2",
        "2023-08",
        onset_date="2023-06-03",
        resolution_date="2023-06-09",
        fever="Y",
        hypotension="NO_VASOPRESSOR",
        hypoxia="HIGH_FLOW",
        astct_grade=2,
        tocilizumab="Y",
        steroids="Y",
        icu_admission="Y",
        icu_days=3,
        serious="N",
    )
    add(
        "icans",
        "S01",
        "P02",
        "N2",
        "2023-08",
        onset_date="2023-06-06",
        resolution_date="2023-06-10",
        ice_score=2,
        consciousness="AWAKENS_TO_VOICE",
        seizure="NONE",
        motor_weakness="N",
        cerebral_edema="NONE",
        astct_grade=2,
        steroids="Y",
        icu_admission="N",
        serious="Y",
        seriousness_criteria="HOSPITALIZATION",
    )
    add(
        "adverse_event",
        "S01",
        "P02",
        "A2",
        "2023-09",
        ae_term="INFECTION",
        onset_date="2023-09-01",
        ctcae_grade=4,
        ctcae_version="V5_0",
        infection_organism_type="FUNGAL",
        infection_organism="Aspergillus",
        infection_site="RESPIRATORY",
        serious="Y",
    )
    add(
        "response",
        "S01",
        "P02",
        "RS3",
        "2023-08",
        assessment_date="2023-06-29",
        criteria="ALL_MRD",
        response="CR",
        method="BONE_MARROW",
        mrd_status="NEGATIVE",
    )
    add("death", "S01", "P02", "D2", "2023-09", death_date="2023-09-15", primary_cause="INFECTION")

    # ---------------- P03: ordered, never infused (manufacturing failure), died: ITT only
    add(
        "registration",
        "S01",
        "P03",
        "R3",
        "2024-02",
        consent_date="2024-02-01",
        enrolment_date="2024-02-01",
        cart_order_date="2024-02-01",
        birth_year=1955,
        sex="F",
        not_infused_reason="MANUFACTURING_FAILURE",
    )
    add("death", "S01", "P03", "D3", "2024-05", death_date="2024-05-01", primary_cause="PRIMARY_DISEASE")

    # ---------------- P04: myeloma, cilta-cel, two infusions; Y2 visit missed; solid SPM; partner pregnancy; alive
    add(
        "registration",
        "S02",
        "P04",
        "R4",
        "2022-01",
        consent_date="2022-01-05",
        enrolment_date="2022-01-05",
        cart_order_date="2022-01-05",
        birth_year=1970,
        sex="M",
    )
    add(
        "baseline",
        "S02",
        "P04",
        "B4",
        "2022-02",
        infusion_number=1,
        diagnosis="MM",
        disease_group="MM",
        disease_status="PD",
        prior_lines=4,
        prior_hct="AUTO",
        bridging_therapy="OTHER",
        ld_regimen="FLU_CY",
        ld_start_date="2022-02-24",
    )
    add(
        "product_infusion",
        "S02",
        "P04",
        "I4a",
        "2022-03",
        infusion_number=1,
        product_code="CILTA_CEL",
        product_setting="COMMERCIAL",
        lot_number="CAR-100",
        leukapheresis_date="2022-01-20",
        infusion_date="2022-03-01",
        out_of_specification="N",
    )
    add(
        "product_infusion",
        "S02",
        "P04",
        "I4b",
        "2022-06",
        infusion_number=2,
        product_code="CILTA_CEL",
        product_setting="COMMERCIAL",
        lot_number="CAR-101",
        leukapheresis_date="2022-01-20",
        infusion_date="2022-06-01",
        out_of_specification="Y",
    )
    add(
        "response",
        "S02",
        "P04",
        "RS4",
        "2022-04",
        assessment_date="2022-04-01",
        criteria="IMWG_2016",
        response="VGPR",
        method="SEROLOGY",
    )
    for rid, tp, contact, lda in [
        ("F4a", "D100", "2022-06-09", None),
        ("F4b", "M6", "2022-08-29", None),
        ("F4c", "Y1", "2023-03-05", "2023-03-01"),
        ("F4d", "Y3", "2025-03-10", "2025-03-01"),
    ]:
        add(
            "followup",
            "S02",
            "P04",
            rid,
            contact[:7],
            timepoint=tp,
            contact_date=contact,
            vital_status="ALIVE",
            disease_status="CR",
            last_disease_assessment_date=lda,
            subsequent_therapy="N",
            subsequent_hct="NONE",
            new_malignancy="Y" if tp == "Y3" else "N",
            ivig="Y",
        )
    add(
        "secondary_malignancy",
        "S02",
        "P04",
        "M4",
        "2024-06",
        diagnosis_date="2024-05-01",
        category="SOLID",
        t_cell_malignancy="N",
        car_transgene_tested="N",
        serious="Y",
        seriousness_criteria="MEDICALLY_IMPORTANT",
    )
    add(
        "pregnancy",
        "S02",
        "P04",
        "G4",
        "2024-10",
        subject="PARTNER",
        reported_date="2024-10-01",
        conception_date="2024-08-15",
        outcome="LIVE_BIRTH",
        outcome_date="2025-05-01",
    )
    labs("S02", "P04", "2022-03-01", "ANC", "X10E9_L", [(0, 2.0), (5, 1.8), (10, 2.2)], "2022-04")

    # ---------------- P05: DLBCL, infused 2021, only the day-100 contact: lost to follow-up
    add(
        "registration",
        "S02",
        "P05",
        "R5",
        "2020-12",
        consent_date="2020-12-01",
        enrolment_date="2020-12-01",
        cart_order_date="2020-12-01",
        birth_year=1950,
        sex="M",
    )
    add(
        "baseline",
        "S02",
        "P05",
        "B5",
        "2021-01",
        infusion_number=1,
        diagnosis="DLBCL",
        disease_group="LBCL",
        disease_status="SD",
        prior_lines=2,
        prior_hct="NONE",
        bridging_therapy="NONE",
        ld_regimen="BENDA",
        ld_start_date="2021-01-10",
    )
    add(
        "product_infusion",
        "S02",
        "P05",
        "I5",
        "2021-01",
        infusion_number=1,
        product_code="AXI_CEL",
        product_setting="TRIAL",
        lot_number="LOT-005",
        leukapheresis_date="2020-12-20",
        infusion_date="2021-01-15",
        out_of_specification="N",
    )
    add(
        "followup",
        "S02",
        "P05",
        "F5",
        "2021-04",
        timepoint="D100",
        contact_date="2021-04-25",
        vital_status="ALIVE",
        disease_status="CR",
        subsequent_therapy="N",
        subsequent_hct="NONE",
        new_malignancy="N",
    )

    # ---------------- P06: versions and deletes; infused shortly before the cut-off; late-onset CRS (day 40)
    add(
        "registration",
        "S01",
        "P06",
        "R6",
        "2025-04",
        version=1,
        current=False,
        consent_date="2025-04-01",
        enrolment_date="2025-04-01",
        cart_order_date="2025-04-01",
        birth_year=1980,
        sex="M",
    )
    add(
        "registration",
        "S01",
        "P06",
        "R6",
        "2025-05",
        version=2,
        consent_date="2025-04-01",
        enrolment_date="2025-04-01",
        cart_order_date="2025-04-01",
        birth_year=1980,
        sex="F",
    )
    add(
        "product_infusion",
        "S01",
        "P06",
        "I6",
        "2025-05",
        infusion_number=1,
        product_code="LISO_CEL",
        product_setting="COMMERCIAL",
        join_id="JOIN-6",
        cd4_lot_number="CD4-6",
        cd8_lot_number="CD8-6",
        leukapheresis_date="2025-04-10",
        infusion_date="2025-05-01",
        out_of_specification="N",
    )
    add(
        "crs",
        "S01",
        "P06",
        "C6",
        "2025-06",
        onset_date="2025-06-10",
        fever="Y",
        hypotension="NONE",
        hypoxia="NONE",
        astct_grade=1,
        tocilizumab="N",
        steroids="N",
        icu_admission="N",
        serious="U",
    )
    add(
        "adverse_event",
        "S01",
        "P06",
        "A6",
        "2025-05",
        version=1,
        current=False,
        ae_term="TLS",
        onset_date="2025-05-03",
        ctcae_grade=3,
        ctcae_version="V5_0",
        serious="N",
    )
    add(
        "adverse_event",
        "S01",
        "P06",
        "A6",
        "2025-06",
        version=2,
        action="D",
        ae_term="TLS",
        onset_date="2025-05-03",
        ctcae_grade=3,
        ctcae_version="V5_0",
        serious="N",
    )


def build_raw(con: duckdb.DuckDBPyConnection) -> None:
    """Create raw.<form> for every dictionary form and insert the fixture rows."""
    _build()
    dic = load_dictionary()
    con.execute("create schema if not exists raw")
    for form in dic.forms:
        cols = raw_columns(dic, form)
        con.execute(f"create or replace table raw.{form} ({', '.join(f'{n} {t}' for n, t in cols)})")
        rows = _rows.get(form, [])
        if rows:
            names = [n for n, _ in cols]
            con.executemany(
                f"insert into raw.{form} values ({', '.join('?' for _ in names)})",
                [[r.get(n) for n in names] for r in rows],
            )
