from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from kocartr.ingest import ingest
from tests.ingest.helpers import KEY


def check_accounting(con: duckdb.DuckDBPyConnection) -> None:
    """Every ledger row: received = accepted + quarantined, and the counts match the tables."""
    bad = con.sql(
        "SELECT count(*) FROM audit.ingest_ledger WHERE rows_received <> rows_accepted + rows_quarantined"
    ).fetchall()[0][0]
    assert bad == 0
    for (form,) in con.sql("SELECT DISTINCT form FROM audit.ingest_ledger").fetchall():
        led = con.sql(
            f"SELECT coalesce(sum(rows_accepted), 0), coalesce(sum(rows_quarantined), 0) "
            f"FROM audit.ingest_ledger WHERE form = '{form}'"
        ).fetchall()[0]
        raw = con.sql(f"SELECT count(*) FROM raw.{form}").fetchall()[0][0]
        q = con.sql(
            f"SELECT count(DISTINCT (source_file, source_row)) FROM audit.quarantine WHERE form = '{form}'"
        ).fetchall()[0][0]
        assert (raw, q) == led, form


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "submissions"
    r.mkdir()
    return r


@pytest.fixture
def run(tmp_path: Path):
    """run(root) -> (connection, report) on a real DuckDB file; checks the accounting invariant every time."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def _run(root: Path, db: Path | None = None, key: bytes = KEY):
        con = duckdb.connect(str(db or tmp_path / "warehouse.duckdb"))
        opened.append(con)
        report = ingest(con, root, key)
        check_accounting(con)
        return con, report

    yield _run
    for c in opened:
        c.close()
