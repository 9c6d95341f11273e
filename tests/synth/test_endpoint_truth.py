"""The endpoint truth's rules on hand-made patients (issue-12 endpoint spec), and its frame on a generated set."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from kocartr.dictionary import load_dictionary
from kocartr.synth import endpoint_truth as T

D0 = (dt.date(2024, 1, 10) - dt.date(1970, 1, 1)).days  # day 0 (first infusion) as epoch days
CUTOFF = D0 + 1000


@pytest.fixture(scope="module")
def rules() -> T.Rules:
    return T.load_rules(load_dictionary())


def _patient(enrol: int = -20, **forms: list[dict]) -> T.Patient:
    """Day offsets from day 0; every row gets the columns its form's rules read (None when not given)."""
    base = {
        "registration": [{"cart_order_date": -60, "consent_date": -58, "enrolment_date": enrol}],
        "product_infusion": [{"infusion_number": "1", "infusion_date": 0, "leukapheresis_date": -40}],
        "baseline": [{"infusion_number": "1", "disease_group": "LBCL", "ld_start_date": -5}],
    }
    base.update(forms)
    p = T.Patient()
    for form, rows in base.items():
        cols = (
            set(T._DATES.get(form, ()))
            | set(T._OTHER.get(form, ()))
            | ({"analyte", "value", "lab_date"} if form == "lab" else set())
        )
        full = []
        for i, r in enumerate(rows):
            row = {c: None for c in cols} | {"record_id": f"R{form}{i}", "patient": "S01:P1"}
            for k, v in r.items():
                row[k] = D0 + v if k in T._DATES.get(form, ()) + ("lab_date",) and v is not None else v
            full.append(row)
        p.records[form] = full
    return p


def _by_param(rows: list[dict]) -> dict[str, tuple[int, str, bool]]:
    return {r["paramcd"]: (r["aval_days"], r["status"], r["pre_entry"]) for r in rows}


def test_death_on_a_follow_up_only_is_a_death_and_not_a_contact(rules):
    p = _patient(
        followup=[
            {"contact_date": 100, "vital_status": "ALIVE"},
            {"contact_date": 300, "vital_status": "DEAD", "last_disease_assessment_date": 290},
        ]
    )
    rows, _ = T.patient_truth(p, rules, CUTOFF)
    got = _by_param(rows)
    assert got["OS"] == (300, "event", False)
    assert got["NRM"] == (300, "event", False)  # cause UNKNOWN is a non-relapse cause (dictionary)
    assert got["RELAPSE"] == (300, "competing", False)
    assert T.last_alive(p) == D0 + 100  # the DEAD follow-up proves nothing about being alive


def test_death_precedence_and_cause(rules):
    # death form (disease) wins over a later follow-up and a fatal AE: REL = death from disease
    p = _patient(
        death=[{"death_date": 200, "primary_cause": "PRIMARY_DISEASE"}],
        followup=[{"contact_date": 210, "vital_status": "DEAD"}],
        crs=[{"onset_date": 3, "resolution_date": None, "astct_grade": "5"}],
    )
    got = _by_param(T.patient_truth(p, rules, CUTOFF)[0])
    assert got["OS"] == (200, "event", False) and got["RELAPSE"] == (200, "event", False)
    assert got["NRM"][1] == "competing"
    # no death form: the follow-up date, the cause from the fatal AE (non-relapse)
    p = _patient(
        followup=[{"contact_date": 20, "vital_status": "DEAD"}],
        crs=[{"onset_date": 3, "resolution_date": None, "astct_grade": "5"}],
    )
    assert _by_param(T.patient_truth(p, rules, CUTOFF)[0])["NRM"] == (20, "event", False)
    # a fatal AE alone: its resolution date, else its onset
    p = _patient(adverse_event=[{"ae_term": "INFECTION", "onset_date": 40, "resolution_date": 45, "ctcae_grade": "5"}])
    assert _by_param(T.patient_truth(p, rules, CUTOFF)[0])["OS"] == (45, "event", False)


def test_one_censoring_rule_and_pfs(rules):
    p = _patient(
        response=[{"assessment_date": 30, "response": "PR"}, {"assessment_date": 90, "response": "CR"}],
        followup=[{"contact_date": 400, "vital_status": "ALIVE", "last_disease_assessment_date": 380}],
        lab=[{"analyte": "HGB", "value": 11.0, "lab_date": 410}],
    )
    p.last_lab = D0 + 410
    got = _by_param(T.patient_truth(p, rules, CUTOFF)[0])
    assert {k: got[k] for k in ("OS", "PFS", "NRM", "RELAPSE", "DOR")} == {
        "OS": (410, "censored", False),
        "PFS": (410, "censored", False),
        "NRM": (410, "censored", False),
        "RELAPSE": (410, "censored", False),
        "DOR": (380, "censored", False),
    }  # DOR from the first PR (day 30)


def test_best_response_window_pd_and_subsequent_therapy(rules):
    p = _patient(
        response=[
            {"assessment_date": 28, "response": "SD"},
            {"assessment_date": 60, "response": "PD"},
            {"assessment_date": 85, "response": "CR"},
        ]
    )
    _, resp = T.patient_truth(p, rules, CUTOFF)
    assert resp["best_response_d90"] == "SD"  # nothing after the first PD counts
    p = _patient(response=[{"assessment_date": 28, "response": "PD"}])
    assert T.patient_truth(p, rules, CUTOFF)[1]["best_response_d90"] == "PD"
    p = _patient(
        response=[{"assessment_date": 28, "response": "PR"}, {"assessment_date": 120, "response": "CR"}],
        followup=[
            {"contact_date": 150, "vital_status": "ALIVE", "subsequent_therapy": "Y", "subsequent_therapy_date": 100}
        ],
    )
    _, resp = T.patient_truth(p, rules, CUTOFF)
    assert (resp["best_response_d90"], resp["best_response_d180"]) == ("PR", "PR")
    assert T.patient_truth(_patient(), rules, CUTOFF)[1]["best_response_d180"] is None


def test_efs_for_all(rules):
    all_group = [{"infusion_number": "1", "disease_group": "ALL", "ld_start_date": -5}]
    # no CR/CRi by day 90: failure at day 0
    p = _patient(
        baseline=all_group,
        response=[{"assessment_date": 28, "response": "NR"}],
        followup=[{"contact_date": 100, "vital_status": "ALIVE"}],
    )
    assert _by_param(T.patient_truth(p, rules, CUTOFF)[0])["EFS"] == (0, "event", False)
    # CRi by day 90, relapse later: event at the relapse
    p = _patient(
        baseline=all_group,
        response=[{"assessment_date": 28, "response": "CRI"}, {"assessment_date": 200, "response": "RELAPSE"}],
    )
    assert _by_param(T.patient_truth(p, rules, CUTOFF)[0])["EFS"] == (200, "event", False)
    # window still open at the cut-off, no CR yet, no other event: censored at last contact
    p = _patient(baseline=all_group, response=[{"assessment_date": 28, "response": "NR"}])
    assert _by_param(T.patient_truth(p, rules, D0 + 60)[0])["EFS"] == (28, "censored", False)
    # not ALL: no EFS row
    assert "EFS" not in _by_param(T.patient_truth(_patient(), rules, CUTOFF)[0])


def test_pre_entry_flag_and_reinfusion_clock(rules):
    p = _patient(
        enrol=55,
        response=[{"assessment_date": 34, "response": "PD"}],
        product_infusion=[
            {"infusion_number": "1", "infusion_date": 0, "leukapheresis_date": -40},
            {"infusion_number": "2", "infusion_date": 70, "leukapheresis_date": -40},
        ],
        followup=[{"contact_date": 120, "vital_status": "ALIVE"}],
    )
    rows = {r["paramcd"]: r for r in T.patient_truth(p, rules, CUTOFF)[0]}
    assert rows["PFS"]["aval_days"] == 34 and rows["PFS"]["entry_days"] == 55 and rows["PFS"]["pre_entry"]
    assert rows["NRM"]["status"] == "competing" and rows["NRM"]["pre_entry"]
    assert rows["OS"]["status"] == "censored" and not rows["OS"]["pre_entry"]  # censorings are never pre-entry
    assert rows["OS"]["aval_days"] == 120  # day 0 stays the first infusion


def test_count_recovery(rules):
    thr, k = rules.recovery["ANC"]
    vals = [(0, 0.2), (3, 0.1), (7, 0.6), (10, 0.4), (14, 0.7), (21, 0.9), (28, 1.2), (28, 0.45), (60, 2.0)]
    p = _patient(lab=[{"analyte": "ANC", "lab_date": d, "value": v} for d, v in vals])
    # day 28 has a value below (lowest of the day counts): runs 14-21 (2) and 60 (1) -> not recovered
    assert T.recovery(p, "ANC", thr, k, D0, None) == ("NOT_RECOVERED", None)
    p = _patient(lab=[{"analyte": "ANC", "lab_date": d, "value": v} for d, v in vals[:7]])
    assert T.recovery(p, "ANC", thr, k, D0, None) == ("RECOVERED", D0 + 14)
    assert T.recovery(p, "ANC", thr, k, D0, D0 + 20) == ("NOT_RECOVERED", None)  # stops at the next infusion
    p = _patient(lab=[{"analyte": "ANC", "lab_date": 3, "value": 1.0}])
    assert T.recovery(p, "ANC", thr, k, D0, None) == ("NEVER_BELOW", None)
    assert T.recovery(_patient(), "ANC", thr, k, D0, None) == ("NO_DATA", None)


def test_truth_frames_of_a_generated_set(small):
    out, _ = small
    ep = pl.read_parquet(out / "ground_truth" / "endpoint_truth.parquet")
    rs = pl.read_parquet(out / "ground_truth" / "response_truth.parquet")
    assert ep.select("site_code", "patient_id", "paramcd").is_duplicated().sum() == 0
    assert set(ep["status"]) == {"event", "censored", "competing"}
    assert (ep["aval_days"] >= 0).all()
    assert set(ep["paramcd"]) >= {
        "OS",
        "OS_ITT",
        "PFS",
        "NRM",
        "RELAPSE",
        "SPM",
        "SPM_TCELL",
        "ANC_REC",
        "PLT_REC",
        "EFS",
        "DOR",
    }
    assert ep.filter(pl.col("pre_entry")).height > 0 and ep.filter(~pl.col("has_defect")).height > 0
    # competing events only where the endpoint has one; OS / PFS never
    assert (
        ep.filter(
            pl.col("paramcd").is_in(["OS", "OS_ITT", "PFS", "EFS", "DOR"]) & (pl.col("status") == "competing")
        ).height
        == 0
    )
    # every responder has a first response date and a DOR row
    dor = ep.filter(pl.col("paramcd") == "DOR").select("site_code", "patient_id")
    assert rs.filter(pl.col("first_response_date").is_not_null()).height == dor.height > 0
