"""Key rotation: re-key a warehouse from the old registry HMAC key to a new one, in one DuckDB transaction.

HMAC tokens cannot be re-keyed from the tokens alone, and the warehouse holds no site identifier. The original
submission files can: every file recorded in audit.ingest_ledger is read again (its SHA-256 must match the
ledger, else nothing changes), giving old-token -> new-token maps for patient keys and record keys. Then, in one
transaction: raw.<form>.patient_key / record_id and audit.quarantine.record_id / patient_key are mapped (a keyed
value the files do not explain stops the rotation), the schemas dbt and the analyses build (staging, intermediate,
marts, adam, analysis) and the derived quality tables of audit are dropped (they hold old tokens; the next
`kocartr run` rebuilds them), and the stored key fingerprint is replaced.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from kocartr.dictionary import load_dictionary
from kocartr.ingest import warehouse
from kocartr.ingest.privacy import (
    MIN_KEY_BYTES,
    MissingKeyError,
    check_fingerprint,
    decode_key,
    key_fingerprint,
    patient_keys,
    record_keys,
)
from kocartr.ingest.reading import FileReject, read_file
from kocartr.warehouse import column_exists

DERIVED_SCHEMAS = ("staging", "intermediate", "marts", "adam", "analysis")
INGEST_AUDIT_TABLES = ("ingest_ledger", "quarantine", "file_rejects", "deferred_files", "registry_key")


class RekeyError(ValueError):
    """The rotation cannot run (missing or changed submission files, unexplained keys); nothing was changed."""


@dataclass
class RekeyReport:
    files: int
    patients: int
    records: int
    dropped: list[str]

    def summary(self) -> str:
        return (
            f"rekeyed: {self.files} submission files re-read, {self.patients} patient keys and {self.records} "
            f"record keys mapped; dropped for rebuild by the next run: {', '.join(self.dropped) or 'nothing'}"
        )


def read_new_key(path: Path) -> bytes:
    """The new key from a file (hex or text, as KOCARTR_HMAC_KEY_FILE)."""
    path = Path(path)
    if not path.is_file():
        raise MissingKeyError(f"new key file {path} is not a readable file")
    key = decode_key(path.read_bytes().decode("utf-8", errors="strict"))
    if len(key) < MIN_KEY_BYTES:
        raise MissingKeyError(f"the new key is too short: at least {MIN_KEY_BYTES} bytes are required")
    return key


def _identifier_pairs(submissions: Path, ledger: list[tuple[str, str, str]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(site_code, patient_id) and (site_code, record_id) of every row of every ledger file, as ingest cleaned
    them (trimmed, blank = none). Refuses when a file is missing or differs from what was ingested."""
    d = load_dictionary()
    problems, patients, records = [], [], []
    for rel, sha, site in ledger:
        path = submissions / rel
        data = path.read_bytes() if path.is_file() else None
        if data is None or hashlib.sha256(data).hexdigest() != sha:
            problems.append(f"{rel} ({'missing' if data is None else 'changed since it was ingested'})")
            continue
        try:
            sheets = read_file(path.name, data, d).sheets
        except FileReject as reject:  # pragma: no cover - an unchanged file read as it was at ingest
            problems.append(f"{rel} (unreadable: {reject.reason})")
            continue
        for sheet in sheets:
            if sheet.frame is None:  # not deferred: read_file parsed every sheet
                continue
            ids = sheet.frame.select(
                pl.lit(site).alias("site_code"),
                *[pl.col(c).str.strip_chars().replace("", None).alias(c) for c in ("patient_id", "record_id")],
            )
            patients.append(ids.select("site_code", "patient_id").drop_nulls())
            records.append(ids.select("site_code", "record_id").drop_nulls())
    if problems:
        raise RekeyError(
            f"cannot rekey: {len(problems)} submission file(s) recorded in audit.ingest_ledger are "
            f"missing or changed under {submissions}, e.g. {'; '.join(problems[:3])}; nothing changed"
        )
    empty = pl.DataFrame(schema={"site_code": pl.String, "x": pl.String})
    p = pl.concat(patients).unique() if patients else empty.rename({"x": "patient_id"})
    r = pl.concat(records).unique() if records else empty.rename({"x": "record_id"})
    return p, r


def _maps(p: pl.DataFrame, r: pl.DataFrame, old: bytes, new: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
    pm = pl.DataFrame(
        {
            "old": patient_keys(old, p["site_code"], p["patient_id"])["patient_key"],
            "new": patient_keys(new, p["site_code"], p["patient_id"])["patient_key"],
        }
    )
    rm = pl.DataFrame(
        {
            "old": record_keys(old, r["site_code"], r["record_id"]),
            "new": record_keys(new, r["site_code"], r["record_id"]),
        }
    )
    return pm.unique(), rm.unique()


def _remap(con: duckdb.DuckDBPyConnection, table: str, column: str, mapping: str) -> None:
    unexplained = con.sql(
        f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL AND {column} NOT IN (SELECT old FROM {mapping})"
    ).fetchall()[0][0]
    if unexplained:
        raise RekeyError(
            f"cannot rekey: {unexplained} value(s) of {table}.{column} are not explained by the "
            "submission files in the ledger; nothing changed"
        )
    con.execute(f"UPDATE {table} AS t SET {column} = m.new FROM {mapping} AS m WHERE t.{column} = m.old")


def _derived(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    schemas = {
        r[0]
        for r in con.sql("SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()").fetchall()
    }
    audit = [
        r[0]
        for r in con.sql(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            f"AND schema_name = '{warehouse.AUDIT}' ORDER BY 1"
        ).fetchall()
    ]
    return [s for s in DERIVED_SCHEMAS if s in schemas], [t for t in audit if t not in INGEST_AUDIT_TABLES]


def rekey(warehouse_path: Path, submissions: Path, old_key: bytes, new_key: bytes) -> RekeyReport:
    """Rotate the warehouse from old_key to new_key (see the module docstring). Raises KeyMismatchError when
    old_key is not the warehouse's key, RekeyError when the submission files cannot explain every key."""
    if not Path(warehouse_path).is_file():
        raise FileNotFoundError(f"warehouse not found: {warehouse_path}")
    con = duckdb.connect(str(warehouse_path))
    try:
        stored = warehouse.stored_fingerprint(con)
        if stored is None:
            raise RekeyError(f"{warehouse_path} holds no key fingerprint (audit.registry_key): nothing to rotate")
        check_fingerprint(stored, old_key)
        if key_fingerprint(new_key) == stored:
            raise RekeyError("the new key is the warehouse's current key: nothing to rotate")
        ledger = con.sql(
            f"SELECT DISTINCT source_file, file_sha256, site_code FROM {warehouse.AUDIT}.ingest_ledger ORDER BY 1"
        ).fetchall()
        pm, rm = _maps(*_identifier_pairs(Path(submissions), ledger), old_key, new_key)
        d = load_dictionary()
        schemas, audit_tables = _derived(con)
        con.register("_patient_map", pm.to_arrow())
        con.register("_record_map", rm.to_arrow())
        con.execute("BEGIN TRANSACTION")
        try:
            for form in d.forms:
                _remap(con, f"{warehouse.RAW}.{form}", "patient_key", "_patient_map")
                _remap(con, f"{warehouse.RAW}.{form}", "record_id", "_record_map")
            _remap(con, f"{warehouse.AUDIT}.quarantine", "record_id", "_record_map")
            if column_exists(con, f"{warehouse.AUDIT}.quarantine", "patient_key"):  # older warehouses: not widened yet
                _remap(con, f"{warehouse.AUDIT}.quarantine", "patient_key", "_patient_map")
            for s in schemas:
                con.execute(f"DROP SCHEMA {s} CASCADE")
            for t in audit_tables:
                con.execute(f"DROP TABLE {warehouse.AUDIT}.{t}")
            con.execute(f"UPDATE {warehouse.KEY_TABLE} SET fingerprint = ?", [key_fingerprint(new_key)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return RekeyReport(len(ledger), pm.height, rm.height, list(schemas) + [f"audit.{t}" for t in audit_tables])
