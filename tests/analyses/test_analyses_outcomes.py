"""Table builders over small hand-made ADaM frames: labels, counts, nulls and agreement with the estimators."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from analyses import outcomes
from analyses.competing_risks import aalen_johansen, cif_at
from analyses.survival import DAYS_PER_MONTH

CUTOFF = dt.date(2026, 10, 31)


def _adtte() -> pl.DataFrame:
    rows = []
    # OS: 6 patients, two products; P6 has a second infusion row that must be ignored (INFNUM 2)
    os_ = [
        ("P1", 1, 100.0, 0, 0.0, "KYMRIAH", "LBCL", "S01", 2023),
        ("P2", 1, 200.0, 1, 0.0, "KYMRIAH", "LBCL", "S01", 2023),
        ("P3", 1, 200.0, 0, 0.0, "KYMRIAH", "ALL", "S02", 2024),
        ("P4", 1, 400.0, 1, 30.0, "YESCARTA", "LBCL", "S02", 2024),
        ("P5", 1, 500.0, 0, 0.0, "YESCARTA", None, "S02", 2024),
        ("P6", 1, 50.0, 1, 0.0, "YESCARTA", "LBCL", "S01", 2024),
        ("P6", 2, 10.0, 0, 0.0, "YESCARTA", "LBCL", "S01", 2024),
    ]
    for u, inf, aval, cnsr, ent, prod, dis, site, yr in os_:
        rows.append(
            dict(
                USUBJID=u,
                INFNUM=inf,
                PARAMCD="OS",
                AVAL=aval,
                CNSR=cnsr,
                CMPEVFL="N",
                ENTRYT=ent,
                PRODUCT=prod,
                DISGRP=dis,
                SITEID=site,
                INFYEAR=yr,
            )
        )
    # NRM with RELAPSE competing (2 here = CNSR NULL + CMPEVFL 'Y'), no delayed entry; one invalid row (AVAL < 0)
    nrm = [("P1", 100.0, 0), ("P2", 150.0, 2), ("P3", 150.0, 0), ("P4", 300.0, 1), ("P5", 20.0, 2), ("P6", -1.0, 0)]
    prod = {"P1": "KYMRIAH", "P2": "KYMRIAH", "P3": "KYMRIAH", "P4": "YESCARTA", "P5": "YESCARTA", "P6": "YESCARTA"}
    for u, aval, cnsr in nrm:
        rows.append(
            dict(
                USUBJID=u,
                INFNUM=1,
                PARAMCD="NRM",
                AVAL=aval,
                CNSR=None if cnsr == 2 else cnsr,
                CMPEVFL="Y" if cnsr == 2 else "N",
                ENTRYT=0.0,
                PRODUCT=prod[u],
                DISGRP="LBCL",
                SITEID="S01",
                INFYEAR=2023,
            )
        )
    # SPM: 2 events in 4 patients, delayed entry for P4
    spm = [("P1", 365.25, 0, 0.0), ("P2", 730.5, 1, 0.0), ("P3", 365.25, 2, 0.0), ("P4", 730.5, 0, 365.25)]
    for u, aval, cnsr, ent in spm:
        rows.append(
            dict(
                USUBJID=u,
                INFNUM=1,
                PARAMCD="SPM",
                AVAL=aval,
                CNSR=None if cnsr == 2 else cnsr,
                CMPEVFL="Y" if cnsr == 2 else "N",
                ENTRYT=ent,
                PRODUCT=prod[u],
                DISGRP="LBCL",
                SITEID="S01",
                INFYEAR=2023,
            )
        )
    return pl.DataFrame(rows, schema_overrides={"INFYEAR": pl.Float64})


def test_survival_estimates_labels_counts_and_values() -> None:
    out = outcomes.survival_estimates(_adtte(), CUTOFF, endpoints=("OS",))
    assert out.columns[:5] == ["endpoint", "stratum_variable", "stratum", "method", "data_cutoff"]
    assert all(out.schema[c] == pl.Utf8 for c in ("endpoint", "stratum_variable", "stratum"))
    overall = out.filter((pl.col("stratum_variable") == "overall") & (pl.col("row_type") == "landmark"))
    six = overall.filter(pl.col("time_months") == 6.0).row(0, named=True)
    # CNSR 0 = event: deaths P1 (100), P3 (200), P5 (500); censored P6 (50, first infusion row), P2 (200),
    # P4 (400, entered day 30). t=100: n=5 -> 4/5 (P6 gone); 6 months = 182.625 d -> S = 4/5
    assert six["n"] == 6 and six["events"] == 3
    assert six["estimate"] == pytest.approx(4 / 5) and six["time_days"] == pytest.approx(6 * DAYS_PER_MONTH)
    # at risk at 182.625 d: P2, P3, P4, P5
    assert six["n_at_risk"] == 4 and six["n_event_cum"] == 1 and six["n_censored_cum"] == 1
    assert six["person_years"] == pytest.approx((100 + 200 + 200 + 370 + 500 + 50) / 365.25)
    assert six["n_delayed_entry"] == 1
    assert six["method"] == "Kaplan-Meier (lifelines 0.30.3), log(-log) CI"
    assert six["data_cutoff"] == CUTOFF
    # beyond the last follow-up (500 d): null, not a crash
    assert overall.filter(pl.col("time_months") == 60.0)["estimate"].to_list() == [None]
    # strata as strings, INFYEAR float -> '2023', missing DISGRP -> '(missing)'
    assert set(out.filter(pl.col("stratum_variable") == "INFYEAR")["stratum"].unique()) == {"2023", "2024"}
    assert "(missing)" in out.filter(pl.col("stratum_variable") == "DISGRP")["stratum"].to_list()
    med = out.filter((pl.col("row_type") == "median") & (pl.col("stratum") == "overall")).row(0, named=True)
    # t=200: n=4 (censored P2 still at risk) -> 4/5*3/4 = 3/5; t=500: n=1 -> 0: median 500 d
    assert med["estimate"] == pytest.approx(500 / DAYS_PER_MONTH) and med["unit"] == "months"
    curve = out.filter((pl.col("row_type") == "curve") & (pl.col("stratum") == "overall"))
    assert curve["time_days"].to_list() == [50.0, 100.0, 200.0, 400.0, 500.0]
    assert curve["n_at_risk"].to_list() == [6, 5, 4, 2, 1]  # P4 entered at day 30 < 50
    assert curve["estimate"].to_list() == pytest.approx([1.0, 0.8, 0.6, 0.6, 0.0])


def test_cumulative_incidence_matches_estimator_and_gray_rows() -> None:
    out = outcomes.cumulative_incidence(_adtte(), CUTOFF, endpoints={"NRM": "RELAPSE"})
    lm = out.filter((pl.col("row_type") == "landmark") & (pl.col("stratum") == "overall"))
    row = lm.filter(pl.col("time_months") == 6.0).row(0, named=True)
    # P6 excluded (AVAL < 0): 5 patients; t=20 relapse(comp), t=100 NRM, t=150 NRM + relapse
    assert row["n"] == 5 and row["n_excluded"] == 1 and "AVAL missing or < 0" in row["note"]
    ref = cif_at(
        aalen_johansen(np.array([100, 150, 150, 300, 20.0]), np.array([1, 2, 1, 0, 2])), np.array([6 * DAYS_PER_MONTH])
    )
    assert row["estimate"] == pytest.approx(ref["estimate"][0])
    # by hand: t=20 n=5 comp -> S=4/5; t=100 n=4 -> F=1/5; t=150 n=3, 1 NRM -> F = 1/5 + (3/5)(1/3) = 2/5
    assert row["estimate"] == pytest.approx(0.4)
    assert row["std_error"] == pytest.approx(np.sqrt(ref["variance"][0]))
    assert (row["events"], row["competing_events"], row["competing_event"]) == (2, 2, "RELAPSE")
    assert row["method"].startswith("Aalen-Johansen (own)")
    gray = out.filter(pl.col("row_type") == "gray_test")
    assert gray["stratum_variable"].to_list() == [v for v in outcomes.STRATIFIERS if v != "REGISTRATION"]
    prod = gray.filter(pl.col("stratum_variable") == "PRODUCT").row(0, named=True)
    assert prod["test_df"] == 1 and prod["p_value"] is not None and 0 <= prod["p_value"] <= 1
    site = gray.filter(pl.col("stratum_variable") == "SITEID").row(0, named=True)
    assert site["test_statistic"] is None and "fewer than two" in site["note"]


def test_gray_not_reported_with_delayed_entry_and_event_rates() -> None:
    adtte = _adtte()
    cif = outcomes.cumulative_incidence(adtte, CUTOFF, endpoints={"SPM": "DEATH"})
    g = cif.filter((pl.col("row_type") == "gray_test") & (pl.col("stratum_variable") == "PRODUCT"))
    assert g["stratum"].to_list() == ["all levels", "all levels (prospective registrations)"]
    assert g["p_value"][0] is None and "delayed entry" in g["note"][0]
    # the alternative: Gray's test on the patients without delayed entry (P1-P3, all KYMRIAH: one level here)
    assert g["n"][1] == 3 and "fewer than two" in g["note"][1]
    rates = outcomes.event_rates(adtte, CUTOFF, endpoints=("SPM",))
    r = rates.filter(pl.col("stratum_variable") == "overall").row(0, named=True)
    # person-time from entry: 1 + 2 + 1 + (2 - 1) = 5 years; 2 events -> 40 per 100 PY
    assert r["person_years"] == pytest.approx(5.0) and r["events"] == 2 and r["competing_events"] == 1
    assert r["rate_per_100py"] == pytest.approx(40.0)
    assert r["lower_95"] == pytest.approx(100 * 0.2422093 / 5, abs=1e-5)  # Garwood x=2: 0.2422093, 7.224688
    assert r["upper_95"] == pytest.approx(100 * 7.224688 / 5, abs=1e-4)


def test_empty_endpoint_and_empty_strata_are_skipped() -> None:
    out = outcomes.survival_estimates(_adtte(), CUTOFF, endpoints=("PFS",))
    assert out.height == 0 and out.columns == list(outcomes.SURVIVAL_SCHEMA)


def test_event_at_own_entry_time_is_excluded_and_counted() -> None:
    df = pl.DataFrame(
        dict(
            USUBJID=["A", "B", "C"],
            INFNUM=[1, 1, 1],
            PARAMCD=["OS"] * 3,
            AVAL=[10.0, 20.0, 30.0],
            CNSR=[0, 0, 1],
            ENTRYT=[0.0, 20.0, 5.0],
            PRODUCT=["X"] * 3,
            DISGRP=["D"] * 3,
            SITEID=["S"] * 3,
            INFYEAR=[2024] * 3,
        )
    )
    out = outcomes.survival_estimates(df, CUTOFF, endpoints=("OS",), include_curve=False)
    row = out.filter((pl.col("stratum") == "overall") & (pl.col("row_type") == "landmark")).row(0, named=True)
    assert row["n"] == 2 and row["n_excluded"] == 1 and "own entry time" in row["note"]


def _adsl_adae() -> tuple[pl.DataFrame, pl.DataFrame]:
    adsl = pl.DataFrame(
        dict(
            USUBJID=["P1", "P2", "P3", "P4", "P5"],
            INFFL=["Y", "Y", "Y", "Y", "N"],
            PRODUCT=["KYMRIAH", "KYMRIAH", "YESCARTA", "YESCARTA", "YESCARTA"],
        )
    )
    adae = pl.DataFrame(
        dict(
            USUBJID=["P1", "P1", "P2", "P3", "P5", "P4"],
            AECAT=["CRS", "CRS", "CRS", "ICANS", "CRS", "CRS"],
            ATOXGR=[1, 3, 2, 4, 3, 0],
            ASTDY=[5, 2, 1, 7, 3, 4],
            ADURN=[3, 4, 6, 5, 2, 1],
            AETOCI=["N", "Y", "N", "N", "Y", "N"],
            AESTER=["N", "N", "N", "Y", "N", "N"],
            AEICU=["N", "Y", "N", "Y", "N", "N"],
            ICUDAYS=[0, 3, 0, 2, 0, 0],
        )
    )
    return adsl, adae


def test_proportions_by_hand() -> None:
    adsl, adae = _adsl_adae()
    out = outcomes.proportions(adae, adsl, CUTOFF)

    def get(ep: str, stratum: str, measure: str) -> dict:
        return out.filter(
            (pl.col("endpoint") == ep) & (pl.col("stratum") == stratum) & (pl.col("measure") == measure)
        ).row(0, named=True)

    # infused: P1..P4 (P5 not infused, its CRS ignored); CRS: P1 (max 3), P2 (2); P4 grade 0 is no event
    anyg = get("CRS", "overall", "any_grade")
    assert (anyg["n"], anyg["events"], anyg["proportion"]) == (4, 2, 0.5)
    assert anyg["lower_95"] == pytest.approx(0.06758599, abs=1e-7) and anyg["upper_95"] == pytest.approx(
        0.93241401, abs=1e-7
    )
    assert get("CRS", "overall", "grade_ge3")["events"] == 1
    assert [get("CRS", "overall", f"max_grade_{g}")["events"] for g in range(6)] == [2, 0, 1, 1, 0, 0]
    assert get("CRS", "overall", "tocilizumab")["events"] == 1 and get("CRS", "overall", "icu")["events"] == 1
    onset = get("CRS", "overall", "onset_day")  # first episodes: P1 day 2, P2 day 1
    assert (onset["n_values"], onset["median"], onset["q1"], onset["q3"]) == (2, 1.5, 1.25, 1.75)
    dur = get("CRS", "overall", "duration_days")  # ADURN of those first episodes: 4, 6
    assert dur["median"] == 5.0
    assert get("CRS", "overall", "icu_days")["median"] == 3.0
    assert get("CRS", "YESCARTA", "any_grade")["events"] == 0 and get("CRS", "YESCARTA", "any_grade")["n"] == 2
    assert get("CRS", "YESCARTA", "onset_day")["median"] is None  # undefined -> null
    assert get("ICANS", "YESCARTA", "grade_ge3")["events"] == 1
    assert out.filter(pl.col("stratum_variable") == "PRODUCT")["stratum"].unique().sort().to_list() == [
        "KYMRIAH",
        "YESCARTA",
    ]


def test_pre_entry_rows_are_excluded_with_their_reason() -> None:
    # B's event (day 20) happened before its registry entry (day 30): flagged PREENTFL = 'Y' in adtte
    df = pl.DataFrame(
        dict(
            USUBJID=["A", "B", "C"],
            INFNUM=[1, 1, 1],
            PARAMCD=["PFS"] * 3,
            AVAL=[10.0, 20.0, 40.0],
            CNSR=[0, 0, 1],
            CMPEVFL=["N"] * 3,
            ENTRYT=[0.0, 30.0, 0.0],
            PREENTFL=["N", "Y", "N"],
            PRODUCT=["X"] * 3,
            DISGRP=["D"] * 3,
            SITEID=["S"] * 3,
            INFYEAR=[2024] * 3,
        )
    )
    out = outcomes.survival_estimates(df, CUTOFF, endpoints=("PFS",), include_curve=False)
    row = out.filter((pl.col("stratum") == "overall") & (pl.col("row_type") == "landmark")).row(0, named=True)
    assert row["n"] == 2 and row["n_excluded"] == 1 and outcomes.PRE_ENTRY_REASON in row["note"]


def test_censoring_at_registry_completeness_before_entry_is_no_data_error() -> None:
    # B and C registered (day 400) after the cancer registry's completeness date (day 300): censored there, before
    # entry, with no follow-up inside the completeness window; D's censoring at last contact before entry is a data
    # error. Each is counted under its own reason, and the completeness cases never as "ENTRYT < 0 or > AVAL".
    df = pl.DataFrame(
        dict(
            USUBJID=["A", "B", "C", "D", "E"],
            INFNUM=[1] * 5,
            PARAMCD=["SPM"] * 5,
            AVAL=[100.0, 300.0, 300.0, 50.0, 300.0],
            CNSR=[0, 1, 1, 1, 1],
            CMPEVFL=["N"] * 5,
            CNSDTDSC=[None, "CANCER REGISTRY COMPLETENESS", "DEATH REGISTRY COMPLETENESS", "LAST CONTACT"]
            + ["CANCER REGISTRY COMPLETENESS"],
            ENTRYT=[0.0, 400.0, 400.0, 60.0, 0.0],
            PREENTFL=["N"] * 5,
            PRODUCT=["X"] * 5,
            DISGRP=["D"] * 5,
            SITEID=["S"] * 5,
            INFYEAR=[2024] * 5,
        )
    )
    out = outcomes.cumulative_incidence(df, CUTOFF, endpoints={"SPM": "DEATH"}, include_curve=False)
    row = out.filter((pl.col("stratum") == "overall") & (pl.col("row_type") == "landmark")).row(0, named=True)
    assert row["n"] == 2 and row["n_excluded"] == 3 and row["events"] == 1
    assert row["note"] == f"2 excluded: {outcomes.NO_WINDOW_REASON}; 1 excluded: ENTRYT < 0 or > AVAL"


def test_naive_km_on_a_competing_risk_parameter_refuses_competing_rows() -> None:
    # a competing event (CNSR NULL, CMPEVFL 'Y') is never read as a censoring by the KM builder
    out = outcomes.survival_estimates(_adtte(), CUTOFF, endpoints=("NRM",), include_curve=False)
    row = out.filter((pl.col("stratum") == "overall") & (pl.col("row_type") == "landmark")).row(0, named=True)
    assert row["n"] == 3 and row["n_excluded"] == 3 and "2 excluded: status missing or not CNSR 0/1" in row["note"]


def test_registration_stratum_is_the_prospective_sensitivity_analysis() -> None:
    adsl = pl.DataFrame(dict(USUBJID=["P1", "P2", "P3", "P4", "P5", "P6"], REGLATFL=["N", "N", "N", "Y", "N", "N"]))
    out = outcomes.survival_estimates(
        outcomes.with_registration(_adtte(), adsl), CUTOFF, endpoints=("OS",), include_curve=False
    )
    reg = out.filter((pl.col("stratum_variable") == "REGISTRATION") & (pl.col("row_type") == "median"))
    assert reg["stratum"].to_list() == ["late", "prospective"]
    prosp = reg.filter(pl.col("stratum") == "prospective").row(0, named=True)
    assert prosp["n"] == 5 and prosp["n_delayed_entry"] == 0


def test_proportions_count_only_patients_evaluable_for_the_toxicity() -> None:
    adsl, adae = _adsl_adae()
    # P2 infused 20 days before the cut-off: not evaluable for CRS (30-day lag here), P1 / P3 / P4 are
    adsl = adsl.with_columns(pl.Series("TRTSDT", [CUTOFF - dt.timedelta(days=d) for d in (100, 20, 100, 100, 100)]))
    out = outcomes.proportions(adae, adsl, CUTOFF, {"CRS": 30, "ICANS": 0})
    anyg = out.filter(
        (pl.col("endpoint") == "CRS") & (pl.col("stratum") == "overall") & (pl.col("measure") == "any_grade")
    ).row(0, named=True)
    assert (anyg["n"], anyg["n_not_evaluable"], anyg["events"], anyg["min_days_after_infusion"]) == (3, 1, 1, 30)
    assert "not evaluable" in anyg["note"]
    kym = out.filter(
        (pl.col("endpoint") == "CRS") & (pl.col("stratum") == "KYMRIAH") & (pl.col("measure") == "any_grade")
    ).row(0, named=True)
    assert (kym["n"], kym["n_not_evaluable"]) == (1, 1)
    icans = out.filter(
        (pl.col("endpoint") == "ICANS") & (pl.col("stratum") == "overall") & (pl.col("measure") == "any_grade")
    ).row(0, named=True)
    assert (icans["n"], icans["n_not_evaluable"]) == (4, 0)


def test_evaluability_comes_from_configuration() -> None:
    cfg = outcomes.load_evaluability()
    assert set(cfg) == set(outcomes.AE_CATEGORIES) and all(v > 0 for v in cfg.values())


def test_response_rates_from_adrs_over_completed_windows() -> None:
    adrs = pl.DataFrame(
        dict(
            USUBJID=["A", "B", "C", "D"],
            PARAMCD=["BOR"] * 4,
            AVISIT=["D90"] * 4,
            AVALC=["CR", "PR", "NE", "SD"],
            CRFL=["Y", "N", "N", "N"],
            RSPFL=["Y", "Y", "N", "N"],
            WINDCMFL=["Y", "Y", "Y", "N"],
            PRODUCT=["X", "X", "Y", "Y"],
        )
    )
    out = outcomes.response_rates(adrs, CUTOFF)

    def get(stratum: str, measure: str) -> dict:
        return out.filter((pl.col("stratum") == stratum) & (pl.col("measure") == measure)).row(0, named=True)

    # D's window is still open: not counted; NE (C) stays in the denominator as a non-responder
    assert (get("overall", "cr_rate")["n"], get("overall", "cr_rate")["events"]) == (3, 1)
    assert get("overall", "orr")["events"] == 2 and get("overall", "not_evaluable")["events"] == 1
    assert get("overall", "orr")["n_not_evaluable"] == 1 and get("Y", "orr")["n_not_evaluable"] == 1
    assert out["endpoint"].unique().to_list() == ["RESPONSE_D90"]


def test_icaht_early_and_late_grades_by_hand() -> None:
    # derived ICAHT rows (AECAT 'ICAHT', phase in AEDECOD) are graded per phase, max grade per patient
    adsl = pl.DataFrame(
        dict(USUBJID=["P1", "P2", "P3", "P4"], INFFL=["Y"] * 4, PRODUCT=["KYMRIAH", "KYMRIAH", "YESCARTA", "YESCARTA"])
    )
    adae = pl.DataFrame(
        dict(
            USUBJID=["P1", "P1", "P2", "P3", "P3"],
            AECAT=["ICAHT", "ICAHT", "ICAHT", "ICAHT", "CRS"],
            AEDECOD=["ICAHT EARLY", "ICAHT LATE", "ICAHT EARLY", "ICAHT EARLY", "CRS"],
            ATOXGR=[3, 1, 1, 4, 2],
            ASTDY=[0, 31, 0, 0, 1],
            ADURN=[10, 40, 3, 25, 4],
        )
    )
    out = outcomes.proportions(adae, adsl, CUTOFF, {})

    def get(ep: str, stratum: str, measure: str) -> dict:
        return out.filter(
            (pl.col("endpoint") == ep) & (pl.col("stratum") == stratum) & (pl.col("measure") == measure)
        ).row(0, named=True)

    # early: P1 grade 3, P2 grade 1, P3 grade 4, P4 none -> 2/4 grade >= 3 (CP 0.0676-0.9324)
    ge3 = get("ICAHT_EARLY", "overall", "grade_ge3")
    assert (ge3["n"], ge3["events"], ge3["proportion"]) == (4, 2, 0.5)
    assert ge3["lower_95"] == pytest.approx(0.06758599, abs=1e-7)
    assert [get("ICAHT_EARLY", "overall", f"max_grade_{g}")["events"] for g in range(5)] == [1, 1, 0, 1, 1]
    # late: only P1 (grade 1); YESCARTA early grade >= 3 = P3 only
    assert get("ICAHT_LATE", "overall", "any_grade")["events"] == 1
    assert get("ICAHT_LATE", "overall", "grade_ge3")["events"] == 0
    assert get("ICAHT_EARLY", "YESCARTA", "grade_ge3")["events"] == 1
    assert get("CRS", "overall", "any_grade")["events"] == 1


def test_identical_strata_share_one_fit_and_keep_their_values() -> None:
    from analyses import survival as sv
    from analyses.outcomes import _fit_once

    t = np.array([3.0, 1.0, 2.0, 5.0])
    ev = np.array([1, 0, 1, 1])
    e = np.array([0.0, 0.0, 0.5, 0.0])
    fits: dict[bytes, sv.KMCurve] = {}
    first = _fit_once(fits, t, ev, e)
    assert _fit_once(fits, t.copy(), ev.copy(), e.copy()) is first and len(fits) == 1
    # another order is another input (the person-time sum follows the order): fitted on its own, same estimate
    other = _fit_once(fits, t[::-1].copy(), ev[::-1].copy(), e[::-1].copy())
    assert other is not first and len(fits) == 2
    assert np.array_equal(other.estimate, first.estimate)
    assert np.array_equal(first.estimate, sv.kaplan_meier(t, ev, e).estimate)
