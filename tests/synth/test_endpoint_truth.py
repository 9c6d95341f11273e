"""The endpoint truth's rules on hand-made patients (issue-12 endpoint spec), and its frame on a generated set."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from expectations.config import ADTTE_PARAMCDS
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


def test_a_death_only_national_linkage_found_is_a_death(rules):
    p = _patient(followup=[{"contact_date": 100, "vital_status": "ALIVE"}])
    p.linkage_deaths = [D0 + 300]
    got = _by_param(T.patient_truth(p, rules, CUTOFF)[0])
    assert got["OS"] == (300, "event", False) and got["OS_ITT"] == (360, "event", False)
    assert got["SPM"] == got["SPM_TCELL"] == got["ANC_REC"] == (300, "competing", False)
    # relapse status is known only through site follow-up: with censoring where status is known (the shipped
    # switch), a death only the linkage found after the last site contact leaves PFS / NRM / RELAPSE censored there
    assert rules.os_at_linkage
    assert got["NRM"] == got["PFS"] == got["RELAPSE"] == (100, "censored", False)
    last_contact_rule = _by_param(T.patient_truth(p, dataclasses.replace(rules, os_at_linkage=False), CUTOFF)[0])
    assert last_contact_rule["NRM"] == last_contact_rule["PFS"] == (300, "event", False)  # cause UNKNOWN: non-relapse
    assert last_contact_rule["RELAPSE"] == (300, "competing", False)
    assert T.last_alive(p) == D0 + 100  # a linkage death is not a contact
    # the returns link a patient through the registration: without one the linkage death does not count
    p.records.pop("registration")
    assert T.death(p, rules) is None


def test_linkage_and_follow_up_deaths_the_earlier_wins_and_the_death_form_over_both(rules):
    p = _patient(followup=[{"contact_date": 310, "vital_status": "DEAD"}])
    p.linkage_deaths = [D0 + 300]
    assert T.death(p, rules) == (D0 + 300, True)
    p.linkage_deaths = [D0 + 320]
    assert T.death(p, rules) == (D0 + 310, True)
    p = _patient(death=[{"death_date": 305, "primary_cause": "PRIMARY_DISEASE"}])
    p.linkage_deaths = [D0 + 300]
    assert T.death(p, rules) == (D0 + 305, False)  # date and cause from the death form
    p = _patient(crs=[{"onset_date": 3, "resolution_date": 9, "astct_grade": "5"}])
    p.linkage_deaths = [D0 + 12]
    assert T.death(p, rules) == (D0 + 12, True)  # linkage over the fatal AE; its cause stays non-relapse
    # the ranks are data (data/config/death_source_precedence.csv, the seed dbt reads): ranking linkage below the
    # fatal CRS moves the death to the CRS
    assert T.death(p, dataclasses.replace(rules, death_precedence=rules.death_precedence | {"linkage_death": 4})) == (
        D0 + 9,
        True,
    )


def test_os_censored_where_vital_status_is_known(rules):
    linked, last_contact = (
        dataclasses.replace(rules, os_at_linkage=True),
        dataclasses.replace(rules, os_at_linkage=False),
    )
    alive = _patient(followup=[{"contact_date": 400, "vital_status": "ALIVE"}])
    os_rows = ("OS", "OS_LC", "OS_LNK")
    got = _by_param(T.patient_truth(alive, linked, CUTOFF, D0 + 500)[0])
    assert [got[k] for k in os_rows] == [(500, "censored", False), (400, "censored", False), (500, "censored", False)]
    got = _by_param(T.patient_truth(alive, last_contact, CUTOFF, D0 + 500)[0])
    assert got["OS"] == got["OS_LC"] == (400, "censored", False) and got["OS_LNK"] == (500, "censored", False)
    assert got["PFS"] == got["NRM"] == (400, "censored", False)  # every other endpoint: last contact
    # a death after the completeness date is censored there; one before it is the event
    late = _patient(death=[{"death_date": 600, "primary_cause": "INFECTION"}])
    got = _by_param(T.patient_truth(late, linked, CUTOFF, D0 + 500)[0])
    assert [got[k] for k in os_rows] == [(500, "censored", False), (600, "event", False), (500, "censored", False)]
    got = _by_param(T.patient_truth(late, linked, CUTOFF, D0 + 700)[0])
    assert [got[k] for k in os_rows] == [(600, "event", False)] * 3
    # completeness before day 0: last contact; no completeness return: OS only, at last contact
    got = _by_param(T.patient_truth(alive, linked, CUTOFF, D0 - 1)[0])
    assert [got[k] for k in os_rows] == [(400, "censored", False)] * 3
    got = _by_param(T.patient_truth(alive, linked, CUTOFF, None)[0])
    assert got["OS"] == (400, "censored", False) and "OS_LC" not in got and "OS_LNK" not in got


def test_os_itt_follows_the_configured_os_rule_from_the_order(rules):
    linked, last_contact = (
        dataclasses.replace(rules, os_at_linkage=True),
        dataclasses.replace(rules, os_at_linkage=False),
    )
    alive = _patient(followup=[{"contact_date": 400, "vital_status": "ALIVE"}])  # ordered on day -60
    assert _by_param(T.patient_truth(alive, linked, CUTOFF, D0 + 500)[0])["OS_ITT"] == (560, "censored", False)
    assert _by_param(T.patient_truth(alive, last_contact, CUTOFF, D0 + 500)[0])["OS_ITT"] == (460, "censored", False)
    # completeness between the order and the infusion: OS_ITT is censored there, OS falls back to last contact
    got = _by_param(T.patient_truth(alive, linked, CUTOFF, D0 - 10)[0])
    assert got["OS_ITT"] == (50, "censored", False) and got["OS"] == (400, "censored", False)
    # ordered, never infused, dead after the completeness date (the linkage covers every registered patient)
    never = _patient(product_infusion=[], baseline=[])
    never.linkage_deaths = [D0 + 30]
    assert T.patient_truth(never, linked, CUTOFF, D0)[0] == [
        {
            "paramcd": "OS_ITT",
            "startdt": D0 - 60,
            "aval_days": 60,
            "status": "censored",
            "entry_days": 40,
            "pre_entry": False,
        }
    ]
    assert _by_param(T.patient_truth(never, last_contact, CUTOFF, D0)[0])["OS_ITT"] == (90, "event", False)
    assert _by_param(T.patient_truth(never, linked, CUTOFF, D0 + 30)[0])["OS_ITT"] == (90, "event", False)


def _return(root: Path, month: str, form: str, rows: list[dict]) -> None:
    (root / "LINKAGE" / month).mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_csv(root / "LINKAGE" / month / f"{form}.csv")


def test_read_linkage_as_of_the_cut_off(tmp_path):
    from kocartr.synth.cohort import month_index

    def death(record: str, day: str, action: str = "") -> dict:
        return {"patient_key": "k1", "record_id": record, "action": action, "death_date": day}

    def comp(source: str, through: str) -> dict:
        return {"record_id": source, "action": "", "linkage_source": source, "complete_through": through}

    _return(tmp_path, "2024-01", "linkage_death", [death("LD-1", "2023-11-05"), death("LD-2", "2023-12-01")])
    _return(tmp_path, "2024-02", "linkage_death", [death("LD-2", "2023-12-01", "D")])  # deleted
    _return(tmp_path, "2024-03", "linkage_death", [death("LD-3", "2024-01-20")])  # after the cut-off month
    _return(tmp_path, "2024-01", "linkage_completeness", [comp("DEATH_STATISTICS", "2023-11-30")])
    _return(tmp_path, "2024-02", "linkage_completeness", [comp("DEATH_STATISTICS", "2024-03-31")])
    cutoff = (dt.date(2024, 2, 29) - dt.date(1970, 1, 1)).days
    got = T.read_linkage(tmp_path, month_index("2024-02"), cutoff)
    assert got.deaths == {"k1": [(dt.date(2023, 11, 5) - dt.date(1970, 1, 1)).days]}
    assert got.death_complete_through == cutoff  # capped at the cut-off
    assert T.read_linkage(tmp_path / "none", month_index("2024-02"), cutoff) == T.Linkage()


def test_truth_frames_of_a_generated_set(small):
    out, _ = small
    ep = pl.read_parquet(out / "ground_truth" / "endpoint_truth.parquet")
    rs = pl.read_parquet(out / "ground_truth" / "response_truth.parquet")
    assert ep.select("site_code", "patient_id", "paramcd").is_duplicated().sum() == 0
    assert set(ep["status"]) == {"event", "censored", "competing"}
    assert (ep["aval_days"] >= 0).all()
    assert set(ep["paramcd"]) >= set(ADTTE_PARAMCDS)
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


def test_tcell_morphology_rule_reads_the_seed(rules):
    from kocartr.censoring import is_tcell_morphology

    r = rules.tcell_histology
    assert (9700, 9719) in r and (9837, 9837) in r  # ICD-O-3.1 histology group 10 (data/config seed)
    assert [is_tcell_morphology(m, r) for m in ("9702/3", "9827/3", "9834/3", "9837/3", "9948/3")] == [True] * 5
    # B-cell and myeloid neighbours, blanks and malformed codes are not T-cell
    assert [is_tcell_morphology(m, r) for m in ("9823/3", "9833/3", "9835/3", "9861/3", "", None, "97x2/3")] == [
        False
    ] * 7


def test_spm_where_cancer_status_is_known(rules):
    """With the shipped switch, national cancer registry cancers count (the earlier date), T-cell by ICD-O-3
    morphology, and SPM is censored at the earlier of the two completeness dates, death competing; with the
    last-contact rule SPM is the site reports censored at last contact, as before."""
    assert rules.os_at_linkage
    off = dataclasses.replace(rules, os_at_linkage=False)
    seen = [{"contact_date": 100, "vital_status": "ALIVE"}]
    site = [{"diagnosis_date": 250, "category": "OTHER_LYMPHOID", "t_cell_malignancy": "N"}]
    p = _patient(followup=seen, secondary_malignancy=site)
    p.linkage_cancers = [(D0 + 240, "9702/3")]  # the same tumour, dated earlier and coded T-cell by the registry
    got = _by_param(T.patient_truth(p, rules, CUTOFF, D0 + 600, D0 + 500)[0])
    assert got["SPM"] == got["SPM_TCELL"] == (240, "event", False)
    got = _by_param(T.patient_truth(p, off, CUTOFF, D0 + 600, D0 + 500)[0])
    assert got["SPM"] == (250, "event", False) and got["SPM_TCELL"] == (250, "censored", False)  # site LC = 250
    # cancer-free and alive: censored at the completeness date, not at the last contact
    q = _patient(followup=seen)
    got = _by_param(T.patient_truth(q, rules, CUTOFF, D0 + 600, D0 + 500)[0])
    assert got["SPM"] == got["SPM_TCELL"] == (500, "censored", False)
    assert _by_param(T.patient_truth(q, off, CUTOFF, D0 + 600, D0 + 500)[0])["SPM"] == (100, "censored", False)
    # a cancer or a death after the completeness date: censored there; a death before it: competing
    q.linkage_cancers = [(D0 + 520, "8140/3")]
    q.linkage_deaths = [D0 + 550]
    assert _by_param(T.patient_truth(q, rules, CUTOFF, D0 + 600, D0 + 500)[0])["SPM"] == (500, "censored", False)
    q.linkage_deaths = [D0 + 450]
    assert _by_param(T.patient_truth(q, rules, CUTOFF, D0 + 600, D0 + 500)[0])["SPM"] == (450, "competing", False)
    # no cancer completeness date (or before day 0): last contact, linkage cancers still count
    q.linkage_deaths = []
    assert _by_param(T.patient_truth(q, rules, CUTOFF, D0 + 600, None)[0])["SPM"] == (520, "event", False)
    assert _by_param(T.patient_truth(q, rules, CUTOFF, D0 + 600, D0 - 1)[0])["SPM"] == (520, "event", False)
    # without a registration the agency links nothing
    q.records.pop("registration")
    assert T.malignancies(q, rules, D0, True) == []


def test_spm_complete_through_is_the_earlier_of_both_sources():
    assert T.Linkage(death_complete_through=10, cancer_complete_through=7).spm_complete_through == 7
    assert T.Linkage(death_complete_through=5, cancer_complete_through=7).spm_complete_through == 5
    assert T.Linkage(death_complete_through=5).spm_complete_through is None
    assert T.Linkage(cancer_complete_through=5).spm_complete_through is None


def test_read_linkage_cancers_and_cancer_completeness(tmp_path):
    from kocartr.synth.cohort import month_index

    def cancer(record: str, day: str, morph: str, action: str = "") -> dict:
        return {"patient_key": "k1", "record_id": record, "action": action, "diagnosis_date": day} | {
            "icdo3_topography": "C77.9",
            "icdo3_morphology": morph,
        }

    _return(tmp_path, "2024-01", "linkage_cancer", [cancer("LC-1", "2023-10-05", "9702/3")])
    _return(tmp_path, "2024-02", "linkage_cancer", [cancer("LC-1", "2023-10-07", "9702/3")])  # corrected date
    _return(tmp_path, "2024-03", "linkage_cancer", [cancer("LC-2", "2024-01-20", "8140/3")])  # later return
    comp = {"record_id": "c", "action": "", "linkage_source": "CANCER_REGISTRY", "complete_through": "2023-08-31"}
    _return(tmp_path, "2024-02", "linkage_completeness", [comp])
    cutoff = (dt.date(2024, 2, 29) - dt.date(1970, 1, 1)).days
    got = T.read_linkage(tmp_path, month_index("2024-02"), cutoff)
    assert got.cancers == {"k1": [((dt.date(2023, 10, 7) - dt.date(1970, 1, 1)).days, "9702/3")]}
    assert got.cancer_complete_through == (dt.date(2023, 8, 31) - dt.date(1970, 1, 1)).days
    assert got.death_complete_through is None and got.spm_complete_through is None
