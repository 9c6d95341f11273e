"""SIR of secondary malignancies: a case computed by hand, to the last digit."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from analyses.sir import garwood, load_rates, sir_table
from kocartr.synth.linkage import reference_rates

D = dt.date


def _rates() -> pl.DataFrame:
    """Every cell 1000 per 100,000 PY in 2023 and 2000 in 2024 (both categories, sexes, age groups)."""
    rows = [
        (cat, sex, age, year, 1000.0 * (year - 2022), "hand")
        for cat in ("ALL_SITES", "T_CELL_NEOPLASM")
        for sex in ("M", "F")
        for age in range(0, 90, 5)
        for year in (2023, 2024)
    ]
    return pl.DataFrame(
        rows, schema=["category", "sex", "age_group_start", "calendar_year", "rate_per_100k", "source"], orient="row"
    )


def _adtte() -> pl.DataFrame:
    base = {"STARTDT": [D(2023, 1, 1), D(2023, 7, 2), D(2023, 3, 1)], "ENTRYT": [0.0, 0.0, 30.0]}
    rows = []
    for param in ("SPM", "SPM_TCELL"):
        rows.append(
            pl.DataFrame(
                {
                    "USUBJID": ["A", "B", "C"],
                    "PARAMCD": [param] * 3,
                    "ADT": [D(2024, 1, 1), D(2024, 7, 1), D(2023, 3, 20)],
                    # A: malignancy on day 365 (not T-cell); B censored; C: event before entry (excluded)
                    "CNSR": [0 if param == "SPM" else 1, 1, 0],
                    "PREENTFL": ["N", "N", "Y"],
                    "PRODUCT": ["AXI_CEL", "TISA_CEL", "AXI_CEL"],
                    **base,
                }
            )
        )
    return pl.concat(rows)


def _adsl() -> pl.DataFrame:
    return pl.DataFrame({"USUBJID": ["A", "B", "C"], "SEX": ["M", "F", "M"], "BIRTHYR": [1960, 1970, 1950]})


def test_sir_matches_hand_computation() -> None:
    got = sir_table(_adtte(), _adsl(), D(2024, 12, 31), _rates())
    overall = got.filter((pl.col("endpoint") == "SPM") & (pl.col("stratum_variable") == "overall")).row(0, named=True)
    # A: 365 days of 2023 at 0.01/PY; B: 183 days of 2023 at 0.01/PY + 182 days of 2024 at 0.02/PY
    expected = (365 * 0.01 + 183 * 0.01 + 182 * 0.02) / 365.25
    assert overall["expected"] == pytest.approx(expected, rel=1e-12)
    assert overall["person_years"] == pytest.approx(730 / 365.25, rel=1e-12)
    assert (overall["observed"], overall["n"], overall["n_excluded"]) == (1, 2, 1)
    assert overall["sir"] == pytest.approx(365.25 / 9.12, rel=1e-12)
    # Garwood for O = 1: lower = -ln(0.975) (chi2 with 2 df), upper = m with exp(-m)(1 + m) = 0.025 (4 df)
    lo, hi = 0.0, 20.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.exp(-mid) * (1 + mid) > 0.025 else (lo, mid)
    assert overall["lower_95"] == pytest.approx(-math.log(0.975) / expected, rel=1e-9)
    assert overall["upper_95"] == pytest.approx(lo / expected, rel=1e-9)
    by_product = got.filter((pl.col("endpoint") == "SPM") & (pl.col("stratum_variable") == "PRODUCT"))
    axi = by_product.filter(pl.col("stratum") == "AXI_CEL").row(0, named=True)
    assert (axi["observed"], axi["expected"]) == (1, pytest.approx(3.65 / 365.25, rel=1e-12))
    tcell = got.filter((pl.col("endpoint") == "SPM_TCELL") & (pl.col("stratum_variable") == "overall")).row(
        0, named=True
    )
    assert (tcell["observed"], tcell["malignancy_category"], tcell["lower_95"]) == (0, "T_CELL_NEOPLASM", 0.0)


def test_garwood_zero_and_no_expectation() -> None:
    assert garwood(0, 2.0)[0] == 0.0
    assert garwood(0, 2.0)[1] == pytest.approx(-math.log(0.025) / 2.0, rel=1e-12)
    assert garwood(3, 0.0) == (None, None)


def test_shipped_reference_table_is_the_labelled_synthetic_one() -> None:
    shipped = load_rates()
    assert shipped["source"].str.starts_with("SYNTHETIC").all()
    assert shipped.sort(shipped.columns).equals(reference_rates().sort(shipped.columns))


def test_gap_in_reference_table_is_an_error() -> None:
    with pytest.raises(ValueError, match="no ALL_SITES rate"):
        sir_table(_adtte(), _adsl(), D(2024, 12, 31), _rates().filter(pl.col("calendar_year") != 2024))


def test_no_patients_gives_empty_rows_not_an_error() -> None:
    got = sir_table(_adtte().clear(), _adsl().clear(), D(2024, 12, 31), _rates())
    assert got.filter(pl.col("stratum_variable") == "overall")["observed"].to_list() == [0, 0]


def test_patient_without_birth_year_is_excluded_and_counted() -> None:
    adsl = _adsl().with_columns(
        pl.when(pl.col("USUBJID") == "B").then(None).otherwise(pl.col("BIRTHYR")).alias("BIRTHYR")
    )
    got = sir_table(_adtte(), adsl, D(2024, 12, 31), _rates())
    row = got.filter((pl.col("endpoint") == "SPM") & (pl.col("stratum_variable") == "overall")).row(0, named=True)
    assert (row["n"], row["n_excluded"]) == (1, 2)
    assert row["expected"] == pytest.approx(3.65 / 365.25, rel=1e-12)


def test_expected_count_does_not_depend_on_row_order() -> None:
    """ADTTE is read unordered: one large and two small person-time products, where a plain float sum keeps the
    small ones only when they come first (each is under half a unit in the last place of the large one)."""
    cells = {"A": ("M", 1960, D(2024, 1, 1), 1e16), "B": ("F", 1970, D(2023, 1, 2), 200.0)}
    cells["C"] = ("M", 1950, D(2023, 1, 2), 200.0)
    adtte = pl.DataFrame(
        {
            "USUBJID": list(cells),
            "PARAMCD": ["SPM"] * 3,
            "STARTDT": [D(2023, 1, 1)] * 3,
            "ENTRYT": [0.0] * 3,
            "ADT": [c[2] for c in cells.values()],
            "CNSR": [1] * 3,
            "PREENTFL": ["N"] * 3,
            "PRODUCT": ["AXI_CEL"] * 3,
        }
    )
    adsl = pl.DataFrame({"USUBJID": list(cells), "SEX": [c[0] for c in cells.values()]})
    adsl = adsl.with_columns(BIRTHYR=pl.Series([c[1] for c in cells.values()]))
    rates = pl.DataFrame(
        [("ALL_SITES", sex, (2023 - born) // 5 * 5, 2023, rate, "hand") for sex, born, _, rate in cells.values()],
        schema=["category", "sex", "age_group_start", "calendar_year", "rate_per_100k", "source"],
        orient="row",
    )

    def expected(frame: pl.DataFrame) -> float:
        got = sir_table(frame, adsl, D(2024, 12, 31), rates)
        return got.filter((pl.col("endpoint") == "SPM") & (pl.col("stratum_variable") == "overall"))["expected"][0]

    exact = (365 * 1e16 + 400.0) / 365.25 / 100_000  # 365e16 + 400, rounded once
    assert expected(adtte) == expected(adtte.reverse()) == exact


def test_person_time_split_by_calendar_year_by_hand() -> None:
    from analyses.sir import person_time_cells

    iv = pl.DataFrame(
        {
            "USUBJID": ["a", "b", "c", "d"],
            "SEX": ["M", "F", "M", "F"],
            "BIRTHYR": [1950, 1931, 2001, 1960],
            # a: three years; b: one day in 2019 (ends on 1 January); c: empty; d: ends before its start year
            "start": [D(2020, 5, 1), D(2019, 12, 31), D(2021, 1, 1), D(2022, 3, 3)],
            "end": [D(2023, 1, 1), D(2020, 1, 1), D(2021, 1, 1), D(2021, 3, 3)],
        },
        schema_overrides={"BIRTHYR": pl.Int32},
    )
    got = person_time_cells(iv)
    assert got.columns == ["USUBJID", "sex", "calendar_year", "age_group_start", "days"]
    assert got.rows() == [
        ("a", "M", 2020, 70, 245),  # 1 May - 31 Dec 2020; age 70
        ("a", "M", 2021, 70, 365),
        ("a", "M", 2022, 70, 365),  # age 72: group 70
        ("b", "F", 2019, 85, 1),  # age 88: the 85+ group
    ]
