"""The monthly query loop: stable ids across months, status, the site's own ids, and the workbook as a view."""

from __future__ import annotations

from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest

from kocartr.feedback import build_site_queries, write_site_queries
from kocartr.feedback.queries import QUERY_COLUMNS, query_history, with_status
from kocartr.feedback.workbook import SHEETS
from kocartr.ingest import ingest
from kocartr.ingest.privacy import record_key
from tests.ingest.helpers import KEY, clean_rows, csv_text, write


def _queries(con, month: str) -> dict[str, dict]:
    rows = con.sql("select * from audit.site_queries where registry_month = $m", params={"m": month}).pl()
    return {r["query_id"]: r for r in rows.iter_rows(named=True)}


def test_query_keeps_its_id_across_months_and_resolves_when_corrected(tmp_path):
    root = tmp_path / "submissions"
    may = clean_rows("lab", 3)
    may[1]["analyte"] = "XYZ"  # fixed by the site in June
    may[2]["analyte"] = "ABC"  # never fixed
    write(root, "S01/2026-05/lab.csv", csv_text(may))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ingest(con, root, KEY)
    build_site_queries(con, "2026-05")
    first = _queries(con, "2026-05")
    assert len(first) == 2 and {q["status"] for q in first.values()} == {"new"}
    ids = {q["record_key"]: qid for qid, q in first.items()}

    june = [dict(may[1], analyte=clean_rows("lab", 1)[0]["analyte"], submission_month="2026-06")]
    write(root, "S01/2026-06/lab.csv", csv_text(june))
    ingest(con, root, KEY)
    build_site_queries(con, "2026-06")
    second = _queries(con, "2026-06")
    fixed, kept = (ids[record_key(KEY, "S01", may[i]["record_id"])] for i in (1, 2))  # keyed in the warehouse
    assert set(second) == {fixed, kept}  # same ids, month after month
    assert second[fixed]["status"] == "resolved" and second[fixed]["resolved_month"] == "2026-06"
    assert second[kept]["status"] == "open" and second[kept]["first_seen_month"] == "2026-05"
    # a rerun of a month gives the same rows (no accumulation)
    build_site_queries(con, "2026-06")
    assert _queries(con, "2026-06") == second
    con.close()


def test_with_status_new_open_resolved_and_reopened():
    def frame(rows):
        return pl.DataFrame([{c: r.get(c) for c in QUERY_COLUMNS} for r in rows], schema=QUERY_COLUMNS)

    base = {"site_code": "S01", "source": "quality_check", "rule": "r"}
    history = frame(
        [
            dict(base, query_id="A", registry_month="2026-04", status="new", first_seen_month="2026-04"),
            dict(base, query_id="B", registry_month="2026-04", status="new", first_seen_month="2026-04"),
            dict(
                base,
                query_id="C",
                registry_month="2026-04",
                status="resolved",
                first_seen_month="2026-03",
                resolved_month="2026-04",
            ),
        ]
    )
    current = frame([dict(base, query_id="A"), dict(base, query_id="C"), dict(base, query_id="D")])
    out = {r["query_id"]: r for r in with_status(current, history, "2026-05").iter_rows(named=True)}
    assert {k: v["status"] for k, v in out.items()} == {"A": "open", "B": "resolved", "C": "open", "D": "new"}
    assert out["C"]["first_seen_month"] == "2026-03" and out["D"]["first_seen_month"] == "2026-05"


def test_every_query_names_the_sites_record_form_and_row(pipeline_run):
    result, warehouse, _ = pipeline_run
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.sql("select * from audit.site_queries where registry_month = $m", params={"m": result.month}).pl()
    finally:
        con.close()
    assert rows.height > 0 and {"quarantine", "quality_check", "followup"} <= set(rows["source"])
    keyed = rows.filter(pl.col("source") != "file_reject")  # a rejected file has no row
    assert keyed.filter(
        pl.col("source_file").is_null() | pl.col("source_row").is_null() | pl.col("form").is_null()
    ).is_empty()
    assert rows["query_id"].n_unique() == rows.height
    # no English words in the Korean text (upper-case codes and formats such as CSV, YYYY-MM and .xlsx may stay)
    english = rows.filter(pl.col("message_ko").str.contains(r"(^|[^.A-Za-z_])[a-z]{3,}"))
    assert english.is_empty(), english["message_ko"].to_list()[:3]
    # ... and the workbook shows the site's own record id for every one of them
    for site in keyed["site_code"].unique():
        wb = openpyxl.load_workbook(Path(result.queries_path) / f"{site}-queries.xlsx", read_only=True)
        for src in ("quarantine", "quality_check", "followup"):
            data = list(wb[SHEETS[src]].values)
            col = data[0].index("Site record ID / 기관 레코드 ID")
            assert all(r[col] for r in data[1:]), (site, src)


def test_workbooks_are_views_of_the_query_table(pipeline_run):
    """Every site workbook's sheets hold exactly the query table's rows for that site and source."""
    result, warehouse, _ = pipeline_run
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        counts = {
            (s, src): n
            for s, src, n in con.sql(
                "select site_code, source, count(*) from audit.site_queries where registry_month = $m group by all",
                params={"m": result.month},
            ).fetchall()
        }
        failing = {
            s
            for (s,) in con.sql(
                "select distinct site_code from audit.dq_failing_records where site_code is not null"
            ).fetchall()
        }
    finally:
        con.close()
    assert failing and failing <= {s for s, src in counts if src == "quality_check"}
    for site in {s for s, _ in counts}:
        wb = openpyxl.load_workbook(Path(result.queries_path) / f"{site}-queries.xlsx", read_only=True)
        for src, title in SHEETS.items():
            assert len(list(wb[title].values)) - 1 == counts.get((site, src), 0), (site, src)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--site", "S09"], "unknown site 'S09'"),
        (["--site", "S01", "--month", "2019-01"], "unknown registry month '2019-01'"),
    ],
)
def test_queries_cli_refuses_unknown_site_and_month(pipeline_run, tmp_path, capsys, args, message):
    from kocartr.cli import main

    _, warehouse, _ = pipeline_run
    out = tmp_path / "q.xlsx"
    assert main(["queries", "--warehouse", str(warehouse), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not out.exists()


def test_queries_cli_on_a_missing_warehouse(tmp_path, capsys):
    from kocartr.cli import main

    assert (
        main(
            [
                "queries",
                "--warehouse",
                str(tmp_path / "none.duckdb"),
                "--site",
                "S01",
                "--out",
                str(tmp_path / "q.xlsx"),
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err


def test_site_record_id_comes_from_the_file_when_the_warehouse_keys_it(tmp_path):
    """After record ids are keyed (HMAC) in raw, the workbook still shows the site's own id, read from its file."""
    from expectations.results import ensure_tables

    root = tmp_path / "submissions"
    lab = clean_rows("lab", 3)
    write(root, "S01/2026-05/lab.csv", csv_text(lab))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ingest(con, root, KEY)
    con.execute("update raw.lab set record_id = sha256(record_id)")  # what the keyed warehouse stores
    keyed = con.sql("select record_id from raw.lab where _source_row = 3").fetchall()[0][0]
    ensure_tables(con)
    con.execute(
        "insert into audit.dq_results values ('run', now(), '2026-05', 'staging.stg_lab.x', 'staging', "
        "'staging.stg_lab', 'plausibility', 'atemporal', 'warning', false, 'ALL', 3, 1, 0.33, 0, false, "
        "'FAILED', null)"
    )
    con.execute(
        "insert into audit.dq_failing_records values ('run', 'staging.stg_lab.x', 'staging.stg_lab', "
        f"'warning', 'S01', 'site_code=S01; record_id={keyed}')"
    )
    (query,) = build_site_queries(con, "2026-05").iter_rows(named=True)
    assert (query["form"], query["source_file"], query["source_row"]) == ("lab", "S01/2026-05/lab.csv", 3)
    assert lab[1]["record_id"] not in str(query)  # the warehouse row holds no clear site id
    write_site_queries(con, "S01", "2026-05", tmp_path / "S01.xlsx", root)
    con.close()
    data = list(openpyxl.load_workbook(tmp_path / "S01.xlsx")[SHEETS["quality_check"]].values)
    row = dict(zip(data[0], data[1]))
    assert row["Site record ID / 기관 레코드 ID"] == lab[1]["record_id"]
    assert row["Site patient ID / 기관 환자 ID"] == lab[1]["patient_id"]


def test_history_read_once_per_query_gives_the_same_months(tmp_path):
    """build_site_queries reads one row per earlier query (query_history), not every month's: with_status gives
    the same rows from it as from the whole history (opened, resolved, reopened, and resolved again)."""
    base = {"site_code": "S01", "source": "quality_check", "rule": "r"}
    months = ["2026-03", "2026-04", "2026-05", "2026-06"]
    present = {"A": {0, 1, 2, 3}, "B": {0}, "C": {1, 3}, "D": {2}, "E": {0, 2}}  # the months each query fails
    history = pl.DataFrame(schema=QUERY_COLUMNS)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema audit")
    con.execute(
        "create table audit.site_queries ("
        + ", ".join(f"{c} {'BIGINT' if t == pl.Int64 else 'VARCHAR'}" for c, t in QUERY_COLUMNS.items())
        + ")"
    )
    for i, month in enumerate(months + ["2026-07"]):
        current = pl.DataFrame(
            [{c: dict(base, query_id=q).get(c) for c in QUERY_COLUMNS} for q, m in present.items() if i in m],
            schema=QUERY_COLUMNS,
        )
        reduced = query_history(con, month).cast(QUERY_COLUMNS)
        assert reduced.height == history["query_id"].n_unique() <= history.height
        rows = with_status(current, reduced, month)
        assert rows.equals(with_status(current, history, month))
        con.register("_rows", rows.to_arrow())
        con.execute("insert into audit.site_queries select * from _rows")
        history = pl.concat([history, rows])
    statuses = {(r["query_id"], r["registry_month"]): r["status"] for r in history.iter_rows(named=True)}
    assert statuses[("C", "2026-05")] == "resolved" and statuses[("C", "2026-06")] == "open"
    assert statuses[("E", "2026-05")] == "open" and statuses[("E", "2026-06")] == "resolved"
    assert history.filter(pl.col("query_id") == "C")["first_seen_month"].unique().to_list() == ["2026-04"]
    con.close()
