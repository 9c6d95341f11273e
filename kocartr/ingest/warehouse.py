"""DuckDB side of ingest: table definitions (from the dictionary), Arrow inserts, path supersession, versions.

No wall-clock timestamps anywhere: the tables are a pure function of the submitted files, so re-running on the
same submissions leaves them identical.
"""

from __future__ import annotations

import duckdb
import polars as pl

from kocartr.dictionary import Dictionary, Field

RAW, AUDIT = "raw", "audit"
_DUCK = {"date": "DATE", "integer": "BIGINT", "decimal": "DOUBLE"}
LINEAGE = [
    ("_source_file", "VARCHAR"),
    ("_source_row", "BIGINT"),
    ("_file_sha256", "VARCHAR"),
    ("_version", "INTEGER"),
    ("_valid_from_month", "VARCHAR"),
    ("_valid_to_month", "VARCHAR"),
    ("_is_current", "BOOLEAN"),
]
LEDGER_COLUMNS = [
    ("source_file", "VARCHAR NOT NULL"),
    ("file_sha256", "VARCHAR NOT NULL"),
    ("site_code", "VARCHAR"),
    ("submission_month", "VARCHAR"),
    ("form", "VARCHAR NOT NULL"),
    ("sheet", "VARCHAR"),
    ("file_format", "VARCHAR"),
    ("encoding", "VARCHAR"),
    ("rows_received", "BIGINT"),
    ("rows_accepted", "BIGINT"),
    ("rows_quarantined", "BIGINT"),
    ("unknown_columns", "VARCHAR"),
    ("missing_columns", "VARCHAR"),
    ("dictionary_version", "VARCHAR"),
]
QUARANTINE_COLUMNS = [
    ("site_code", "VARCHAR"),
    ("submission_month", "VARCHAR"),
    ("source_file", "VARCHAR NOT NULL"),
    ("file_sha256", "VARCHAR"),
    ("form", "VARCHAR"),
    ("record_id", "VARCHAR"),
    ("source_row", "BIGINT"),
    ("field", "VARCHAR"),
    ("rule", "VARCHAR"),
    ("value_redacted", "VARCHAR"),
    ("expected", "VARCHAR"),
    ("message_en", "VARCHAR"),
    ("message_ko", "VARCHAR"),
    # the row's patient key (site forms): whose form is pending; NULL when the defect is in the patient id itself
    ("patient_key", "VARCHAR"),
]
REJECT_COLUMNS = [
    ("source_file", "VARCHAR NOT NULL"),
    ("file_sha256", "VARCHAR"),
    ("site_code", "VARCHAR"),
    ("submission_month", "VARCHAR"),
    ("form", "VARCHAR"),
    ("reason_code", "VARCHAR NOT NULL"),
    ("detail", "VARCHAR"),
    ("message_en", "VARCHAR"),
    ("message_ko", "VARCHAR"),
    # data records read from the file (or sheet) before it was rejected, blank ones included; NULL = none were read
    # (unreadable, or rejected unopened: outside the root, a bad folder, an identifier in the file name)
    ("rows_read", "BIGINT"),
]

DEFERRED_COLUMNS = [
    ("source_file", "VARCHAR NOT NULL"),
    ("site_code", "VARCHAR"),
    ("submission_month", "VARCHAR"),
    ("registry_month", "VARCHAR"),
    ("message_en", "VARCHAR"),
    ("message_ko", "VARCHAR"),
]
KEY_TABLE = f"{AUDIT}.registry_key"  # one row: the fingerprint of the HMAC key (never the key)


def duck_type(f: Field) -> str:
    return _DUCK.get(f.type, "VARCHAR")


def raw_columns(d: Dictionary, form: str) -> list[tuple[str, str]]:
    head = [
        ("site_code", "VARCHAR"),
        ("patient_key", "VARCHAR"),
        ("record_id", "VARCHAR"),
        ("submission_month", "VARCHAR"),
        ("record_action", "VARCHAR"),
    ]
    return head + [(f.name, duck_type(f)) for f in d.form(form).fields] + LINEAGE


def _create(con: duckdb.DuckDBPyConnection, table: str, cols: list[tuple[str, str]]) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(f'{n} {t}' for n, t in cols)})")
    have = {
        r[0]
        for r in con.sql(
            f"SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || table_name = '{table}'"
        ).fetchall()
    }
    for n, t in cols:  # a dictionary that gained a field: widen, never drop
        if n not in have:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {n} {t.replace(' NOT NULL', '')}")


def ensure_tables(con: duckdb.DuckDBPyConnection, d: Dictionary) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {AUDIT}")
    for form in d.forms:
        _create(con, f"{RAW}.{form}", raw_columns(d, form))
    _create(con, f"{AUDIT}.ingest_ledger", LEDGER_COLUMNS)
    _create(con, f"{AUDIT}.quarantine", QUARANTINE_COLUMNS)
    _create(con, f"{AUDIT}.file_rejects", REJECT_COLUMNS)
    _create(con, f"{AUDIT}.deferred_files", DEFERRED_COLUMNS)
    _create(con, KEY_TABLE, [("fingerprint", "VARCHAR NOT NULL")])


def stored_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    from kocartr.warehouse import table_exists

    if not table_exists(con, KEY_TABLE):
        return None
    rows = con.sql(f"SELECT fingerprint FROM {KEY_TABLE}").fetchall()
    return rows[0][0] if rows else None


def bind_key(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Store the key's fingerprint in a new warehouse; refuse (KeyMismatchError) a different key later."""
    from kocartr.ingest.privacy import check_fingerprint, key_fingerprint

    stored = stored_fingerprint(con)
    if stored is None:
        con.execute(f"INSERT INTO {KEY_TABLE} VALUES (?)", [key_fingerprint(key)])
    check_fingerprint(stored, key)


def processed_files(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """source_file -> hashes already recorded (ingested or rejected)."""
    rows = con.sql(
        f"SELECT source_file, file_sha256 FROM {AUDIT}.ingest_ledger UNION "
        f"SELECT source_file, coalesce(file_sha256, '') FROM {AUDIT}.file_rejects"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for path, sha in rows:
        out.setdefault(path, set()).add(sha)
    return out


def awaiting_registration(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Files holding rows quarantined for want of a registered patient (unregistered_patient): read again by every
    ingest that meets them, so a patient registered late (a registration quarantined, then corrected) gets its
    linkage rows; small national returns, cheap to re-read."""
    sql = f"SELECT DISTINCT source_file FROM {AUDIT}.quarantine WHERE rule = 'unregistered_patient' ORDER BY 1"
    return [f for (f,) in con.sql(sql).fetchall()]


def remove_path(con: duckdb.DuckDBPyConnection, d: Dictionary, source_file: str) -> None:
    """A changed file at the same path supersedes everything that path contributed before."""
    for form in d.forms:
        con.execute(f"DELETE FROM {RAW}.{form} WHERE _source_file = ?", [source_file])
    for t in ("ingest_ledger", "quarantine", "file_rejects", "deferred_files"):
        con.execute(f"DELETE FROM {AUDIT}.{t} WHERE source_file = ?", [source_file])


def drop_settled_deferrals(con: duckdb.DuckDBPyConnection) -> None:
    """A deferred file that has since been ingested or rejected has one fate only: the ledger's or the reject's."""
    con.execute(f"""DELETE FROM {AUDIT}.deferred_files WHERE source_file IN (
                        SELECT source_file FROM {AUDIT}.ingest_ledger
                        UNION SELECT source_file FROM {AUDIT}.file_rejects)""")


def insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    # A relation's query, not con.register: inside the ingest's one transaction a registered view (and the Arrow
    # copy it holds) outlives unregister until COMMIT, so every frame ever inserted stayed in memory.
    con.from_arrow(frame.to_arrow()).query(
        "_kocartr_ingest_in", f"INSERT INTO {table} BY NAME SELECT * FROM _kocartr_ingest_in"
    )


def recompute_versions(con: duckdb.DuckDBPyConnection, form: str, sites: list[str]) -> None:
    """Version history per site_code + record_id: ordered by submission month, then file and row (a later
    row supersedes an earlier one); the last version is current, deletes included (downstream filters D).

    Rows are inserted as version 1, current; only record IDs with several rows (or left with a stale history
    after a superseded file was removed) are recomputed, so a large first load costs no UPDATE at all."""
    if not sites:
        return
    site_list = ", ".join("'" + s.replace("'", "''") + "'" for s in sorted(sites))
    con.execute(f"""
        UPDATE {RAW}.{form} AS t SET
            _version = v.ver, _valid_from_month = t.submission_month, _valid_to_month = v.next_month,
            _is_current = v.next_row IS NULL
        FROM (
            SELECT _source_file, _source_row,
                   row_number() OVER w AS ver,
                   lead(submission_month) OVER w AS next_month,
                   lead(_source_row) OVER w AS next_row
            FROM {RAW}.{form}
            WHERE (site_code, record_id) IN (
                SELECT (site_code, record_id) FROM {RAW}.{form} WHERE site_code IN ({site_list})
                GROUP BY site_code, record_id
                HAVING count(*) > 1 OR bool_or(_version <> 1 OR NOT _is_current OR _valid_to_month IS NOT NULL))
            WINDOW w AS (PARTITION BY site_code, record_id ORDER BY submission_month, _source_file, _source_row)
        ) AS v
        WHERE t._source_file = v._source_file AND t._source_row = v._source_row
          AND (t._version IS DISTINCT FROM v.ver OR t._valid_to_month IS DISTINCT FROM v.next_month
               OR t._is_current IS DISTINCT FROM (v.next_row IS NULL))
    """)
