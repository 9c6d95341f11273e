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


def test_raw_match_first_agrees_with_blanking_alone():
    """rrn_sql matches the raw value before blanking (a CASE, for speed): on values where blanking matters
    (tokens, fractions, both next to digits) it must give what blanking alone gives (output_has_rrn)."""
    token = "ab" * 10 + "8501011234567" + "cd" * 20 + "e"
    values = [
        *FOUND,
        *NOT_FOUND,
        token,
        f"{token} 850101-1234567",
        f"850101-1234567{token}",  # hex run right after the RRN swallows its last digits: not an RRN
        "0.8001011234567",
        "1.5 8001011234567",
        "8001011234567.25",
        "x8001011234567.5y",
        None,
    ]
    for v in values:
        got = duckdb.sql(f"select {privacy.rrn_sql('$v')}", params={"v": v}).fetchall()[0][0]
        assert got is (v is not None and privacy.output_has_rrn(v)), v


def test_numbers_are_scanned_as_the_text_a_csv_writes(tmp_path):
    """A 13-digit integer (or a double with 13 integer digits) is an RRN once written to CSV: the database scan
    checks numbers as text, and DuckDB's CSV writer writes them as that text."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(
        "create table t (i bigint, d double, small double); "
        "insert into t values (7601011234567, 7601011234567.0, 0.8001011234567), (1, 2.5, 999999999999.9)"
    )
    con.execute(f"copy t to '{tmp_path / 't.csv'}' (header)")
    cast = con.sql("select cast(i as varchar), cast(d as varchar), cast(small as varchar) from t").fetchall()
    con.close()
    lines = (tmp_path / "t.csv").read_text().splitlines()[1:]
    assert lines == [",".join(r) for r in cast]  # the CSV holds exactly the text the scan checks
    assert [privacy.output_has_rrn(line) for line in lines] == [True, False]
    found = {(f.where, f.count) for f in privacy.scan_path(tmp_path / "w.duckdb")}
    assert found == {("main.t.i", 1), ("main.t.d", 1)}


def test_xlsx_scan_reads_rich_text_runs_numbers_and_properties_whole(tmp_path):
    import xlsxwriter

    path = tmp_path / "book.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"comments": f"memo {RRN}"})
    ws = wb.add_worksheet("ok")
    bold = wb.add_format({"bold": True})
    ws.write_rich_string("A1", "see 760101", bold, "-1234567", " here")  # split in two runs
    ws.write_number("A2", 7601011234567)  # a number a reader sees as 7601011234567
    ws.write_string("A3", "0.8001011234567")  # an estimate written as text: not an identifier
    ws.write_comment("B1", f"note {RRN}")
    wb.close()
    found = {(f.where, f.count) for f in privacy.scan_path(path)}
    assert found == {("cells", 2), ("document properties", 1), ("part xl/comments1.xml", 1)}


def _xpt(path, label: str, column_label: str) -> None:
    import pandas as pd
    import pyreadstat

    frame = pd.DataFrame({"A": ["x", "y"], "B": [1.0, 2.0]})
    pyreadstat.write_xport(
        frame, str(path), file_label=label, table_name="T", file_format_version=5, column_labels=[column_label, "b"]
    )


def test_xpt_header_names_and_labels_are_scanned(tmp_path):
    _xpt(tmp_path / "clean.xpt", "a dataset", "a column")
    _xpt(tmp_path / "label.xpt", "id 7601011234567", "a column")
    _xpt(tmp_path / "column.xpt", "a dataset", "760101-1234567")
    assert "a column" in [t.strip() for t in privacy.xpt_header_texts(tmp_path / "clean.xpt")]
    found = {(f.path, f.where) for f in privacy.scan_path(tmp_path)}
    assert found == {
        ("label.xpt", "the dataset header (names, labels)"),
        ("column.xpt", "the dataset header (names, labels)"),
    }


def test_truncated_xpt_header_is_read_to_the_end_of_file(tmp_path):
    """An XPT cut before its OBS record (a half-copied file) is read to its end, once, and its labels scanned."""
    _xpt(tmp_path / "whole.xpt", "id 7601011234567", "a column")
    data = (tmp_path / "whole.xpt").read_bytes()
    (tmp_path / "cut.xpt").write_bytes(data[: data.find(b"HEADER RECORD*******OBS")])
    (tmp_path / "whole.xpt").unlink()
    assert "a column" in [t.strip() for t in privacy.xpt_header_texts(tmp_path / "cut.xpt")]
    assert {(f.path, f.where) for f in privacy.scan_path(tmp_path)} == {
        ("cut.xpt", "the dataset header (names, labels)")
    }


def test_release_scan_checks_values_once_in_the_database_and_every_header(tmp_path):
    """scan_release: values of Parquet/CSV/XPT files are checked in the release database they were written from;
    their headers, the database and every other file are scanned whole."""
    root = tmp_path / "rel"
    (root / "csv" / "adam").mkdir(parents=True)
    con = duckdb.connect(str(root / "r.duckdb"))
    con.execute(
        f"create schema adam; create table adam.t (a varchar, n bigint); insert into adam.t values ('{RRN}', 1)"
    )
    con.close()
    (root / "csv" / "adam" / "t.csv").write_text(f"a,n,x{RRN}\nok,1\n", encoding="utf-8")
    (root / "README.md").write_text(f"contact {RRN}\n", encoding="utf-8")
    found = {(f.path, f.where, f.count) for f in privacy.scan_release(root, "r.duckdb")}
    assert found == {
        ("r.duckdb", "adam.t.a", 1),
        ("csv/adam/t.csv", "the header (names, labels)", 1),
        ("README.md", "lines of text", 1),
    }
    with pytest.raises(FileNotFoundError):
        privacy.scan_release(root, "missing.duckdb")


def test_counting_around_raw_matches_equals_blanking_the_whole_text():
    """count_output_rrns blanks only the stretches around raw matches: it must count what blanking the whole text
    counts, on texts mixing RRNs, tokens, fractions, dashes and separators."""
    import random

    def whole(text: str) -> int:
        return len(privacy.RRN_RE.findall(privacy._OWN_OUTPUT_RE.sub(" ", text)))

    rng = random.Random(18)
    alphabet = list("0123456789") * 6 + list("abcdefABCDEF.-\u2013 ,<>x가\n")
    pieces = [RRN, "7601011234567", "0.", "1.", "ab" * 20, "8001011234567", ".5", "\u2013"]
    texts = [
        "".join(
            rng.choice(pieces) if rng.random() < 0.5 else "".join(rng.choices(alphabet, k=rng.randint(1, 30)))
            for _ in range(rng.randint(1, 8))
        )
        for _ in range(5000)
    ]
    assert sum(whole(t) for t in texts) > 500  # the texts do hold identifiers, and tokens that hide some
    assert [privacy.count_output_rrns(t) for t in texts] == [whole(t) for t in texts]


def test_arrow_counts_are_the_sql_counts():
    """The release checks each table's rows in polars first (`arrow_rrn_counts`): per column, the count of values
    rrn_sql matches, exactly as DuckDB's own count over the column (hostile values: dashes, line breaks, tokens,
    fractions, Korean text, nulls)."""
    import pyarrow as pa

    token = "ab" * 10 + "8501011234567" + "cd" * 20 + "e"
    values = [
        *FOUND,
        *NOT_FOUND,
        token,
        f"{token} 850101-1234567",
        f"850101-1234567{token}",
        "0.8001011234567",
        "1.5 8001011234567",
        "line\n760101-1234567\nnext",
        "760101\u20131234567",
        "환자 760101-1234567번",
        "1.2.3456789012345",
        None,
    ]
    rows = pa.table({"a": values, "b": list(reversed(values)), "c": ["ok"] * len(values)})
    con = duckdb.connect()
    expected = con.sql(
        f"select count(*) filter (where {privacy.rrn_sql('a')}), count(*) filter (where {privacy.rrn_sql('b')}), "
        f"count(*) filter (where {privacy.rrn_sql('c')}) from rows"
    ).fetchall()[0]
    assert expected[0] > len(FOUND)  # the tokens and fractions above are not all found, the RRNs are
    assert privacy.arrow_rrn_counts(rows, ["a", "b", "c"], con) == dict(zip("abc", expected))
    assert privacy.arrow_rrn_counts(rows, [], con) == {}
