"""Late-effect tables (analyses.late_effects) on hand-computed cases: landmark rule, rates by window, competing-risk
endpoints, pregnancy counts, days alive and out of hospital."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from analyses import late_effects as le
from analyses import outcomes as oc
from analyses import rates as rt
from analyses.plan import MISSING

D0 = dt.date(2024, 1, 1)
CUT = dt.date(2025, 6, 1)  # day 517 for everyone below


def _d(days: int | None) -> dt.date | None:
    return None if days is None else D0 + dt.timedelta(days=days)


def _adsl(
    last: list[int],
    death: list[int | None],
    product: list[str] | None = None,
    alive: list[int] | None = None,
    site_death: list[bool] | None = None,
    lost: list[bool] | None = None,
) -> pl.DataFrame:
    """ADSL rows: last contact (`last`), death day, last day known alive from a site (default: the last contact),
    death reported by a site (default: yes), lost to follow-up (default: no)."""
    n = len(last)
    return pl.DataFrame(
        {
            "USUBJID": [f"p{i}" for i in range(n)],
            "INFFL": ["Y"] * n,
            "TRTSDT": [D0] * n,
            "PRODUCT": product or ["A"] * n,
            "DISGRP": ["LBCL"] * n,
            "LSTCNTDT": [_d(x) for x in last],
            "LSTALVDT": [_d(x) for x in (alive or last)],
            "DTHDT": [_d(x) for x in death],
            "DTHSITFL": [None if d is None else ("Y" if s else "N") for d, s in zip(death, site_death or [True] * n)],
            "LTFUFL": ["Y" if x else "N" for x in (lost or [False] * n)],
        }
    )


def _adtte(exit_: list[float], died: list[bool], entry: list[float] | None = None) -> pl.DataFrame:
    n = len(exit_)
    return pl.DataFrame(
        {
            "USUBJID": [f"p{i}" for i in range(n)],
            "PARAMCD": ["OS"] * n,
            "INFNUM": [1] * n,
            "AVAL": exit_,
            "CNSR": [0 if d else 1 for d in died],
            "ENTRYT": entry or [0.0] * n,
        }
    )


def _row(df: pl.DataFrame, **eq: object) -> dict:
    out = df.filter(pl.all_horizontal(*[pl.col(k) == v for k, v in eq.items()]))
    assert out.height == 1, out
    return out.row(0, named=True)


ANC = le.Measure("CYTOPENIA_ANC_G3", "CYTOPENIA", "ANC", 1.0, "labs")
D30 = le.Landmark("CYTOPENIA", 30, 23, 37)


def test_landmark_nearest_value_denominators_and_exact_ci() -> None:
    # p0: day 28 = 0.5 and day 31 = 2.0 -> nearest is day 31 (no event); p1: days 27 and 33 equally near -> the
    # worse value 0.4 (event); p2 alive, no value in the window; p3 died on day 20; p4 lost at day 25 with no
    # value (not followed); p5 day 30 = 0.9 (event)
    adsl = _adsl([400, 400, 400, 20, 25, 400], [None, None, None, 20, None, None])
    labs = pl.DataFrame(
        {
            "USUBJID": ["p0", "p0", "p1", "p1", "p2", "p5"],
            "ANALYTE": ["ANC"] * 6,
            "ADY": [28.0, 31.0, 27.0, 33.0, 60.0, 30.0],
            "AVAL": [0.5, 2.0, 3.0, 0.4, 0.1, 0.9],
        }
    )
    out = le.landmark_prevalence(adsl, le.LateInputs(labs=labs), CUT, [ANC], [D30])
    r = _row(out, stratum="overall")
    assert (r["n_infused"], r["n_not_reached"], r["n_dead_before"]) == (6, 0, 1)
    assert (r["n_alive_followed"], r["n_no_measurement"], r["n"], r["events"]) == (4, 1, 3, 2)
    ci = rt.clopper_pearson(2, 3)
    assert r["proportion"] == pytest.approx(2 / 3)
    assert (r["lower_95"], r["upper_95"]) == pytest.approx((ci.lower, ci.upper))
    assert (r["window_start_day"], r["window_end_day"], r["threshold"]) == (23, 37, 1.0)
    assert _row(out, stratum_variable="PRODUCT", stratum="A")["events"] == 2


def test_landmark_window_not_ended_is_not_reached() -> None:
    adsl = _adsl([30], [None])
    cut = D0 + dt.timedelta(days=36)  # window 23-37 still open
    labs = pl.DataFrame({"USUBJID": ["p0"], "ANALYTE": ["ANC"], "ADY": [30.0], "AVAL": [0.2]})
    r = _row(le.landmark_prevalence(adsl, le.LateInputs(labs=labs), cut, [ANC], [D30]), stratum="overall")
    assert (r["n_not_reached"], r["n_alive_followed"], r["n"], r["proportion"]) == (1, 0, 0, None)


def test_cd4_rows_exist_before_any_cd4_value() -> None:
    adsl = _adsl([400], [None])
    labs = pl.DataFrame({"USUBJID": ["p0"], "ANALYTE": ["IGG"], "ADY": [90.0], "AVAL": [300.0]})
    out = le.landmark_prevalence(adsl, le.LateInputs(labs=labs), CUT)
    cd4 = out.filter((pl.col("endpoint") == "CD4_LOW") & (pl.col("stratum") == "overall"))
    assert cd4.height == 4 and cd4["n"].to_list() == [0] * 4
    assert cd4["note"].unique().to_list() == ["no CD4 value in the registry yet"]
    igg = _row(out, endpoint="IGG_LOW", stratum="overall", landmark_day=91)
    assert (igg["n"], igg["events"], igg["threshold"]) == (1, 1, 400.0)


def test_ivig_unknown_is_not_a_measurement() -> None:
    adsl = _adsl([400, 400, 400], [None, None, None])
    fu = pl.DataFrame({"USUBJID": ["p0", "p1", "p2"], "ADY": [100.0, 95.0, 100.0], "IVIG": ["Y", "N", "U"]})
    ivig = le.Measure("IVIG", "IMMUNE", "IVIG", None, "followup")
    lm = le.Landmark("IMMUNE", 91, 61, 121)
    r = _row(le.landmark_prevalence(adsl, le.LateInputs(followup=fu), CUT, [ivig], [lm]), stratum="overall")
    assert (r["n_alive_followed"], r["n"], r["events"]) == (3, 2, 1)


def test_measures_read_thresholds_from_config() -> None:
    m = {x.endpoint: x for x in le.load_measures()}
    assert m["CYTOPENIA_ANC_G3"].threshold == 1.0 and m["CYTOPENIA_PLT_G3"].threshold == 50.0
    assert m["BCELL_APLASIA"].threshold == 20.0 and m["CD4_LOW"].analyte == "CD4"
    assert {lm.day for lm in le.load_landmarks() if lm.family == "CYTOPENIA"} == {30, 90, 180}


def _adae(rows: list[tuple[str, float, int]], organism: list[str] | None = None) -> pl.DataFrame:
    df = pl.DataFrame(
        {
            "USUBJID": [r[0] for r in rows],
            "AECAT": ["INFECTION"] * len(rows),
            "ASTDY": [r[1] for r in rows],
            "ATOXGRN": [r[2] for r in rows],
        }
    )
    return df.with_columns(pl.Series("AEORGCL", organism)) if organism else df


def test_infection_rates_by_window_hand_computed() -> None:
    # exits 400, 400, 400, 20 (death): D0-30 = 30+30+30+20 = 110 days; D31-180 = 3 x 150; D181+ = 3 x 220
    adsl = _adsl([400, 400, 400, 20], [None, None, None, 20])
    adtte = _adtte([400.0, 400.0, 400.0, 20.0], [False, False, False, True])
    adae = _adae([("p0", 5, 3), ("p0", 40, 2), ("p2", 200, 1), ("p3", 10, 5), ("p1", 450, 2)])
    out = le.infection_rates(adtte, adsl, adae, CUT)
    ov = out.filter(pl.col("stratum") == "overall")
    assert ov["organism_class"].unique().to_list() == ["ANY"]
    for window, events, days in (("D0-30", 2, 110), ("D31-180", 1, 450), ("D181+", 1, 660)):
        r = _row(ov, time_window=window)
        ci = rt.poisson_rate(events, days / 365.25)
        assert (r["events"], r["person_years"]) == (events, pytest.approx(days / 365.25))
        assert (r["rate_per_100py"], r["lower_95"], r["upper_95"]) == pytest.approx(
            (ci.rate_per_100py, ci.lower, ci.upper)
        )
    assert "AEORGCL" in ov["note"][0]


def test_infection_rates_by_organism_and_delayed_entry() -> None:
    # p1 enters the registry on day 60: its day-10 infection is before entry (not counted), its time counts from 60
    adsl = _adsl([400, 400], [None, None])
    adtte = _adtte([400.0, 400.0], [False, False], entry=[0.0, 60.0])
    adae = _adae([("p0", 5, 3), ("p1", 10, 3), ("p1", 100, 2)], organism=["BACTERIAL", "VIRAL", "VIRAL"])
    ov = le.infection_rates(adtte, adsl, adae, CUT).filter(pl.col("stratum") == "overall")
    assert _row(ov, time_window="D0-30", organism_class="VIRAL")["events"] == 0
    assert _row(ov, time_window="D0-30", organism_class="BACTERIAL")["events"] == 1
    assert _row(ov, time_window="D0-30", organism_class="ANY")["person_years"] == pytest.approx(30 / 365.25)
    assert _row(ov, time_window="D31-180", organism_class="VIRAL")["person_years"] == pytest.approx(270 / 365.25)
    assert ov["note"].null_count() == ov.height


def test_site_followup_ends_where_no_site_follows_the_patient() -> None:
    # OS rows run to day 400 (national death linkage complete through day 400: patients not known dead are alive
    # there), but infections are known only while a site follows the patient: p0 lost to follow-up, last seen by
    # its site on day 250 (ends there); p1 died on day 300, found only by the linkage after its last site contact
    # on day 200 (ends on day 200, no death); p2 died on day 150, found only by the linkage, at its last site
    # contact (a death within site follow-up); p3 died on day 350, reported by its site; p4 alive, last seen on day
    # 250 and still followed (not lost): the OS exit, day 400
    adsl = _adsl(
        [250, 300, 150, 350, 250],
        [None, 300, 150, 350, None],
        alive=[250, 200, 150, 350, 250],
        site_death=[True, False, False, True, True],
        lost=[True, False, False, False, False],
    )
    adtte = _adtte([400.0, 300.0, 150.0, 350.0, 400.0], [False, True, True, True, False])
    fu = le.followup_frame(adtte, adsl).sort("USUBJID")
    assert fu["EXIT"].to_list() == [250.0, 200.0, 150.0, 350.0, 400.0]
    assert fu["DIED"].to_list() == [False, False, True, True, False]
    adae = _adae([("p0", 260, 3), ("p1", 210, 3), ("p3", 340, 2), ("p4", 390, 2)])
    ov = le.infection_rates(adtte, adsl, adae, CUT).filter(pl.col("stratum") == "overall")
    r = _row(ov, time_window="D181+", organism_class="ANY")
    # (180, 250] + (180, 200] + (180, 350] + (180, 400] = 70 + 20 + 170 + 220 = 480 days (OS exits: 730); the
    # infections on days 260 (p0) and 210 (p1) fall after their site follow-up, those of p3 and p4 inside it
    assert (r["events"], r["person_years"]) == (2, pytest.approx(480 / 365.25))


def test_first_severe_infection_cumulative_incidence() -> None:
    # grade >= 3 on days 5 (p0) and 10 (p3, fatal); p1 grade 2 only; p2 dies on day 100 (competing)
    adsl = _adsl([400, 400, 100, 10], [None, None, 100, 10])
    adtte = _adtte([400.0, 400.0, 100.0, 10.0], [False, False, True, True])
    adae = _adae([("p0", 5, 3), ("p1", 8, 2), ("p3", 10, 5)])
    tte = le.infsev_tte(le.followup_frame(adtte, adsl), adae).sort("USUBJID")
    assert tte["AVAL"].to_list() == [5.0, 400.0, 100.0, 10.0]
    assert tte["CNSR"].to_list() == [0, 1, None, 0] and tte["CMPEVFL"].to_list() == ["N", "N", "Y", "N"]
    cif = oc.cumulative_incidence(tte, CUT, endpoints={"INFSEV": "DEATH"}, landmark_months=(6.0,))
    r = _row(cif, row_type="landmark", stratum="overall")
    # F(5) = 1/4; F(10) = 1/4 + S(10-) * 1/3 = 1/4 + 3/4 * 1/3 = 1/2; day 100 is competing
    assert r["estimate"] == pytest.approx(0.5)
    assert (r["events"], r["competing_events"]) == (2, 1)


def test_bcell_recovery_relapse_and_death_compete() -> None:
    # all aplastic: p0 recovers day 200; p1 relapses day 150 before recovering on 300; p2 dies day 250; p3
    # censored at 500; p4 never aplastic (not in the analysis set)
    adsl = _adsl([400, 400, 250, 500, 400], [None, None, 250, None, None])
    adtte = pl.concat(
        [
            _adtte([400.0, 400.0, 250.0, 500.0, 400.0], [False, False, True, False, False]),
            _adtte([400.0, 150.0, 250.0, 500.0, 400.0], [False, True, False, False, False]).with_columns(
                pl.lit("RELAPSE").alias("PARAMCD")
            ),
        ]
    )
    bcell = pl.DataFrame(
        {
            "USUBJID": ["p0", "p1", "p2", "p3", "p4"],
            "APLASIA_DY": [28.0, 28.0, 28.0, 28.0, None],
            "RECOVERY_DY": [200.0, 300.0, None, None, None],
        }
    )
    tte = le.bcrec_tte(le.followup_frame(adtte, adsl), bcell).sort("USUBJID")
    assert tte["USUBJID"].to_list() == ["p0", "p1", "p2", "p3"]
    assert tte["AVAL"].to_list() == [200.0, 150.0, 250.0, 500.0]
    assert tte["CMPEVFL"].to_list() == ["N", "Y", "Y", "N"] and tte["CNSR"].to_list() == [0, None, None, 1]
    cif = oc.cumulative_incidence(tte, CUT, endpoints={"BCREC": "DEATH OR RELAPSE"}, landmark_months=(12.0,))
    # S(200-) = 3/4 (relapse at 150), F(200) = 3/4 * 1/3 = 1/4
    assert _row(cif, row_type="landmark", stratum="overall")["estimate"] == pytest.approx(0.25)


def test_pregnancy_counts_with_zeros() -> None:
    adsl = _adsl([400, 400, 400], [None, None, None], product=["A", "A", "B"])
    preg = pl.DataFrame(
        {
            "USUBJID": ["p0", "p1", "p2", "p2"],
            "SUBJECT": ["PATIENT", "PARTNER", "PARTNER", "PARTNER"],
            "OUTCOME": ["LIVE_BIRTH", "LIVE_BIRTH", "MISCARRIAGE", None],
        }
    )
    out = le.pregnancy_outcomes(adsl, preg, CUT)
    assert _row(out, stratum="overall", subject="PARTNER", outcome="ANY")["count"] == 3
    assert _row(out, stratum="overall", subject="PARTNER", outcome="NOT REPORTED")["count"] == 1
    assert _row(out, stratum="A", subject="PARTNER", outcome="MISCARRIAGE")["count"] == 0
    assert _row(out, stratum="B", subject="PATIENT", outcome="ANY")["n_pregnancies"] == 0
    assert le.pregnancy_outcomes(adsl, None, CUT)["note"][0] == "pregnancy table not in the warehouse"


def test_pregnancies_outside_the_infused_population_are_left_out_and_counted() -> None:
    """A pregnancy of a patient not in adsl (registration in quarantine) or not infused joins no published stratum:
    counting it under '(missing)' made a level the release's DISGRP x PRODUCT structure does not have (a 100k run
    stopped on it)."""
    adsl = _adsl([400, 400], [None, None]).with_columns(pl.Series("INFFL", ["Y", "N"]))
    preg = pl.DataFrame({"USUBJID": ["p0", "p1", "p9"], "SUBJECT": ["PATIENT"] * 3, "OUTCOME": ["LIVE_BIRTH"] * 3})
    out = le.pregnancy_outcomes(adsl, preg, CUT)
    assert _row(out, stratum="overall", subject="PATIENT", outcome="ANY")["count"] == 1
    assert MISSING not in out["stratum"].to_list()
    assert set(out["note"].to_list()) == {"2 pregnancies of patients not infused in adsl left out"}


def test_daoh_hand_computed() -> None:
    # p0: admitted day -1 to day 10 (nights 1-9) and day 5 to 12 overlapping (adds 10, 11): 11 days -> 89;
    # p1: never admitted -> 100; p2: died day 50 -> 0; p3: lost at day 60 alive -> not evaluable;
    # p4: admitted day 95, still in hospital -> days 95-100 = 6 -> 94 (product B: alone in its stratum)
    adsl = _adsl([400, 400, 50, 60, 400], [None, None, 50, None, None], product=["A", "A", "A", "A", "B"])
    hosp = pl.DataFrame(
        {
            "USUBJID": ["p0", "p0", "p4"],
            "ADMISSION_DAY": [-1, 5, 95],
            "DISCHARGE_DAY": [10, 12, None],
        }
    )
    out = le.daoh(adsl, hosp, CUT, window=100)
    r = _row(out, stratum="overall")
    assert (r["n_infused"], r["n_not_evaluable"], r["n"], r["n_died"]) == (5, 1, 4, 1)
    assert r["mean"] == pytest.approx((89 + 100 + 0 + 94) / 4)
    # Student t 95% CI: deviations from 70.75 are 18.25, 29.25, -70.75, 23.25, squares sum 6734.75, s^2 = 6734.75/3;
    # t(0.975, 3) = 3.18244630528 (tables); R t.test(c(89, 100, 0, 94))$conf.int = -4.64303063623, 146.14303063623
    half = 3.18244630528 * (6734.75 / 3) ** 0.5 / 4**0.5
    assert (r["lower_95"], r["upper_95"]) == pytest.approx((70.75 - half, 70.75 + half))
    assert (r["lower_95"], r["upper_95"]) == pytest.approx((-4.64303063623, 146.14303063623))
    assert "Student t" in r["method"]
    b = _row(out, stratum_variable="PRODUCT", stratum="B")  # n = 1: a mean, no SD, no interval
    assert (b["n"], b["mean"], b["lower_95"], b["upper_95"]) == (1, 94.0, None, None)
    assert (r["median"], r["minimum"], r["maximum"]) == (91.5, 0.0, 100.0)
    assert le.daoh(adsl, None, CUT, window=100)["n"][0] is None


def test_icaht_proportions_have_no_onset_or_treatment_rows() -> None:
    adsl = _adsl([400], [None])
    adae = pl.DataFrame(
        {
            "USUBJID": ["p0"],
            "AECAT": ["ICAHT"],
            "AEDECOD": ["ICAHT EARLY"],
            "ATOXGR": ["3"],
            "ASTDY": [2],
            "ADURN": [10],
        }
    )
    out = oc.proportions(adae, adsl, CUT, {})
    icaht = set(out.filter(pl.col("endpoint") == "ICAHT_EARLY")["measure"].to_list())
    assert "grade_ge3" in icaht and not icaht & {"onset_day", "duration_days", "icu_days", "tocilizumab", "icu"}
    assert "onset_day" in set(out.filter(pl.col("endpoint") == "CRS")["measure"].to_list())


def test_build_late_without_warehouse_inputs_gives_every_table() -> None:
    adsl = _adsl([400], [None])
    tables = le.build_late(_adtte([400.0], [False]), adsl, _adae([("p0", 5, 3)]), CUT)
    assert tuple(tables) == le.LATE_TABLES


def test_read_inputs_skips_absent_tables() -> None:
    import duckdb

    con = duckdb.connect()
    for schema in ("adam", "intermediate", "marts"):
        con.execute(f"create schema {schema}")
    con.execute("create table adam.adsl as select 'p0' as USUBJID, date '2024-01-01' as TRTSDT")
    con.execute(
        "create table intermediate.int_lab_daily as select 'p0' as patient_key, 'CD4' as analyte, "
        "date '2024-04-01' as lab_date, 150.0 as value"
    )
    con.execute(
        "create table marts.fct_hospitalization as select 'p0' as patient_key, -1 as admission_day, 10 as discharge_day"
    )
    inputs = le.read_inputs(con)
    assert inputs.labs is not None and inputs.labs.row(0) == ("p0", "CD4", 91.0, 150.0)
    assert inputs.hospital is not None and inputs.hospital.height == 1
    assert inputs.pregnancy is None and inputs.followup is None and inputs.bcell is None
    assert set(inputs.missing) == {
        "staging.stg_followup",
        "intermediate.int_immune_reconstitution",
        "marts.fct_pregnancy",
    }
