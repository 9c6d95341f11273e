"""The workbook's "Late effects" rows: every count 1-4 hidden, complements hidden against the overall row, and
estimates of a hidden count hidden."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl
import pytest
from release_helpers import raw_late_detail_code

from analyses import late_effects as le
from kocartr.release.late_effects_sheet import HEADERS, late_effect_rows
from kocartr.release.workbook import H_EVENTS, H_N, bi, is_count_header

CUT = dt.date(2025, 6, 1)
D0 = dt.date(2024, 1, 1)


def _warehouse(bcell: bool = False, organisms: bool = False, hospital: bool = False) -> duckdb.DuckDBPyConnection:
    rng = np.random.default_rng(5)
    n = 40
    ids = [f"p{i}" for i in range(n)]
    product = ["BIG"] * 37 + ["SMALL"] * 3  # a product of 3 patients: its counts must be hidden
    adsl = pl.DataFrame(
        {
            "USUBJID": ids,
            "INFFL": ["Y"] * n,
            "TRTSDT": [D0] * n,
            "PRODUCT": product,
            "DISGRP": ["LBCL"] * n,
            "LSTCNTDT": [D0 + dt.timedelta(days=500)] * n,
            "LSTALVDT": [D0 + dt.timedelta(days=500)] * n,
            "DTHDT": [None] * n,
            "DTHSITFL": [None] * n,
            "LTFUFL": ["N"] * n,
        }
    )
    adtte = pl.DataFrame(
        {"USUBJID": ids, "PARAMCD": ["OS"] * n, "INFNUM": [1] * n, "AVAL": [500.0] * n, "CNSR": [1] * n}
    )
    adae = pl.DataFrame(
        {
            "USUBJID": ids[:20] + ["p38"],
            "AECAT": ["INFECTION"] * 21,
            "ASTDY": list(rng.integers(0, 400, 20)) + [40],
            "ATOXGRN": [3] * 21,
        }
    )
    if organisms:  # organism classes of the infections, one of them not reported
        adae = adae.with_columns(AEORGCL=pl.Series(["BACTERIAL", "VIRAL", None] * 7))
    labs = pl.DataFrame(
        {"USUBJID": ids, "ANALYTE": ["CD19_B_CELLS"] * n, "ADY": [365.0] * n, "AVAL": [5.0] * 30 + [100.0] * 10}
    )
    preg = pl.DataFrame({"USUBJID": ["p1", "p2", "p39"], "SUBJECT": ["PARTNER"] * 3, "OUTCOME": ["LIVE_BIRTH"] * 3})
    # B-cell aplasia then recovery for some (the BCREC endpoint); only when asked, so the rows above stay as they were
    aplasia = pl.DataFrame({"USUBJID": ids[:30], "APLASIA_DY": [20] * 30, "RECOVERY_DY": [200] * 10 + [None] * 20})
    # hospital stays (the DAOH100 table) only when asked: p0-p9 in hospital for 2-11 nights, p39 (SMALL) for 20
    stays = pl.DataFrame(
        {"USUBJID": ids[:10] + ["p39"], "ADMISSION_DAY": [5] * 11, "DISCHARGE_DAY": list(range(7, 17)) + [25]}
    )
    inputs = le.LateInputs(
        labs=labs, pregnancy=preg, bcell=aplasia if bcell else None, hospital=stays if hospital else None
    )
    tables = le.build_late(adtte, adsl, adae, CUT, inputs)
    con = duckdb.connect()
    con.execute("create schema analysis")
    for name, frame in tables.items():
        con.register("_f", frame.to_arrow())
        con.execute(f"create table analysis.{name} as select * from _f")
        con.unregister("_f")
    return con


def test_late_effect_rows_are_suppressed() -> None:
    rows = late_effect_rows(_warehouse(), threshold=5)
    n_col, e_col = HEADERS.index(H_N), HEADERS.index(H_EVENTS)
    assert is_count_header(HEADERS[n_col]) and is_count_header(HEADERS[e_col])
    assert {r[0].value for r in rows} >= {"landmark_prevalence", "infection_rates", "late_cumulative_incidence"}
    hidden = 0
    for r in rows:
        for c in (r[n_col], r[e_col]):
            if c.hidden:
                hidden += 1
            elif c.value is not None:
                assert not 1 <= c.value <= 4, [x.value for x in r]
        if r[n_col].hidden or r[e_col].hidden:
            assert all(c.hidden or c.value is None for c in r[e_col + 1 :])
    assert hidden > 0
    small = [r for r in rows if r[3].value == "SMALL" and r[1].value == "BCELL_APLASIA" and r[4].value == "day 365"]
    assert small and small[0][n_col].hidden
    big = [r for r in rows if r[3].value == "BIG" and r[1].value == "BCELL_APLASIA" and r[4].value == "day 365"]
    assert big[0][n_col].hidden  # its complement: overall - BIG would reveal SMALL


def test_daoh_rows_show_median_and_mean_with_ci_hidden_with_the_group() -> None:
    """DAOH-100 has a median (Q1, Q3) row and a mean (95% CI) row per stratum; the estimate and both limits of a
    hidden group (SMALL: 3 patients; BIG: its complement) are hidden, the overall row's are shown."""
    rows = [r for r in late_effect_rows(_warehouse(hospital=True), threshold=5) if r[0].value == "daoh"]
    n_col = HEADERS.index(H_N)
    overall = [r for r in rows if r[2].value == "overall"]
    assert [r[5].value.en.split(" ")[0] for r in overall] == ["median", "mean"]
    mean, lo, hi = (c.value for c in overall[1][n_col + 2 :])
    # 30 patients at 100, 10 at 98..89 (2..11 nights) -> sum 4000 - 65; p39 at 80 -> 100 - 20 more days
    assert mean == pytest.approx((4000 - 65 - 20) / 40)
    assert lo < mean < hi and not any(c.hidden for c in overall[1])
    for r in rows:
        if r[3].value in ("SMALL", "BIG"):
            assert r[n_col].hidden and all(c.hidden for c in r[n_col + 2 :]), [c.value for c in r]


def test_no_late_tables_gives_no_rows() -> None:
    assert late_effect_rows(duckdb.connect(), threshold=5) == []


def _visible(x: object) -> list[str]:
    """The strings a report cell shows (a Text in both languages)."""
    from kocartr.release.report_tables import Text

    return [x.en, x.ko] if isinstance(x, Text) else [str(x)]


def test_late_effect_endpoints_are_named_not_coded_in_report_and_workbook(tmp_path) -> None:
    """Every late-effect endpoint code has a display name in the analysis plan; the report's late-effect tables
    show it (no raw code in captions, headers or endpoint cells), the workbook's sheet shows it beside the code."""
    import openpyxl

    from analyses.plan import load_plan
    from kocartr.release import workbook as wbk
    from kocartr.release.config import load_release_config
    from kocartr.release.report import late_effects_tables

    con = _warehouse(bcell=True)
    codes = {
        c
        for t in ("landmark_prevalence", "infection_rates", "late_cumulative_incidence", "pregnancy_outcomes", "daoh")
        for (c,) in con.sql(f"select distinct endpoint from analysis.{t}").fetchall()
    }
    assert {"BCELL_APLASIA", "IGG_LOW", "CD4_LOW", "IVIG", "BCREC", "INFSEV", "INFECTION", "DAOH100"} <= codes
    plan = load_plan()
    assert sorted(c for c in codes if not plan.has_label(c)) == []

    config = load_release_config()
    tables = late_effects_tables(con, config, {"BIG": "Big product", "SMALL": "Small product"})
    assert len(tables) == 4  # no DAOH table: the fixture has no hospital stays
    shown = [s for tb in tables for x in [tb.caption, *tb.headers, *[row[0] for row in tb.rows]] for s in _visible(x)]
    assert sorted({s for s in shown if s in codes}) == []
    assert plan.label("BCREC").ko in shown and plan.label("IGG_LOW").en in shown

    book = wbk._open(tmp_path / "w.xlsx", {"cutoff": str(CUT)}, config)
    wbk._late_effects(book, con, None)
    book.wb.close()
    sheet = openpyxl.load_workbook(tmp_path / "w.xlsx", read_only=True)[wbk.SHEET_LATE]
    endpoints = {r[1] for r in list(sheet.iter_rows(values_only=True))[1:]}
    assert endpoints == {f"{plan.label(c).both()} ({c})" for c in codes - {"DAOH100"}}


def test_detail_column_names_codes_in_both_languages(tmp_path) -> None:
    """The Detail column of the published sheet and of the report's late-effect tables shows no raw code: competing
    events, organism classes, pregnancy subjects and outcomes, 'ANY' and 'Y' are named in English / Korean, from
    the plan's late_effect_details and the dictionary's code lists."""
    import openpyxl

    from kocartr.release import workbook as wbk
    from kocartr.release.config import load_release_config
    from kocartr.release.report import late_effects_tables

    con = _warehouse(bcell=True, organisms=True)
    raw = raw_late_detail_code()
    config = load_release_config()
    book = wbk._open(tmp_path / "w.xlsx", {"cutoff": str(CUT)}, config)
    wbk._late_effects(book, con, None)
    book.wb.close()
    sheet = list(
        openpyxl.load_workbook(tmp_path / "w.xlsx", read_only=True)[wbk.SHEET_LATE].iter_rows(values_only=True)
    )
    col = sheet[0].index(bi("Detail", "세부"))
    details = {str(r[col]) for r in sheet[1:]}
    assert {
        "competing event: death or relapse / 경쟁 사건: 사망 또는 재발",
        "Partner of a male patient: Live birth / 남성 환자의 배우자: 생존 출생",
        "reported: Yes / 보고됨: 예",
    } <= details
    assert any(d.startswith("organisms: Bacterial; ") and "병원체: 세균; " in d for d in details)
    assert any(d.startswith("organisms: not reported; ") for d in details)
    assert sorted(d for d in details if raw.search(d)) == []

    tables = late_effects_tables(con, config, {"BIG": "Big product", "SMALL": "Small product"})
    shown = [s for tb in tables for row in tb.rows for s in _visible(row[4])]  # Detail: after the three keys, time
    assert "사망 또는 재발" in " ".join(shown)
    assert sorted(s for s in shown if raw.search(s)) == []
