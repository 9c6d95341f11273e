"""Atomic, immutable, verifiable releases: content, privacy and cut-off checks, read-only files, reproducibility."""

import json
import os
import stat
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from release_helpers import CUTOFF, warehouse_variant

from kocartr.release import (
    ReleaseError,
    ReleaseExistsError,
    cleanup_stale_builds,
    list_releases,
    publish_release,
    verify_release,
)
from kocartr.release.publish import MANIFEST, RELEASE_DB


def test_release_layout_and_manifest(published: Path, warehouse: Path):
    assert published.name == CUTOFF.isoformat()
    assert verify_release(published) == []
    m = json.loads((published / MANIFEST).read_text())
    assert m["cutoff"] == CUTOFF.isoformat() and m["dictionary_version"] == "1.0.0"
    assert m["code_version"]["package"]
    assert m["quality_summary"]["gate"] == "passed"
    for name in (
        "marts.dim_patient",
        "adam.adsl",
        "adam.adtte",
        "analysis.survival_estimates",
        "regulatory.mfds_ltfu_status",
        "regulatory.hira_outcome_snapshots",
        "regulatory.cibmtr_export",
    ):
        assert name in m["tables"], name
        assert (published / m["tables"][name]["parquet"]).is_file()
    src = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert m["row_counts"]["adam.adsl"] == src.sql("SELECT count(*) FROM adam.adsl").fetchall()[0][0]
    finally:
        src.close()
    assert not any(k.startswith("raw.") for k in m["tables"])  # raw never released
    for rel in ("README.md", "columns.csv", "report.html", f"hta_outcomes_{CUTOFF}.xlsx", RELEASE_DB):
        assert rel in m["files"], rel
    assert any(k.startswith("figures/km_os") for k in m["files"])
    # every file is listed with its hash and nothing else is there
    on_disk = {p.relative_to(published).as_posix() for p in published.rglob("*") if p.is_file()} - {MANIFEST}
    assert on_disk == set(m["files"])


def test_release_files_are_read_only(published: Path):
    for p in [published, *published.rglob("*")]:
        assert not p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), p


def test_database_matches_parquet(published: Path):
    m = json.loads((published / MANIFEST).read_text())
    con = duckdb.connect(str(published / RELEASE_DB), read_only=True)
    try:
        for name, meta in m["tables"].items():
            db = con.sql(f"SELECT * FROM {name} ORDER BY ALL").to_arrow_table()
            pa_t = pq.read_table(published / meta["parquet"])
            assert db.num_rows == pa_t.num_rows == meta["rows"]
            assert db.to_pylist() == pa_t.to_pylist(), name
        # column descriptions reach the database
        n = con.sql(
            "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'adam' AND comment IS NOT NULL"
        ).fetchall()[0][0]
        assert n > 10
    finally:
        con.close()


def test_existing_release_is_never_overwritten(published: Path, warehouse: Path):
    before = (published / MANIFEST).read_bytes()
    with pytest.raises(ReleaseExistsError):
        publish_release(warehouse, CUTOFF, published.parent)
    assert (published / MANIFEST).read_bytes() == before
    assert not list(published.parent.glob(".building-*"))


def test_list_releases_ignores_partial_builds(tmp_path: Path, published: Path):
    (tmp_path / ".building-2026-11-30-999999-abcd").mkdir()
    (tmp_path / "2026-12-31").mkdir()  # no manifest: not a release
    assert list_releases(tmp_path) == []
    assert list_releases(published.parent) == [published]
    assert list_releases(published.parent, verified=True) == [published]


def test_stale_builds_are_cleaned_up(tmp_path: Path):
    stale = tmp_path / ".building-2026-10-31-999999999-abcd"
    (stale / "parquet").mkdir(parents=True)
    (stale / "parquet" / "x.parquet").write_bytes(b"partial")
    os.chmod(stale / "parquet" / "x.parquet", 0o444)
    alive = tmp_path / f".building-2026-10-31-{os.getppid()}-beef"  # a running process: left alone
    alive.mkdir()
    assert cleanup_stale_builds(tmp_path) == [stale]
    assert not stale.exists() and alive.exists()


def test_verify_detects_tampering(tmp_path: Path, warehouse: Path):
    rel = publish_release(warehouse, CUTOFF, tmp_path, extras=False)
    assert verify_release(rel) == []
    target = rel / "parquet" / "adam" / "adsl.parquet"
    os.chmod(rel / "parquet" / "adam", 0o755)
    os.chmod(target, 0o644)
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    problems = verify_release(rel)
    assert any("SHA-256 differs parquet/adam/adsl.parquet" in p for p in problems)
    assert any("writable" in p for p in problems)
    (rel / "parquet" / "adam" / "extra.parquet").write_bytes(b"x")
    assert any("not in manifest" in p for p in verify_release(rel))
    os.chmod(rel, 0o755)
    os.chmod(rel / MANIFEST, 0o644)
    (rel / MANIFEST).write_text("{not json")
    assert verify_release(rel)[0].startswith("manifest unreadable")


@pytest.mark.parametrize(
    "sql, message",
    [
        ("ALTER TABLE marts.fct_adverse_event ADD COLUMN description VARCHAR", "free text"),
        ("ALTER TABLE marts.dim_patient ADD COLUMN patient_id VARCHAR", "direct identifier"),
        ("CREATE TABLE adam.leak AS SELECT '850101-1234567' AS note", "resident registration number"),
        (
            "INSERT INTO marts.fct_response BY NAME SELECT 'k' AS response_key, 'S01' AS site_code, "
            "DATE '2025-07-15' AS assessment_date, 'CR' AS response",
            "after the cut-off",
        ),
        (
            "UPDATE analysis.proportions SET data_cutoff = DATE '2025-05-31' WHERE stratum = 'overall'",
            "data_cutoff other than",
        ),
        # not in any cell: a column comment reaches README.md and columns.csv; only the final scan sees it
        (
            "COMMENT ON COLUMN marts.dim_patient.site_code IS '주민번호 760101-1234567'",
            r"identifiers in the built release:\n  (README.md|columns.csv|kocartr_release.duckdb)",
        ),
    ],
)
def test_refuses_unsafe_content_and_leaves_nothing(tmp_path: Path, warehouse: Path, sql: str, message: str):
    wh = warehouse_variant(warehouse, tmp_path / "wh.duckdb", [sql])
    out = tmp_path / "releases"
    with pytest.raises(ReleaseError, match=message):
        publish_release(wh, CUTOFF, out)
    assert list(out.iterdir()) == []  # no release, no build folder


def test_rrn_check_ignores_hex_pseudonyms_but_finds_rrns():
    con = duckdb.connect()
    from kocartr.privacy import rrn_sql

    values = {
        "8501011234567" + "ab" * 25 + "c": False,  # 64-hex HMAC key starting with 13 digits
        "f" * 20 + "8501011234567" + "e" * 31: False,  # ... with 13 digits inside
        "ab" * 20 + "8501011234567abcdef" + "0" * 20 + ":D100": False,  # a key composed from one
        "850101-1234567": True,
        "8501011234567": True,
        "patient 850101-2234567 seen": True,
        "850101-9234567": False,
        "851301-1234567": False,  # gender digit 9 / month 13: not an RRN
        "S01-R000123": False,
        "2026-10-31": False,
    }
    for v, expected in values.items():
        got = con.execute(f"SELECT {rrn_sql('$1')}", [v]).fetchall()[0][0]  # the expression appears twice
        assert got == expected, v


def test_future_dated_schedule_columns_are_allowed(published: Path):
    con = duckdb.connect(str(published / RELEASE_DB), read_only=True)
    try:
        n = con.sql(f"SELECT count(*) FROM marts.fct_followup_schedule WHERE target_date > DATE '{CUTOFF}'").fetchall()[
            0
        ][0]
    finally:
        con.close()
    assert n > 0


def test_rows_flagged_after_the_cutoff_are_left_out(warehouse: Path, tmp_path: Path):
    late = "2025-08-01"
    wh = warehouse_variant(
        warehouse,
        tmp_path / "wh.duckdb",
        [
            "INSERT INTO marts.fct_patient_timeline BY NAME SELECT 'late-event' AS event_key, patient_key, site_code, "
            f"'FOLLOWUP_CONTACT' AS event_type, DATE '{late}' AS event_date, true AS is_after_cutoff "
            "FROM marts.dim_patient LIMIT 1"
        ],
    )
    src = duckdb.connect(str(wh), read_only=True)
    try:
        total, after = src.sql(
            "SELECT count(*), count(*) FILTER (WHERE is_after_cutoff) FROM marts.fct_patient_timeline"
        ).fetchall()[0]
    finally:
        src.close()
    assert after == 1
    rel = publish_release(wh, CUTOFF, tmp_path / "out", extras=False)
    con = duckdb.connect(str(rel / RELEASE_DB), read_only=True)
    try:
        n, late_rows = con.sql(
            f"SELECT count(*), count(*) FILTER (WHERE event_date > DATE '{CUTOFF}') FROM marts.fct_patient_timeline"
        ).fetchall()[0]
    finally:
        con.close()
    assert (n, late_rows) == (total - 1, 0)


def _reshuffle(con, seed: float) -> None:
    """Rewrite every released table's rows in another physical order (same content, comments kept)."""
    con.execute(f"SELECT setseed({seed})").fetchall()
    for schema, table in con.sql(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN ('marts', 'adam', 'analysis')"
    ).fetchall():
        con.execute(f'CREATE TEMP TABLE _rows AS SELECT * FROM "{schema}"."{table}" ORDER BY random()')
        con.execute(f'DELETE FROM "{schema}"."{table}"')
        con.execute(f'INSERT INTO "{schema}"."{table}" SELECT * FROM _rows')
        con.execute("DROP TABLE _rows")


def test_rebuild_is_byte_identical(tmp_path: Path, warehouse: Path):
    # same submissions, different physical row order in the warehouse, built twice into different folders
    a = warehouse_variant(warehouse, tmp_path / "a.duckdb")
    b = warehouse_variant(warehouse, tmp_path / "b.duckdb")
    for path, seed in ((a, 0.1), (b, 0.7)):
        con = duckdb.connect(str(path))
        try:
            _reshuffle(con, seed)
        finally:
            con.close()
    ra = publish_release(a, CUTOFF, tmp_path / "ra")
    rb = publish_release(b, CUTOFF, tmp_path / "rb")
    ma = json.loads((ra / MANIFEST).read_text())
    mb = json.loads((rb / MANIFEST).read_text())
    assert ma["tables_sha256"] == mb["tables_sha256"]
    assert ma["tables"] == mb["tables"]
    differing = sorted(k for k in ma["files"] if ma["files"][k]["sha256"] != mb["files"].get(k, {}).get("sha256"))
    # every table (Parquet), the workbook, figures, report and guide are byte-identical; only the DuckDB file's
    # physical layout may differ (its table contents are equal: test_database_matches_parquet)
    assert differing in ([], [RELEASE_DB]), differing


def test_cutoff_as_string_and_missing_warehouse(tmp_path: Path, warehouse: Path):
    with pytest.raises(FileNotFoundError):
        publish_release(tmp_path / "nope.duckdb", CUTOFF, tmp_path)
    rel = publish_release(warehouse, CUTOFF.isoformat(), tmp_path / "r", extras=False)
    assert rel.name == CUTOFF.isoformat() and verify_release(rel) == []
