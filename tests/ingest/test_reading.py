"""Small pure functions: encoding detection, CSV parsing, dates, RRN screening, keys (the column-wise HMAC against
Python's hmac)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from kocartr import privacy
from kocartr.ingest import privacy as keys
from kocartr.ingest.dates import is_ambiguous_date, parse_date
from kocartr.ingest.reading import (
    BAD_COLS,
    ITEM,
    ROW,
    DeferredCsv,
    FileReject,
    detect_encoding,
    parse_csv,
    read_csv_bytes,
    read_deferred,
    read_deferred_rows,
)


def test_encoding_detected_from_bytes():
    text = "site_code,comment\nS01,한글 비고\n"
    assert detect_encoding(text.encode("utf-8")) == "utf-8"
    assert detect_encoding(b"\xef\xbb\xbf" + text.encode("utf-8")) == "utf-8-sig"
    assert detect_encoding(text.encode("cp949")) == "cp949"
    assert detect_encoding(text.encode("euc-kr")) == "cp949"


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"\xef\xbb\xbf", "empty"),
        (bytes(range(256)) * 4, "binary"),
        ("a,b\n1,한".encode()[:-1], "truncated"),
    ],
)
def test_encoding_rejects(data, reason):
    with pytest.raises(FileReject) as e:
        detect_encoding(data)
    assert e.value.reason == reason


def test_parse_csv_ragged_and_truncated():
    header, frame = parse_csv("a,b,c\n1,2,3\n4,5\n6,7,8,9\n")
    assert header == ["a", "b", "c"]
    assert frame["_column_count_bad"].to_list() == [False, True, True]
    assert frame["_source_row"].to_list() == [2, 3, 4]
    with pytest.raises(FileReject) as e:
        parse_csv("a,b,c\n1,2,3\n4,5")
    assert e.value.reason == "truncated"
    with pytest.raises(FileReject):
        parse_csv('a,b\n1,"unterminated\n')


def test_parse_csv_quoted_newline_keeps_spreadsheet_rows():
    header, frame = parse_csv('a,b\n1,"line\nbreak"\n2,x\n')
    assert frame["c1"].to_list() == ["line\nbreak", "x"]
    assert frame["_source_row"].to_list() == [2, 3]


def _deferred(text: str) -> DeferredCsv:
    deferred = parse_csv(text, defer=True)[1]
    assert isinstance(deferred, DeferredCsv), text
    return deferred


def _one_by_one(texts: list[str], width: int) -> pl.DataFrame:
    """read_deferred's frame built file by file through the exact per-file parse."""
    parts = []
    for n, text in enumerate(texts):
        frame = parse_csv(text)[1]
        assert isinstance(frame, pl.DataFrame)
        parts.append(
            frame.select(
                *[f"c{k}" for k in range(width)],
                pl.col(ROW).cast(pl.Int64),
                pl.col(BAD_COLS) if BAD_COLS in frame.columns else pl.lit(False).alias(BAD_COLS),
                pl.lit(n, dtype=pl.Int64).alias(ITEM),
            )
        )
    return pl.concat(parts)


@pytest.mark.parametrize("long_row", [False, True])
def test_deferred_csvs_parse_as_each_file_alone(long_row):
    """Quote-free files ending in a line break are parsed as one joined buffer, the others (quotes, no final line
    break) over the list: rows, values, row numbers and file order as each file parsed alone; a long row hidden by
    a short one (the joined parse raises) falls back to the per-file parse."""
    texts = [
        "a,b\n1,2\n3,4\n",
        'a,b\n5,"x,\ny"\n6,7\n',  # a quoted separator and line break
        "a,b\r\n8,9\r\n",
        "a,b\n",  # header only
        "a,b\n10,11",  # no final line break
        "a,b\n12,한글\n" + ("1,2,3\n4\n" if long_row else ""),
    ]
    parsed, bad = read_deferred([_deferred(t) for t in texts])
    assert not bad
    expected = _one_by_one(texts, 2)
    assert parsed.equals(expected)
    assert parsed.filter(pl.col(ITEM) == 0)["c1"].to_list() == ["2", "4"]
    assert parsed.filter(pl.col(ITEM) == 5)[ROW].to_list() == ([2, 3, 4] if long_row else [2])


def test_deferred_csv_holds_the_text_as_utf8():
    text = "a,b\n1,한글\n"
    for data in (text.encode("utf-8"), b"\xef\xbb\xbf" + text.encode("utf-8"), text.encode("cp949")):
        deferred = read_csv_bytes(data, defer=True)[2]
        assert isinstance(deferred, DeferredCsv)
        assert deferred.data == text.encode("utf-8")


def test_dates_every_export_format():
    s = pl.DataFrame(
        {
            "s": [
                "2026-05-01",
                "2026.05.01",
                "2026.5.1",
                "20260501",
                "46143",
                "46143.0",
                "2026-05-01 00:00:00",
                "2026/05/01",
                "01/05/2026",
                "05-01-26",
                "2026-02-30",
                "x",
            ]
        }
    )
    out = s.with_columns(d=parse_date(pl.col("s")), a=is_ambiguous_date(pl.col("s")))
    import datetime as dt

    assert out["d"].to_list()[:8] == [dt.date(2026, 5, 1)] * 8
    assert out["d"].to_list()[8:] == [None] * 4
    assert out["a"].to_list() == [False] * 8 + [True, True, False, False]


def test_rrn_shapes():
    for v in ["9001011234567", "900101-1234567", "주민번호 900101-1234567 입니다", "a;850505-2345678"]:
        assert privacy.looks_like_rrn(v)
        assert "1234567" not in privacy.redact(v) and "2345678" not in privacy.redact(v)
    for v in ["20260501", "12345678901234", "9013011234567", "P00001", "45413"]:
        assert not privacy.looks_like_rrn(v)
    s = pl.DataFrame({"v": ["x 900101-1234567", "ok"]})
    assert s.select(privacy.rrn_expr(pl.col("v")))["v"].to_list() == [True, False]
    assert s.select(privacy.redact_expr(pl.col("v")))["v"].to_list() == ["x ******-*******", "ok"]


def test_load_key(monkeypatch, tmp_path):
    for k in ("KOCARTR_HMAC_KEY", "KOCARTR_HMAC_KEY_FILE", "KOCARTR_DEMO"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(keys.MissingKeyError):
        keys.load_key()
    assert keys.load_key(demo=True) == keys.DEMO_KEY
    monkeypatch.setenv("KOCARTR_DEMO", "1")
    assert keys.load_key() == keys.DEMO_KEY
    monkeypatch.delenv("KOCARTR_DEMO")
    monkeypatch.setenv("KOCARTR_HMAC_KEY", "00ff" * 16)
    assert keys.load_key() == bytes.fromhex("00ff" * 16)
    monkeypatch.setenv("KOCARTR_HMAC_KEY", "a passphrase that is long enough")
    assert keys.load_key() == b"a passphrase that is long enough"
    monkeypatch.setenv("KOCARTR_HMAC_KEY", "short")
    with pytest.raises(keys.MissingKeyError):
        keys.load_key()
    monkeypatch.delenv("KOCARTR_HMAC_KEY")
    f = tmp_path / "key"
    f.write_text("ab" * 32 + "\n")
    monkeypatch.setenv("KOCARTR_HMAC_KEY_FILE", str(f))
    assert keys.load_key() == bytes.fromhex("ab" * 32)


def test_patient_key_is_keyed_hmac():
    import hashlib
    import hmac

    k = keys.patient_key(b"k" * 32, "S01", "P1")
    assert k == hmac.new(b"k" * 32, b"S01:P1", hashlib.sha256).hexdigest()
    assert k != keys.patient_key(b"j" * 32, "S01", "P1")


@pytest.mark.parametrize("key", [b"k" * 16, b"\x00\xff" * 32, b"x" * 65, bytes(range(200))])  # short, a block, longer
def test_column_keys_equal_python_hmac(key):
    """record_keys / patient_keys (DuckDB's sha256 over whole columns) give exactly Python's hmac, for keys shorter
    than, as long as, and longer than SHA-256's block; Korean, empty and null values; null sites read as ''."""
    import hashlib
    import hmac

    sites = pl.Series(["S01", "S02", None, "S01", "S03", "S01"])
    ids = pl.Series("record_id", ["R-1", "환자-7", "R-3", None, "", "x" * 300])
    got = keys.record_keys(key, sites, ids)
    want = [
        None if r is None else hmac.new(key, f"record:{s or ''}:{r}".encode(), hashlib.sha256).hexdigest()
        for s, r in zip(sites, ids)
    ]
    assert got.name == "record_id" and got.dtype == pl.String and got.to_list() == want
    assert want[0] == keys.record_key(key, "S01", "R-1")
    pk = keys.patient_keys(key, sites, ids)
    assert pk.columns == ["site_code", "patient_id", "patient_key"]
    assert [r["patient_key"] for r in pk.iter_rows(named=True)] == [
        keys.patient_key(key, r["site_code"], r["patient_id"]) for r in pk.iter_rows(named=True)
    ]
    assert pk.height == 4  # pairs with a null dropped
    assert keys.record_keys(key, sites.head(0), ids.head(0)).to_list() == []


def test_column_keys_stay_in_row_order_on_a_column_read_in_parallel():
    """Keys are matched to their rows by position: a column DuckDB scans in several parallel parts (300k rows)
    comes back in its own order."""
    import hashlib
    import hmac

    ids = pl.Series("record_id", [f"R{i}" for i in range(300_000)])
    got = keys.record_keys(b"k" * 32, pl.Series(["S01", "S02", "S03"] * 100_000), ids)
    for i in (0, 1, 122_879, 122_880, 200_001, 299_999):
        site = ("S01", "S02", "S03")[i % 3]
        assert got[i] == hmac.new(b"k" * 32, f"record:{site}:R{i}".encode(), hashlib.sha256).hexdigest()


def test_two_digit_year_is_ambiguous_never_year_0022():
    from kocartr.ingest.dates import is_ambiguous_date, parse_iso_date

    s = pl.DataFrame({"d": ["22-06-05", "2022-06-05", "22-6-5", "2022-6-5"]})
    out = s.select(parse_iso_date(pl.col("d")).alias("p"), is_ambiguous_date(pl.col("d")).alias("a"))
    assert out["p"].to_list() == [None, dt.date(2022, 6, 5), None, dt.date(2022, 6, 5)]
    assert out["a"].to_list() == [True, False, True, False]


def test_deferred_rows_are_the_whole_parse_at_those_rows():
    """read_deferred_rows parses only the asked lines of files whose lines are records, and gives exactly
    read_deferred's rows there; a file it cannot cut that way (quotes, a bare CR, a long row hidden by a short one,
    a blank line) is handed back whole. A byte order mark inside a cell stays part of the value."""
    texts = [
        "a,b\n1,2\n3,4\n5,\n",  # an empty field: null
        "a,b\r\n6,7\r\n8,9\r\n",
        "a,b\n10,11",  # no final line break
        "a,b\n\ufeff12,한글\n 13 , 14 \n",  # a BOM and spaces in cells: kept as written
        'a,b\n15,"x,\ny"\n16,17\n',  # quotes: whole
        "a,b\n18\r19,20\n",  # a bare CR (a line break to some parsers): whole
        "a,b\n22,23,24\n25\n",  # a long row hidden by a short one: whole
        "a,b\n26,27\n\n28,29,30\n",  # a blank line (and a long row): whole
    ]
    items = [_deferred(t) for t in texts]
    asked = [{2, 4, 9}, {3}, {2}, {2, 3}, {2, 4}, {2}, {2, 3}, {4}]
    cut, whole = read_deferred_rows(items, asked)
    assert whole == [4, 5, 6, 7]
    assert sorted(set(cut[ITEM].to_list())) == [0, 1, 2, 3]
    full = read_deferred(items)[0]
    wanted = pl.DataFrame([(n, r) for n in range(4) for r in sorted(asked[n])], schema=[ITEM, ROW], orient="row")
    expected = full.join(wanted, on=[ITEM, ROW], how="semi").select(cut.columns)
    assert cut.equals(expected)
    assert cut["c0"].to_list() == ["1", "5", "8", "10", "\ufeff12", " 13 "]
    assert cut["c1"].to_list()[1] is None
