"""The one RRN screening module (kocartr.privacy): boundary cases, the three engines agree, and the path scan."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from kocartr import privacy

RRN = "760101-1234567"
FOUND = [
    "7601011234567",
    RRN,
    f"주민번호 {RRN}",
    f"주민번호{RRN}",
    f"{RRN}입니다",
    "ID7601011234567",
    "a;850505-2345678",
    "760101\u20131234567",  # en dash, as word processors write it
    "051231-3123456",
    "991231-5123456",
    "000229-8123456",  # G = 3 (2000s), 5 and 8 (foreign residents)
    f"x {RRN} y {RRN}",
    f"({RRN})",
    f"{RRN}\n",
    "S03/100101-1234567/lab.csv",
]
NOT_FOUND = [
    "",
    "20260501",
    "2026-05-01",
    "12345678901234",
    "17601011234567",
    "76010112345678",  # longer digit runs
    "761301-1234567",
    "760100-1234567",
    "760132-1234567",  # month 13, day 00, day 32
    "760101-9234567",
    "760101-0234567",  # G 9 / 0: births in the 1800s, issued to no one living
    "760101-123456",
    "76010-1234567",
    "760101--1234567",
    "760101 1234567",
    "P00001",
    "S01-P00011-AE1",
    "45413",
]


@pytest.mark.parametrize("value", FOUND)
def test_rrn_found_and_redacted_in_every_engine(value):
    assert privacy.looks_like_rrn(value)
    red = privacy.redact(value)
    assert not privacy.looks_like_rrn(red) and privacy.RRN_MASK in red
    frame = pl.DataFrame({"v": [value]})
    assert frame.select(privacy.rrn_expr(pl.col("v")))["v"][0] is True
    assert not privacy.looks_like_rrn(frame.select(privacy.redact_expr(pl.col("v")))["v"][0])
    assert duckdb.sql(f"select {privacy.rrn_sql('$v')}", params={"v": value}).fetchall()[0][0] is True


@pytest.mark.parametrize("value", NOT_FOUND)
def test_not_an_rrn_in_every_engine(value):
    assert not privacy.looks_like_rrn(value)
    assert privacy.redact(value) == value
    frame = pl.DataFrame({"v": [value]})
    assert frame.select(privacy.rrn_expr(pl.col("v")))["v"][0] is False
    assert duckdb.sql(f"select {privacy.rrn_sql('$v')}", params={"v": value}).fetchall()[0][0] is False


def test_output_scan_ignores_registry_tokens_but_not_submissions():
    token = "ab" * 10 + "8501011234567" + "cd" * 20 + "e"  # a 64-hex HMAC token with 13 digits inside
    assert privacy.looks_like_rrn(token)  # a site never sends such a value unscreened
    assert not privacy.output_has_rrn(token)  # the registry's own tokens are not identifiers
    assert privacy.output_has_rrn(f"{token} 850101-1234567")


def test_scan_path_covers_names_cells_sheets_and_text(tmp_path):
    from openpyxl import Workbook

    root = tmp_path / "out"
    (root / "760101-1234567").mkdir(parents=True)
    (root / "clean").mkdir()
    (root / "clean" / "notes.md").write_text(f"line one\nsee {RRN}\n", encoding="utf-8")
    (root / "clean" / "fine.txt").write_text("S01-P00011-AE1 2026-05-01\n", encoding="utf-8")
    con = duckdb.connect(str(root / "clean" / "w.duckdb"))
    con.execute(
        "create schema marts; create table marts.t (a varchar, b integer, c varchar); "
        f"insert into marts.t values ('{RRN}', 1, 'ok'), ('ok', 2, null), ('x 8501012234567', 3, '{RRN}')"
    )
    con.execute(f"comment on column marts.t.b is 'see {RRN}'")
    con.execute(f"copy marts.t to '{root / 'clean' / 't.parquet'}' (format parquet)")
    con.close()
    wb = Workbook()
    wb.active.title = "주민 900101-1234567"
    wb.active["A1"] = f"memo {RRN}"
    wb.save(root / "clean" / "q.xlsx")
    found = {(f.path, f.where, f.count) for f in privacy.scan_path(root)}
    assert found == {
        ("******-*******", "a folder name", 1),
        ("clean/notes.md", "lines of text", 1),
        ("clean/w.duckdb", "marts.t.a", 2),
        ("clean/w.duckdb", "marts.t.c", 1),  # counted per column though scanned per table
        ("clean/w.duckdb", "the comment of marts.t.b", 1),
        ("clean/t.parquet", "main.t.a", 2),
        ("clean/t.parquet", "main.t.c", 1),
        ("clean/q.xlsx", "a sheet name", 1),
        ("clean/q.xlsx", "cells", 1),
    }
    assert all(RRN not in str(f) for f in privacy.scan_path(root))  # findings never quote the value
    assert privacy.scan_path(root / "clean" / "fine.txt") == []


def test_output_scan_ignores_decimal_fractions_but_not_identifiers():
    import duckdb

    # an estimate written as text can carry 13 fractional digits shaped like an RRN; a site never wrote it
    for text, expected in [
        ("0.8001011234567", False),
        ("S01,0.8001011234567,3", False),
        ("8001011234567", True),
        ("estimate 0.5; id 800101-1234567", True),
    ]:
        assert privacy.output_has_rrn(text) is expected, text
        sql = privacy.rrn_sql("'" + text + "'")
        assert duckdb.sql(f"select {sql}").fetchall()[0][0] is expected, text
    assert privacy.looks_like_rrn("0.8001011234567")  # submissions stay screened strictly
