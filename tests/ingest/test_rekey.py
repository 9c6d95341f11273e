"""The registry key is bound to the warehouse; `kocartr rekey` rotates it in one transaction."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from kocartr.cli import main
from kocartr.ingest import KeyMismatchError, check_warehouse_key, ingest
from kocartr.ingest.privacy import key_fingerprint, patient_key, record_key
from kocartr.ingest.rekey import RekeyError, rekey
from tests.ingest.helpers import clean_rows, csv_text, query, write

KEY_A = b"registry-key-A-0123456789abcdef"
KEY_B = b"registry-key-B-fedcba9876543210"


def _month(root: Path, month: str, start: int, n: int) -> None:
    for form in ("registration", "lab"):
        write(root, f"S01/{month}/{form}.csv", csv_text(clean_rows(form, n, month=month, start=start)))


def _ingest(db: Path, root: Path, key: bytes):
    con = duckdb.connect(str(db))
    try:
        return ingest(con, root, key)
    finally:
        con.close()


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    """A warehouse ingested with key A (April: patients 1-3; a lab row of May corrects an April one)."""
    root, db = tmp_path / "submissions", tmp_path / "w.duckdb"
    _month(root, "2026-04", 1, 3)
    _ingest(db, root, KEY_A)
    return root, db


def test_fingerprint_stored_never_the_key(built):
    _, db = built
    assert query(db, "SELECT fingerprint FROM audit.registry_key") == [(key_fingerprint(KEY_A),)]
    blob = db.read_bytes()
    assert KEY_A not in blob and KEY_A.hex().encode() not in blob


def test_other_key_refused_then_rekey_links_new_rows(built, tmp_path, monkeypatch, capsys):
    root, db = built
    # A new month arrives: patient 1 again (follow-up lab), patient 4 new; lab record 1 corrected.
    _month(root, "2026-05", 1, 4)
    with pytest.raises(KeyMismatchError, match="kocartr rekey"):
        check_warehouse_key(db, KEY_B)
    with pytest.raises(KeyMismatchError):
        _ingest(db, root, KEY_B)
    assert query(db, "SELECT count(*) FROM raw.lab") == [(3,)]  # nothing written with key B
    monkeypatch.setenv("KOCARTR_HMAC_KEY", KEY_B.decode())
    monkeypatch.delenv("KOCARTR_HMAC_KEY_FILE", raising=False)
    monkeypatch.delenv("KOCARTR_DEMO", raising=False)
    assert (
        main(["run", "--submissions", str(root), "--warehouse", str(db), "--release-dir", str(tmp_path / "rel")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "differs from the key this warehouse was built with" in err

    # rotate A -> B with the CLI (old key from the environment, new key from a file)
    (tmp_path / "new.key").write_text(KEY_B.hex())
    monkeypatch.setenv("KOCARTR_HMAC_KEY", KEY_A.decode())
    assert (
        main(["rekey", "--warehouse", str(db), "--submissions", str(root), "--new-key-file", str(tmp_path / "new.key")])
        == 0
    )
    assert "3 patient keys" in capsys.readouterr().out
    assert query(db, "SELECT fingerprint FROM audit.registry_key") == [(key_fingerprint(KEY_B),)]
    check_warehouse_key(db, KEY_B)

    report = _ingest(db, root, KEY_B)
    assert report.count("ingested") == 2 and report.count("skipped") == 2
    registered = {r[0] for r in query(db, "SELECT patient_key FROM raw.registration")}
    assert registered == {patient_key(KEY_B, "S01", f"P{i:05d}") for i in range(1, 5)}
    assert query(
        db, "SELECT count(*) FROM raw.lab WHERE patient_key NOT IN (SELECT patient_key FROM raw.registration)"
    ) == [(0,)]
    # record keys moved too: the May lab rows are new versions of the April records (same record key)
    assert query(db, "SELECT record_id, count(*), max(_version) FROM raw.lab GROUP BY 1 ORDER BY 1") == sorted(
        [(record_key(KEY_B, "S01", f"LAB-{i:05d}"), 2 if i <= 3 else 1, 2 if i <= 3 else 1) for i in range(1, 5)]
    )


def test_rekey_refuses_changed_or_missing_files_and_changes_nothing(built):
    root, db = built
    before = query(db, "SELECT * FROM raw.lab ORDER BY ALL")
    lab = root / "S01/2026-04/lab.csv"
    lab.write_text(lab.read_text() + "\n")
    with pytest.raises(RekeyError, match="S01/2026-04/lab.csv .changed since it was ingested"):
        rekey(db, root, KEY_A, KEY_B)
    lab.unlink()
    with pytest.raises(RekeyError, match="S01/2026-04/lab.csv .missing"):
        rekey(db, root, KEY_A, KEY_B)
    with pytest.raises(KeyMismatchError):
        rekey(db, root, KEY_B, KEY_A)  # the "old" key is not the warehouse's
    assert query(db, "SELECT * FROM raw.lab ORDER BY ALL") == before
    assert query(db, "SELECT fingerprint FROM audit.registry_key") == [(key_fingerprint(KEY_A),)]


def test_rekey_drops_derived_layers_in_the_same_transaction(built):
    root, db = built
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE SCHEMA marts; CREATE TABLE marts.dim_patient AS SELECT patient_key FROM raw.registration; "
        "CREATE TABLE audit.dq_failing_records AS SELECT patient_key FROM raw.registration"
    )
    con.close()
    report = rekey(db, root, KEY_A, KEY_B)
    assert report.dropped == ["marts", "audit.dq_failing_records"]
    assert query(
        db, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts' OR table_name = 'dq_failing_records'"
    ) == [(0,)]


def test_rekey_maps_the_patient_key_of_quarantined_rows(tmp_path):
    # a pending CRS row names its patient (the toxicity denominators read it): rotated with the raw keys
    root, db = tmp_path / "submissions", tmp_path / "w.duckdb"
    crs = clean_rows("crs", 2, month="2026-04")
    crs[0]["fever"] = ""  # required: quarantined
    write(root, "S01/2026-04/crs.csv", csv_text(crs))
    _ingest(db, root, KEY_A)
    assert query(db, "SELECT patient_key FROM audit.quarantine") == [(patient_key(KEY_A, "S01", "P00001"),)]
    rekey(db, root, KEY_A, KEY_B)
    assert query(db, "SELECT patient_key FROM audit.quarantine") == [(patient_key(KEY_B, "S01", "P00001"),)]
