"""`kocartr analyze`: subgroup estimates from a release with the report's estimators, landmarks and suppression;
the --where accepts only boolean expressions over ADSL / ADTTE columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from kocartr.cli import main
from kocartr.release.where import WhereError, parse_where

COLS = {"PRODUCT": "VARCHAR", "AGE": "BIGINT", "AVAL": "DOUBLE", "TRTSDT": "DATE", "DISGRP": "VARCHAR"}


def test_where_is_reemitted_with_quoted_columns_and_bound_literals():
    w = parse_where("product = 'AXI_CEL' and (AGE >= 65 OR disgrp IN ('MM', 'B''ALL')) AND NOT AVAL < 1.5", COLS)
    assert w.sql == ('(("PRODUCT" = ?) AND (("AGE" >= ?) OR ("DISGRP" IN (?, ?))) AND (NOT ("AVAL" < ?)))')
    assert w.params == ["AXI_CEL", 65, "MM", "B'ALL", 1.5]
    w = parse_where("TRTSDT BETWEEN '2024-01-01' AND '2024-12-31' AND DISGRP IS NOT NULL AND AGE != 3", COLS)
    assert w.sql == (
        '(("TRTSDT" BETWEEN CAST(? AS DATE) AND CAST(? AS DATE)) AND ("DISGRP" IS NOT NULL) AND ("AGE" <> ?))'
    )
    assert parse_where("  ", COLS).sql == "TRUE"


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("PRODUCT = 'AXI_CEL'; DROP TABLE adam.adsl", "unexpected ';"),
        ("PRODUCT = 'A' OR 1 = 1", "expected an ADSL/ADTTE column, got '1'"),
        ("USUBJID_X = 'a'", "unknown column 'USUBJID_X'"),
        ("lower(PRODUCT) = 'a'", "unknown column 'lower'"),
        ("PRODUCT = (SELECT max(PRODUCT) FROM adam.adsl)", "unexpected '.adsl)'"),
        ("PRODUCT = (SELECT 'A')", "expected a 'quoted text' or a number, got '('"),
        ("PRODUCT = 'A' -- comment", "unexpected '-- comment'"),
        ("PRODUCT = 'unterminated", 'unexpected "\'untermina"'),
        ("AGE >= '65'", "'65' is text but the column is numeric"),
        ("PRODUCT = 5", "5 is a number but the column is VARCHAR: quote it"),
        ("PRODUCT", 'after "PRODUCT" expected a comparison'),
        ("AGE >= 65 AGE", "unexpected 'AGE' after a complete expression"),
        ("(AGE >= 65", "expected ')'"),
    ],
)
def test_anything_but_a_boolean_expression_over_the_columns_is_refused(where, message):
    with pytest.raises(WhereError, match=None) as exc:
        parse_where(where, COLS)
    assert message in str(exc.value) and "\n" not in str(exc.value)


# --- a hand-checked release ---------------------------------------------------------------------------------
# OS of the patients aged >= 65 (days; 12 months = 365.25 days). P7 registered on day 100 (delayed entry), P9's
# death came before its registration (PREENTFL = 'Y', excluded). Risk sets (entry < t <= exit, or entry = t = 0):
#   t=30 n=10, t=60 n=9, t=90 n=8, t=120 n=8 (P7 entered on day 100), t=150 n=7, one death each; P6 censored at
#   200; next death at 400: S(365.25) = 9/10 * 8/9 * 7/8 * 7/8 * 6/7 = 21/40. Ignoring the late entry: 6/11.
OLD = [  # id, AVAL, CNSR, ENTRYT, PREENTFL
    ("P1", 30, 0, 0, "N"),
    ("P2", 60, 0, 0, "N"),
    ("P3", 90, 0, 0, "N"),
    ("P4", 120, 0, 0, "N"),
    ("P5", 150, 0, 0, "N"),
    ("P6", 200, 1, 0, "N"),
    ("P7", 400, 0, 100, "N"),
    ("P8", 500, 1, 0, "N"),
    ("P9", 20, 0, 50, "Y"),
    ("P10", 600, 1, 0, "N"),
    ("P11", 700, 1, 0, "N"),
    ("P12", 800, 1, 0, "N"),
]
YOUNG = [(f"Y{i}", 10 + i, 0, 0, "N") for i in range(6)]  # all dead by day 16: would change every estimate


@pytest.fixture
def hand_release(tmp_path: Path) -> Path:
    rel = tmp_path / "2026-10-31"
    rel.mkdir()
    (rel / "manifest.json").write_text(json.dumps({"cutoff": "2026-10-31"}))
    con = duckdb.connect(str(rel / "kocartr_release.duckdb"))
    con.execute("CREATE SCHEMA adam")
    con.execute("CREATE TABLE adam.adsl (USUBJID VARCHAR, AGE BIGINT, SEX VARCHAR, INFFL VARCHAR, REGLATFL VARCHAR)")
    con.execute(
        "CREATE TABLE adam.adtte (USUBJID VARCHAR, PARAMCD VARCHAR, INFNUM BIGINT, AVAL DOUBLE, CNSR BIGINT, "
        "CMPEVFL VARCHAR, ENTRYT DOUBLE, PREENTFL VARCHAR, PRODUCT VARCHAR, DISGRP VARCHAR)"
    )
    for rows, age in ((OLD, 70), (YOUNG, 40)):
        for uid, aval, cnsr, entry, pre in rows:
            con.execute("INSERT INTO adam.adsl VALUES (?, ?, 'F', 'Y', ?)", [uid, age, "Y" if entry else "N"])
            con.execute(
                "INSERT INTO adam.adtte VALUES (?, 'OS', 1, ?, ?, NULL, ?, ?, 'AXI_CEL', 'LBCL')",
                [uid, aval, cnsr, entry, pre],
            )
    con.close()
    return rel


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_hand_checked_subgroup_with_delayed_entry(hand_release: Path, tmp_path: Path, capsys):
    out = tmp_path / "answer"
    code = main(
        ["analyze", "--release", str(hand_release), "--endpoint", "OS", "--where", "AGE >= 65", "--out", str(out)]
    )
    assert code == 0
    (row,) = _csv(out / "analyze_OS.csv")
    assert (row["n"], row["events"]) == ("11", "6")  # P9 (event before entry) excluded
    assert float(row["estimate_12m"]) == pytest.approx(21 / 40, abs=1e-12)
    assert float(row["estimate_6m"]) == pytest.approx(21 / 40, abs=1e-12)  # 182.6 d: after the death on day 150
    assert float(row["median_months"]) == pytest.approx(400 / (365.25 / 12), abs=1e-12)  # S drops below 0.5 at 400
    md = (out / "analyze_OS.md").read_text(encoding="utf-8")
    assert "| overall | 10 |" in md  # at risk at month 0: P7 not yet registered (left truncation)
    assert (out / "analyze_OS.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Overall survival / 전체 생존" in capsys.readouterr().out


def test_small_subgroups_are_suppressed_as_in_the_report(hand_release: Path, tmp_path: Path):
    out = tmp_path / "answer"
    assert main(["analyze", "--release", str(hand_release), "--endpoint", "OS", "--where", "AGE < 65 AND AVAL < 13",
                 "--out", str(out)]) == 0  # fmt: skip
    (row,) = _csv(out / "analyze_OS.csv")
    assert row["events"] == "" and row["estimate_12m"] == "" and row["suppressed"] == "true"
    assert "[s]" in (out / "analyze_OS.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--endpoint", "OS", "--where", "AGE >= 65; DELETE FROM adam.adsl"], "--where: unexpected ';"),
        (["--endpoint", "XX"], "--endpoint 'XX' is not in the analysis plan"),
        (["--endpoint", "OS", "--by", "NOPE"], "--by 'NOPE' is not an ADSL or ADTTE column"),
        (["--endpoint", "OS", "--where", "AGE > 200"], "no OS rows satisfy --where 'AGE > 200'"),
    ],
)
def test_bad_questions_get_one_line_and_exit_2(hand_release: Path, tmp_path: Path, capsys, args, message):
    assert main(["analyze", "--release", str(hand_release), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kocartr analyze: error:") and message in err and "\n" not in err
    con = duckdb.connect(str(hand_release / "kocartr_release.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM adam.adsl").fetchone()[0] == len(OLD) + len(YOUNG)
    con.close()


def test_a_folder_that_is_not_a_release_is_refused(tmp_path: Path, capsys):
    assert main(["analyze", "--release", str(tmp_path), "--endpoint", "OS", "--out", str(tmp_path / "o")]) == 2
    assert "not a release folder" in capsys.readouterr().err


# --- on a release built by the real pipeline (tests/conftest.py pipeline_run) ----------------------------------
def test_analyze_reproduces_the_released_os_12_month_estimate_per_product(pipeline_run, tmp_path: Path):
    result, _warehouse, _work = pipeline_run
    release = Path(result.release_path)
    con = duckdb.connect(str(release / "kocartr_release.duckdb"), read_only=True)
    try:
        lm = con.sql(
            "SELECT stratum, n, estimate, lower_95, upper_95, n_delayed_entry FROM analysis.survival_estimates "
            "WHERE endpoint = 'OS' AND stratum_variable = 'PRODUCT' AND row_type = 'landmark' AND time_months = 12 "
            "AND n >= 10 AND estimate IS NOT NULL ORDER BY n DESC"
        ).fetchall()
        risk0 = dict(
            con.sql(
                "SELECT stratum, n_at_risk FROM analysis.survival_estimates WHERE endpoint = 'OS' "
                "AND stratum_variable = 'PRODUCT' AND row_type = 'risk_table' AND time_months = 0"
            ).fetchall()
        )
    finally:
        con.close()
    assert lm, "no product with an OS 12-month estimate in the pipeline's release"
    for product, n, est, lower, upper, _delayed in lm[:2]:
        out = tmp_path / product
        args = ["analyze", "--release", str(release), "--endpoint", "OS", "--where", f"PRODUCT = '{product}'"]
        assert main([*args, "--out", str(out)]) == 0
        (row,) = _csv(out / "analyze_OS.csv")
        assert int(row["n"]) == n
        assert float(row["estimate_12m"]) == est  # exactly: the same estimator on the same rows
        assert (float(row["lower_95_12m"]), float(row["upper_95_12m"])) == (lower, upper)
        md = (out / "analyze_OS.md").read_text(encoding="utf-8")
        assert f"| overall | {risk0[product]} |" in md  # numbers at risk with delayed entry, as released
