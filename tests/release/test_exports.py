"""SAS transport, CSV and Define-XML files of a release built by the real pipeline (tests/conftest.py), read back
the way SAS and R users read them."""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest

from kocartr.release.exports import XPT_MAX_CHAR_BYTES, sas_name, split_text, write_exports

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
DEF = "{http://www.cdisc.org/ns/def/v2.1}"
XLINK = "{http://www.w3.org/1999/xlink}"


@pytest.fixture(scope="module")
def release(pipeline_run) -> Path:
    result, _warehouse, _work = pipeline_run
    path = Path(result.release_path)
    assert (path / "manifest.json").is_file(), "the pipeline run published no release"
    return path


def _define(release: Path):
    return ET.parse(release / "define.xml").getroot()


def _datasets(release: Path) -> list[ET.Element]:
    return list(_define(release).iter(f"{ODM}ItemGroupDef"))


def test_sas_names_fit_version_5_and_stay_unique():
    taken: set[str] = set()
    names = [
        sas_name(n, taken)
        for n in ("survival_estimates", "survival_estimates_x", "USUBJID", "stratum_variable", "1st", "a-b")
    ]
    assert all(len(n) <= 8 and n.replace("_", "A").isalnum() and not n[0].isdigit() for n in names)
    assert len(set(names)) == len(names)
    assert names[2] == "USUBJID"


@pytest.mark.parametrize(
    "value",
    [
        "x" * 200,
        "x" * 201,
        "지연 진입 " * 60,  # Korean: 3 bytes a character, blanks between words
        "a" * 199 + "한" + "b" * 300,  # a character that would straddle the byte limit
        "not computed: delayed entry present; " * 9 + "   ",  # trailing blanks kept in the last part
        " " * 450,
    ],
)
def test_long_text_splits_into_parts_that_concatenate_back(value):
    parts = split_text(value)
    assert "".join(parts) == value
    assert all(len(p.encode()) <= XPT_MAX_CHAR_BYTES for p in parts)
    assert len(parts) == 1 or all(p and not p.endswith(" ") for p in parts[:-1]) or not value.strip()
    assert (len(parts) > 1) == (len(value.encode()) > XPT_MAX_CHAR_BYTES)


def test_a_note_over_200_bytes_is_split_into_continuation_variables_not_refused(tmp_path):
    """A real release once stopped on a 243-byte analysis note: the XPT gets NOTE, NOTE1 and define.xml says so."""
    import duckdb
    import pyreadstat

    long_note = "not computed: delayed entry present (Gray's test has no left-truncated form); " * 3 + "끝"
    con = duckdb.connect()
    con.execute("CREATE SCHEMA analysis")
    con.execute(
        "CREATE TABLE analysis.t AS SELECT * FROM (VALUES (1, ?), (2, 'short'), (3, NULL)) v(n, note)", [long_note]
    )
    docs = [{"schema": "analysis", "table": "t", "column": "note", "description": "Why a row has no estimate"}]
    datasets = write_exports(con, tmp_path, docs, {}, date(2026, 10, 31))
    frame, meta = pyreadstat.read_xport(str(tmp_path / datasets[0].xpt))
    assert list(frame.columns) == ["N", "NOTE", "NOTE1"]
    assert frame["NOTE"].str.len().max() <= XPT_MAX_CHAR_BYTES
    assert (frame["NOTE"] + frame["NOTE1"]).tolist() == [long_note, "short", ""]
    assert meta.column_labels[2] == "NOTE continued"
    from kocartr.release.exports import define_xml

    xml = define_xml(datasets, date(2026, 10, 31), "test")
    assert 'Name="NOTE1"' in xml and "continuation of NOTE" in xml


def test_a_split_that_would_leave_an_rrn_shaped_part_is_refused(tmp_path):
    """The scan checks the table's values, not the XPT's parts: a cut inside a long digit run must not publish
    13 of its digits as a part of their own."""
    import duckdb

    from kocartr.privacy import output_has_rrn

    value = "x" * 187 + "7601011234567" + "89012"  # 205 bytes; the first 200 end in 13 digits
    assert not output_has_rrn(value) and output_has_rrn(split_text(value)[0])
    con = duckdb.connect()
    con.execute("CREATE SCHEMA analysis")
    con.execute("CREATE TABLE analysis.t AS SELECT * FROM (VALUES (1, ?)) v(n, note)", [value])
    from kocartr.release import ReleaseError

    with pytest.raises(ReleaseError, match="RRN-shaped part"):
        write_exports(con, tmp_path, [], {}, date(2026, 10, 31))


def test_every_adam_and_analysis_table_has_csv_xpt_and_a_define_entry(release):
    import duckdb

    con = duckdb.connect(str(release / "kocartr_release.duckdb"), read_only=True)
    try:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE schema_name IN ('adam', 'analysis') ORDER BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    assert ("adam", "adsl") in tables and ("adam", "adtte") in tables
    described = {
        g.find(f"{ODM}Description/{ODM}TranslatedText").text.split("(")[-1].split(";")[0] for g in _datasets(release)
    }
    for schema, table in tables:
        assert (release / "csv" / schema / f"{table}.csv").is_file(), (schema, table)
        assert f"{schema}.{table}" in described, (schema, table)
    for group in _datasets(release):
        href = group.find(f"{DEF}leaf").get(f"{XLINK}href")
        assert (release / href).is_file(), href


def test_xpt_reads_back_equal_to_the_parquet(release):
    import polars as pl
    import pyreadstat

    root = _define(release)
    items = {i.get("OID"): i for i in root.iter(f"{ODM}ItemDef")}
    for group in _datasets(release):
        href = group.find(f"{DEF}leaf").get(f"{XLINK}href")
        schema = href.split("/")[1]
        table = group.find(f"{ODM}Description/{ODM}TranslatedText").text.split("(")[-1].split(";")[0].split(".")[1]
        frame, meta = pyreadstat.read_xport(str(release / href))
        assert meta.table_name == group.get("Name")
        assert all(label is None or len(label) <= 40 for label in meta.column_labels)
        parquet = pl.read_parquet(release / "parquet" / schema / f"{table}.parquet")
        assert len(frame) == parquet.height, href
        refs = [items[r.get("ItemOID")] for r in group.iter(f"{ODM}ItemRef")]
        assert [i.get("Name") for i in refs] == list(frame.columns)
        # continuation variables (long text split at 200 bytes) are joined back onto the variable they continue
        parts = [i for i in refs if "continuation of" not in i.find(f"{ODM}Description/{ODM}TranslatedText").text]
        assert len(parts) == len(parquet.columns), href
        joined = {i.get("Name"): frame[i.get("Name")] for i in parts}
        for i in refs:
            text = i.find(f"{ODM}Description/{ODM}TranslatedText").text
            if "continuation of" in text:
                base = text.split("continuation of ")[1].split(":")[0]
                joined[base] = joined[base].fillna("") + frame[i.get("Name")].fillna("")
        for item, column in zip(parts, parquet.columns):
            theirs = joined[item.get("Name")].tolist()
            ours = parquet[column].to_list()
            for a, b in zip(theirs, ours):
                if b is None:
                    assert a is None or a == "" or (isinstance(a, float) and math.isnan(a)), (href, column)
                elif isinstance(b, bool):
                    assert a == ("Y" if b else "N"), (href, column)
                elif isinstance(b, (int, float)):
                    assert a == pytest.approx(float(b), rel=1e-12, abs=1e-12), (href, column)
                elif isinstance(b, date):
                    assert a == b, (href, column)
                else:
                    assert a == str(b), (href, column)


def test_csv_rows_equal_the_parquet(release):
    import polars as pl

    for path in sorted((release / "csv").rglob("*.csv")):
        parquet = pl.read_parquet(release / "parquet" / path.parent.name / f"{path.stem}.parquet")
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == parquet.columns
        assert len(rows) - 1 == parquet.height


def test_every_released_column_is_described(release):
    with open(release / "columns.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    blank = [f"{r['schema']}.{r['table']}.{r['column']}" for r in rows if not r["description"].strip()]
    assert rows and not blank, f"{len(blank)} of {len(rows)} columns without a description: {blank[:20]}"


def test_rebuild_gives_byte_identical_exports(pipeline_run, tmp_path):
    from kocartr.release import publish_release

    result, warehouse, _ = pipeline_run
    first = Path(result.release_path)
    again = publish_release(warehouse, date.fromisoformat(first.name), tmp_path, extras=False)
    for path in sorted(first.rglob("*.xpt")) + sorted(first.rglob("*.csv")) + [first / "define.xml"]:
        rel = path.relative_to(first)
        assert (again / rel).read_bytes() == path.read_bytes(), rel


@pytest.mark.skipif(
    shutil.which("Rscript") is None,
    reason="R is not installed (Rscript not on PATH; Debian r-base-core, r-cran-survival, r-cran-haven)",
)
def test_guide_r_example_reproduces_the_release_os_estimates(release, tmp_path):
    """The guide's R example, run as printed in the release folder (CSV), and the same fit on the SAS transport
    file read by haven: OS at 12 months by product equals the release's own estimate."""
    import re

    import duckdb

    block = re.findall(r"```r\n(.*?)```", (release / "README.md").read_text(encoding="utf-8"), re.S)[0]
    script = tmp_path / "guide.R"
    script.write_text(
        "options(warn = 2)\n"
        + block
        + """
xpt <- as.data.frame(haven::read_xpt("xpt/adam/adtte.xpt"))
xpt$tstart <- ifelse(xpt$ENTRYT == 0, -0.5, xpt$ENTRYT)
xpt <- subset(xpt, PREENTFL == "N" & AVAL > tstart & PARAMCD == "OS")
for (d in list(csv = os, xpt = xpt)) {
  f <- survfit(Surv(tstart, AVAL, CNSR == 0) ~ PRODUCT, data = d, conf.type = "log-log")
  s <- summary(f, times = 365.25, extend = TRUE)
  write.csv(data.frame(stratum = sub("PRODUCT=", "", s$strata), surv = s$surv, n_risk = s$n.risk),
            stdout(), row.names = FALSE)
}
""",
        encoding="utf-8",
    )
    res = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, cwd=release)
    assert res.returncode == 0, res.stderr[-2000:]
    tables = [
        list(csv.DictReader(["stratum,surv,n_risk", *part.strip().splitlines()]))
        for part in res.stdout.split('"stratum","surv","n_risk"')[1:]
    ]
    assert len(tables) == 2 and tables[0] == tables[1]  # CSV and XPT give the same fit
    con = duckdb.connect(str(release / "kocartr_release.duckdb"), read_only=True)
    try:
        ours = dict(
            con.execute("""SELECT stratum, estimate FROM analysis.survival_estimates
                                   WHERE endpoint = 'OS' AND stratum_variable = 'PRODUCT' AND row_type = 'landmark'
                                   AND time_months = 12 AND estimate IS NOT NULL""").fetchall()
        )
    finally:
        con.close()
    r = {row["stratum"]: float(row["surv"]) for row in tables[0] if int(row["n_risk"]) > 0}
    compared = set(ours) & set(r)
    assert compared, (ours, r)
    for product in compared:
        assert r[product] == pytest.approx(ours[product], abs=1e-9), product
