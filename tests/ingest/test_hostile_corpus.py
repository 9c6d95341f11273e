"""A hostile corpus: a small generated submissions set plus what an attacker or an unlucky operator adds
(identifier-shaped folder, file and column names, month folders that are not months, files nested too deep,
case-colliding names, a two-digit year, a month after the registry month). Ingested; every file has exactly one
fate, the row accounting holds, and nothing RRN-shaped is stored. The last test reads the shared full pipeline
run: no site patient or record ID reaches marts, ADaM or the release, and the release scan finds nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import xlsxwriter

from kocartr.ingest import SubmissionsLayoutError, discover_batches, ingest
from kocartr.privacy import RRN_MASK, looks_like_rrn, redact, scan_path
from tests.ingest.conftest import check_accounting
from tests.ingest.helpers import KEY, query

RRN_SITE, RRN_MONTH, RRN_FILE = "800101-1234567", "100101-1234567", "900101-2234567"
RRN_HEADER = "주민번호 760101-1234567"
REGISTRY_MONTH = "2024-11"  # the generated months run to 2024-12: the last one is deferred


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    from kocartr.synth import generate

    out = tmp_path_factory.mktemp("hostile")
    generate(out, patients=40, sites=3, seed=5, first_month="2024-01", last_month="2024-12")
    return out


@pytest.fixture(scope="module")
def corpus(generated, tmp_path_factory) -> dict:
    """The hostile tree, ingested through REGISTRY_MONTH (later months deferred), as `kocartr run --month` does."""
    root = tmp_path_factory.mktemp("corpus") / "submissions"
    shutil.copytree(generated / "submissions", root)
    s1 = root / "S01"
    month = sorted(p.name for p in s1.iterdir() if (p / "lab.csv").is_file() and p.name <= REGISTRY_MONTH)[-1]
    lab = (s1 / month / "lab.csv").read_text(encoding="utf-8")
    (root / RRN_SITE / "2022-01").mkdir(parents=True)
    (root / RRN_SITE / "2022-01" / "lab.csv").write_text(lab, encoding="utf-8")
    for folder in (RRN_MONTH, "november", "2026-13", f"{month}/extra"):
        (root / "S03" / folder).mkdir(parents=True)
        (root / "S03" / folder / "lab.csv").write_text(lab, encoding="utf-8")
    # a column whose header holds an RRN; a file named with one; case-colliding names
    head, *rows = lab.splitlines()
    s2 = root / "S02"
    s2_month = sorted(p.name for p in s2.iterdir() if (p / "lab.csv").is_file() and p.name <= REGISTRY_MONTH)[-1]
    s2_lab = (s2 / s2_month / "lab.csv").read_text(encoding="utf-8").splitlines()
    (s2 / s2_month / "lab.csv").write_text(
        "\n".join([s2_lab[0] + f",{RRN_HEADER}"] + [r + ",x" for r in s2_lab[1:]]) + "\n", encoding="utf-8"
    )
    (s1 / month / f"icans {RRN_FILE}.csv").write_text("site_code\n", encoding="utf-8")
    (s1 / month / "LAB.csv").write_text(lab, encoding="utf-8")
    book = xlsxwriter.Workbook(str(s1 / month / "extra.xlsx"))
    book.add_worksheet(f"lab {RRN_FILE}").write_row(0, 0, head.split(","))
    book.close()
    # a two-digit year in an otherwise clean row of another site's file
    s3_month = sorted(
        p.name
        for p in (root / "S03").iterdir()
        if (p / "lab.csv").is_file() and re.fullmatch(r"\d{4}-\d{2}", p.name) and p.name <= REGISTRY_MONTH
    )[-1]
    s3 = root / "S03" / s3_month / "lab.csv"
    s3_rows = s3.read_text(encoding="utf-8").splitlines()
    date_col = s3_rows[0].split(",").index("lab_date")
    cells = s3_rows[1].split(",")
    cells[date_col] = "22-06-05"
    s3.write_text("\n".join([s3_rows[0], ",".join(cells)] + s3_rows[2:]) + "\n", encoding="utf-8")

    db = root.parent / "warehouse.duckdb"
    report = _ingest_through_registry_month(root, db)
    return {
        "root": root,
        "db": db,
        "report": report,
        "month": month,
        "s3": s3.relative_to(root).as_posix(),
        "s2": f"S02/{s2_month}/lab.csv",
    }


def _ingest_through_registry_month(root: Path, db: Path):
    batches = discover_batches(root)
    deferred = [b for b in batches if b.ok and b.month > REGISTRY_MONTH]
    now = [b for b in batches if not b.ok or b.month <= REGISTRY_MONTH]
    con = duckdb.connect(str(db))
    try:
        report = ingest(con, root, KEY, now, deferred, REGISTRY_MONTH)
        check_accounting(con)
    finally:
        con.close()
    return report


def test_chunk_sizes_change_no_table(corpus, tmp_path, monkeypatch):
    """Forms written a few rows at a time (many per-form chunks, full flushes of every site form) give the same
    raw and audit tables, row for row, as one chunk (linkage returns included)."""
    from kocartr.ingest import pipeline

    monkeypatch.setattr(pipeline, "FORM_CHUNK_ROWS", 40)
    monkeypatch.setattr(pipeline, "PENDING_ROWS", 150)
    db = tmp_path / "chunked.duckdb"
    report = _ingest_through_registry_month(corpus["root"], db)
    assert report.summary().split(";")[:2] == corpus["report"].summary().split(";")[:2]
    con = duckdb.connect(str(db))
    try:
        con.execute(f"ATTACH '{corpus['db']}' AS one (READ_ONLY)")
        tables = con.sql(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'one' ORDER BY ALL"
        ).fetchall()
        assert ("raw", "lab") in tables and ("audit", "quarantine") in tables and ("raw", "linkage_death") in tables
        for schema, table in tables:
            t = f"{schema}.{table}"
            n = con.sql(f"SELECT count(*) FROM one.{t}").fetchall()[0][0]
            assert con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] == n, t
            for a, b in ((t, f"one.{t}"), (f"one.{t}", t)):
                assert con.sql(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})").fetchall() == [(0,)], t
    finally:
        con.close()
    assert query(corpus["db"], "SELECT count(*) FROM raw.lab")[0][0] > 10 * 40  # several chunks of lab


def test_every_file_has_exactly_one_fate(corpus):
    root, db = corpus["root"], corpus["db"]
    files = sorted(redact(p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file())
    fates: dict[str, list[str]] = {}
    for table in ("ingest_ledger", "file_rejects", "deferred_files"):
        for (path,) in query(db, f"SELECT DISTINCT source_file FROM audit.{table}"):
            fates.setdefault(path, []).append(table)
    assert sorted(fates) == files
    assert {p: f for p, f in fates.items() if len(f) != 1} == {}
    assert any(f == ["deferred_files"] for f in fates.values())
    # and the run's report agrees: every file once, rows received = accepted + quarantined
    rep = corpus["report"]
    assert sorted({f.source_file for f in rep.files}) == files
    assert rep.rows_received == rep.rows_accepted + rep.rows_quarantined > 0


def test_hostile_files_rejected_with_a_reason_and_values_redacted(corpus):
    db, month = corpus["db"], corpus["month"]
    got = dict(
        (
            (p, (r, s, m))
            for p, r, s, m in query(
                db, "SELECT source_file, reason_code, site_code, submission_month FROM audit.file_rejects"
            )
        )
    )
    assert got[f"{RRN_MASK}/2022-01/lab.csv"] == ("direct_identifier", RRN_MASK, "2022-01")
    assert got[f"S03/{RRN_MASK}/lab.csv"] == ("direct_identifier", "S03", RRN_MASK)
    assert got["S03/november/lab.csv"][0] == got["S03/2026-13/lab.csv"][0] == "bad_month_folder"
    assert got[f"S03/{month}/extra/lab.csv"][0] == "unexpected_location"
    assert got[f"S01/{month}/icans {RRN_MASK}.csv"][0] == "direct_identifier"
    assert got[f"S01/{month}/extra.xlsx"][0] == "direct_identifier"  # its sheet name
    assert got[f"S01/{month}/LAB.csv"][0] == got[f"S01/{month}/lab.csv"][0] == "case_collision"
    assert got[corpus["s2"]][0] == "direct_identifier"
    assert query(db, f"SELECT detail FROM audit.file_rejects WHERE source_file = '{corpus['s2']}'") == [
        ("column header (column 11)",)
    ]
    # a bad month folder does not move the registry month: nothing of it is in raw
    assert query(db, "SELECT count(*) FROM raw.lab WHERE submission_month > '2024-12'") == [(0,)]


def test_two_digit_year_quarantined_never_year_0022(corpus):
    db = corpus["db"]
    assert query(
        db, f"SELECT rule, source_row FROM audit.quarantine WHERE source_file = '{corpus['s3']}' AND field = 'lab_date'"
    ) == [("ambiguous_date", 2)]
    assert query(db, "SELECT count(*) FROM raw.lab WHERE year(lab_date) < 1900") == [(0,)]


def test_no_rrn_and_no_site_identifier_stored(corpus, generated):
    db = corpus["db"]
    assert scan_path(db) == []
    blob = db.read_bytes()
    for value in (RRN_SITE, RRN_MONTH, RRN_HEADER, RRN_FILE):
        assert value.encode() not in blob and value.replace("-", "").encode() not in blob
    ids = _site_identifiers(generated / "submissions")
    assert ids.height > 500
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert _cells_holding(con, ids, ("raw", "audit")) == []
    finally:
        con.close()


def test_a_generator_output_folder_is_not_a_submissions_root(generated):
    with pytest.raises(SubmissionsLayoutError, match=r"probably in .*submissions$") as e:
        discover_batches(generated)
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------- the shared full run: marts, ADaM, release


def _site_identifiers(root: Path) -> pl.DataFrame:
    """Every site patient ID and record ID in a submissions tree, read as ingest reads the files."""
    from kocartr.dictionary import load_dictionary
    from kocartr.ingest.reading import FileReject, read_file

    d, frames = load_dictionary(), []
    for p in (p for p in root.rglob("*") if p.is_file()):
        try:
            sheets = read_file(p.name, p.read_bytes(), d).sheets
        except FileReject:
            continue
        # linkage returns carry registry keys, not site identifiers
        frames += [
            s.frame.select(pl.col("patient_id", "record_id").str.strip_chars())
            for s in sheets
            if d.form(s.form).is_site_form
        ]
    both = pl.concat(frames)
    return pl.concat([both["patient_id"], both["record_id"]]).drop_nulls().unique().to_frame("v")


SITE_PATIENT_ID = r"S[0-9]{2}-P[0-9]{5}"  # the generator's site patient IDs; its record IDs embed one


def _cells_holding(con, ids: pl.DataFrame, schemas: tuple[str, ...]) -> list[str]:
    """Columns (schema.table.column) with a text cell that is a site identifier or holds one inside (every
    identifier of the set holds a site patient ID, so the shape finds it inside text; a hash join finds the
    identifiers themselves)."""
    rrn = ids["v"].map_elements(looks_like_rrn, return_dtype=pl.Boolean)  # injected RRNs: the RRN scan's job
    assert ids.filter(~rrn)["v"].str.contains(SITE_PATIENT_ID).all()
    con.register("_ids", ids.to_arrow())
    hits = []
    for schema, table, column in con.sql(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() WHERE data_type = 'VARCHAR' "
        f"AND schema_name IN {schemas!r} AND database_name = current_database()"
    ).fetchall():
        col = f't."{column}"'
        n = con.sql(
            f'SELECT count(*) FROM "{schema}"."{table}" t WHERE {col} IN (SELECT v FROM _ids) '
            f"OR regexp_matches({col}, '{SITE_PATIENT_ID}')"
        ).fetchall()[0][0]
        if n:
            hits.append(f"{schema}.{table}.{column}")
    return hits


def test_full_run_publishes_no_site_identifier_and_the_release_scan_is_clean(pipeline_run, small_submissions):
    result, warehouse, _ = pipeline_run
    ids = _site_identifiers(small_submissions / "submissions")
    assert ids.height > 100
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert _cells_holding(con, ids, ("marts", "adam", "analysis", "raw", "audit")) == []
    finally:
        con.close()
    release = Path(result.release_path)
    assert release.is_dir()
    assert scan_path(release) == []
