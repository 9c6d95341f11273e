"""End-to-end ingest on real DuckDB files: every bad input of the issue lands as documented."""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

import duckdb
import openpyxl
import pytest
import xlsxwriter

from kocartr.dictionary import load_dictionary
from kocartr.feedback import build_site_queries, write_site_queries
from kocartr.ingest import discover_batches, ingest, patient_key
from kocartr.ingest.privacy import record_key
from kocartr.ingest.warehouse import raw_columns
from tests.ingest.conftest import check_accounting
from tests.ingest.helpers import KEY, clean_rows, csv_text, write

D = load_dictionary()


def rk(record_id: str, site: str = "S01") -> str:
    return record_key(KEY, site, record_id)


def q(con, sql):
    return con.sql(sql).fetchall()


def rejects(con):
    return dict(q(con, "SELECT source_file, reason_code FROM audit.file_rejects"))


def rules(con, source_file=None):
    where = f"WHERE source_file = '{source_file}'" if source_file else ""
    return sorted(q(con, f"SELECT source_row, field, rule FROM audit.quarantine {where} ORDER BY ALL"))


# ------------------------------------------------------------------ clean data, shapes, encodings


def test_every_form_clean_lands_with_architecture_columns(root, run):
    for form, fm in D.forms.items():
        src = "S01" if fm.is_site_form else fm.source
        write(root, f"{src}/2026-05/{form}.csv", csv_text(clean_rows(form, 3, site=src)))
    con, report = run(root)
    assert report.count("ingested") == len(D.forms) and report.rows_quarantined == 0
    for form in D.forms:
        cols = [
            r[0]
            for r in q(
                con,
                f"SELECT column_name FROM information_schema.columns WHERE table_schema='raw' "
                f"AND table_name='{form}' ORDER BY ordinal_position",
            )
        ]
        assert cols == [c for c, _ in raw_columns(D, form)]
        assert q(con, f"SELECT count(*), bool_and(_is_current), max(_version) FROM raw.{form}") == [(3, True, 1)]
    pk = q(con, f"SELECT patient_key FROM raw.registration WHERE record_id = '{rk('REG-00001')}'")[0][0]
    assert pk == patient_key(KEY, "S01", "P00001")
    # site record IDs (they embed the site's patient ID) are keyed like patient IDs, never stored
    assert q(con, "SELECT count(*) FROM raw.registration WHERE record_id LIKE '%REG%' OR length(record_id) <> 64") == [
        (0,)
    ]
    # typed columns
    types = dict(
        q(
            con,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema='raw' AND table_name='lab'",
        )
    )
    assert types["lab_date"] == "DATE" and types["value"] == "DOUBLE" and types["_source_row"] == "BIGINT"


def test_cp949_bom_and_korean_text_intact(root, run):
    rows = clean_rows("baseline", 2)
    rows[0]["comment"] = "투여 전 발열 없음 (한글 보존)"
    write(root, "S01/2026-05/baseline.csv", csv_text(rows), encoding="cp949")
    ae = clean_rows("adverse_event", 1, site="S02")
    ae[0]["description"] = "  앞뒤 공백도 보존  "
    write(root, "S02/2026-05/adverse_event.csv", b"\xef\xbb\xbf" + csv_text(ae).encode("utf-8"))
    con, _ = run(root)
    assert dict(q(con, "SELECT source_file, encoding FROM audit.ingest_ledger")) == {
        "S01/2026-05/baseline.csv": "cp949",
        "S02/2026-05/adverse_event.csv": "utf-8-sig",
    }
    assert q(con, "SELECT comment FROM raw.baseline ORDER BY _source_row")[0][0] == "투여 전 발열 없음 (한글 보존)"
    assert q(con, "SELECT description FROM raw.adverse_event")[0][0] == "  앞뒤 공백도 보존  "


def _xlsx(sheets: dict[str, list[list]], date_cells: bool = True) -> bytes:
    bio = io.BytesIO()
    wb = xlsxwriter.Workbook(bio)
    fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if isinstance(v, dt.datetime):
                    ws.write_datetime(i, j, v, fmt)
                elif isinstance(v, (int, float)):
                    ws.write_number(i, j, v)
                elif v not in ("", None):
                    ws.write_string(i, j, v)
    wb.close()
    return bio.getvalue()


def test_xlsx_date_cells_serials_and_sheets(root, run):
    lab = clean_rows("lab", 3)
    cols = list(lab[0])
    grid = [cols] + [[r[c] for c in cols] for r in lab]
    di = cols.index("lab_date")
    grid[1][di] = dt.datetime(2026, 5, 1)  # real date cell
    grid[2][di] = 46143  # serial number in a numeric cell
    grid[3][di] = "2026.05.01"  # text date
    vi = cols.index("value")
    grid[1][vi] = 3.5
    reg = clean_rows("registration", 2)
    rcols = list(reg[0])
    write(
        root,
        "S01/2026-05/submission.xlsx",
        _xlsx(
            {
                "lab": grid,
                "Registration": [rcols] + [[r[c] for c in rcols] for r in reg],
                "Notes": [["free", "notes"], ["x", "y"]],
            }
        ),
    )
    write(
        root,
        "S02/2026-05/lab.xlsx",
        _xlsx({"Sheet1": [cols] + [[r[c] for c in cols] for r in clean_rows("lab", 2, site="S02")]}),
    )
    con, report = run(root)
    assert q(con, "SELECT DISTINCT lab_date FROM raw.lab WHERE site_code='S01'") == [(dt.date(2026, 5, 1),)]
    assert q(con, "SELECT value FROM raw.lab WHERE site_code='S01' AND _source_row=2") == [(3.5,)]
    assert q(con, "SELECT count(*) FROM raw.registration") == [(2,)]
    assert q(con, "SELECT count(*) FROM raw.lab WHERE site_code='S02'") == [(2,)]
    assert q(
        con, "SELECT form, sheet, encoding FROM audit.ingest_ledger WHERE source_file LIKE 'S01%' ORDER BY form"
    ) == [("lab", "lab", "xlsx"), ("registration", "Registration", "xlsx")]
    assert q(con, "SELECT reason_code, detail LIKE '%Notes%' FROM audit.file_rejects") == [("unknown_form", True)]


# ------------------------------------------------------------------ unreadable files


def test_unreadable_files_are_rejected_and_the_run_goes_on(root, run, tmp_path):
    good = csv_text(clean_rows("lab", 3))
    write(root, "S01/2026-05/lab.csv", good)
    write(root, "S01/2026-05/crs.csv", csv_text(clean_rows("crs", 3))[:-25])  # truncated mid-row
    write(root, "S01/2026-05/icans.csv", os.urandom(2048) + b"\x00")  # binary garbage
    write(root, "S01/2026-05/death.csv", b"")  # empty
    write(root, "S01/2026-05/followup.csv", bytes(range(0x81, 0xFF)) * 10)  # no known encoding
    write(root, "S01/2026-05/response.xlsx", b"PK\x03\x04" + os.urandom(300))  # broken workbook
    write(root, "S01/2026-05/misc.csv", good)  # unknown form
    write(root, "S01/2026-05/검사.csv", good)  # Korean name, unknown form
    write(root, "S01/2026-05/lab.xls", good)  # unsupported format
    write(root, "S99/2026-05/lab.csv", good)  # unknown site folder
    write(root, "S01/2026-13/lab.csv", good)  # bad month folder
    write(root, "S01/may/lab.csv", good)
    write(root, "stray.csv", good)  # outside SITE/YYYY-MM
    write(root, "S01/2026-05/sub/lab.csv", good)  # nested too deep
    write(root, "S02/2026-05/lab.csv", good)  # rows all name S01
    outside = tmp_path / "secret.csv"
    outside.write_text(good)
    (root / "S01/2026-05/pregnancy.csv").symlink_to(outside)  # path traversal by link
    (root / "S01/2026-05/..%2F..%2Fetc.csv").write_text(good)  # traversal-looking name
    con, report = run(root)
    assert rejects(con) == {
        "S01/2026-05/crs.csv": "truncated",
        "S01/2026-05/icans.csv": "binary",
        "S01/2026-05/death.csv": "empty",
        "S01/2026-05/followup.csv": "unknown_encoding",
        "S01/2026-05/response.xlsx": "unreadable_xlsx",
        "S01/2026-05/misc.csv": "unknown_form",
        "S01/2026-05/검사.csv": "unknown_form",
        "S01/2026-05/lab.xls": "unsupported_format",
        "S99/2026-05/lab.csv": "unknown_site_folder",
        "S01/2026-13/lab.csv": "bad_month_folder",
        "S01/may/lab.csv": "bad_month_folder",
        "stray.csv": "unexpected_location",
        "S01/2026-05/sub/lab.csv": "unexpected_location",
        "S02/2026-05/lab.csv": "wrong_site_folder",
        "S01/2026-05/pregnancy.csv": "outside_root",
        "S01/2026-05/..%2F..%2Fetc.csv": "unknown_form",
    }
    assert q(con, "SELECT source_file, rows_accepted FROM audit.ingest_ledger") == [("S01/2026-05/lab.csv", 3)]
    # every discovered file is in the ledger or in file_rejects
    files = {Path(os.path.relpath(p, root)).as_posix() for b in discover_batches(root) for p in b.files}
    recorded = {
        r[0]
        for r in q(con, "SELECT source_file FROM audit.ingest_ledger UNION SELECT source_file FROM audit.file_rejects")
    }
    assert files == recorded
    assert all(m for (m,) in q(con, "SELECT message_ko FROM audit.file_rejects"))
    # the rows a rejected file held: counted where it was read (all three rows of the wrong-folder file), NULL where
    # it was never read into rows; the run's summary says both
    read = dict(q(con, "SELECT source_file, rows_read FROM audit.file_rejects"))
    assert {f: n for f, n in read.items() if n is not None} == {"S02/2026-05/lab.csv": 3}
    assert "16 rejected (3 rows read, 15 not read)" in report.summary()


def test_header_only_extra_missing_columns_and_forgiving_headers(root, run):
    write(root, "S01/2026-05/lab.csv", "site_code,patient_id,record_id,submission_month,lab_date,analyte,value,unit\n")
    rows = clean_rows("crs", 2)
    cols = list(rows[0])
    text = csv_text(rows, cols + ["hospital_note"]).splitlines()
    text[0] = ",".join(f"  {c.upper()} " for c in cols) + ",hospital_note"  # case + spaces forgiven
    write(root, "S01/2026-05/crs.csv", "\n".join(text) + "\n")
    no_opt = [c for c in list(clean_rows("icans", 1)[0]) if c not in ("ice_score", "action")]
    write(root, "S01/2026-05/icans.csv", csv_text(clean_rows("icans", 2), no_opt))
    no_req = [c for c in list(clean_rows("death", 1)[0]) if c != "death_date"]
    write(root, "S01/2026-05/death.csv", csv_text(clean_rows("death", 2), no_req))
    dup = list(clean_rows("response", 1)[0])
    write(root, "S01/2026-05/response.csv", ",".join(dup + ["Criteria"]) + "\n")
    con, _ = run(root)
    led = {
        r[0]: r[1:]
        for r in q(
            con, "SELECT form, rows_received, rows_accepted, unknown_columns, missing_columns FROM audit.ingest_ledger"
        )
    }
    assert led["lab"] == (0, 0, None, "action; specimen")
    assert led["crs"] == (2, 2, "hospital_note", None)
    assert led["icans"] == (2, 2, None, "action; ice_score")
    assert q(con, "SELECT reason_code, detail FROM audit.file_rejects ORDER BY 1") == [
        ("duplicate_columns", "criteria"),
        ("missing_columns", "death_date"),
    ]


# ------------------------------------------------------------------ row rules


def test_row_rules_quarantine_with_bilingual_messages(root, run):
    lab = clean_rows("lab", 9)
    lab[1]["value"] = "1e9"  # absurd number (range_by analyte)
    lab[2]["unit"] = [c for c in D.codes("lab_unit") if c != lab[2]["unit"]][0]  # unit not the analyte's
    lab[3]["analyte"] = "NOT_A_CODE"
    lab[4]["lab_date"] = "03/04/2026"  # ambiguous
    lab[5]["lab_date"] = "2026-02-30"  # impossible
    lab[6]["record_id"] = lab[0]["record_id"]  # duplicate record id
    lab[7]["site_code"] = "S02"  # row names another site
    lab[8]["analyte"] = "  " + lab[8]["analyte"].lower() + " "  # stray spaces + lowercase: fine
    lab[8]["unit"] = lab[8]["unit"].lower()
    write(root, "S01/2026-05/lab.csv", csv_text(lab))
    fu = clean_rows("followup", 2)
    fu[0]["disease_status"] = "PROGRESSION"
    fu[0]["progression_date"] = ""  # required_if
    fu[1]["contact_date"] = "2025-01-01"  # date order (other dates are later)
    write(root, "S01/2026-05/followup.csv", csv_text(fu))
    de = clean_rows("death", 3)
    de[0]["contributing_causes"] = "infection; crs"  # multiple codes, lower case
    de[1]["contributing_causes"] = "INFECTION;BOGUS"
    de[2]["death_date"] = ""  # required
    write(root, "S01/2026-05/death.csv", csv_text(de))
    pr = clean_rows("product_infusion", 2)
    pr[0]["lot_number"] = "bad lot!"  # pattern
    pr[1]["infusion_number"] = "two"  # integer
    write(root, "S01/2026-05/product_infusion.csv", csv_text(pr))
    con, report = run(root)
    assert rules(con, "S01/2026-05/lab.csv") == [
        (3, "value", "out_of_range"),
        (4, "unit", "code_not_allowed"),
        (5, "analyte", "unknown_code"),
        (6, "lab_date", "ambiguous_date"),
        (7, "lab_date", "invalid_date"),
        (8, "record_id", "duplicate_record"),
        (9, "site_code", "site_mismatch"),
    ]
    assert q(con, "SELECT analyte, unit FROM raw.lab WHERE _source_row = 10") == [
        tuple(clean_rows("lab", 1)[0][k] for k in ("analyte", "unit"))
    ]
    dup = q(con, "SELECT message_en, message_ko FROM audit.quarantine WHERE rule = 'duplicate_record'")[0]
    assert "row 2" in dup[0] and "2행" in dup[1]
    rng = q(con, "SELECT expected FROM audit.quarantine WHERE rule = 'out_of_range'")[0][0]
    assert "<= 100" in rng  # the analyte's range from the dictionary
    fu_rules = rules(con, "S01/2026-05/followup.csv")
    assert (2, "progression_date", "required_if") in fu_rules
    assert any(r[0] == 3 and r[2] == "date_order" for r in fu_rules)
    assert rules(con, "S01/2026-05/death.csv") == [
        (3, "contributing_causes", "unknown_code"),
        (4, "death_date", "required"),
    ]
    assert q(con, "SELECT contributing_causes FROM raw.death") == [("INFECTION;CRS",)]
    assert rules(con, "S01/2026-05/product_infusion.csv") == [
        (2, "lot_number", "pattern"),
        (3, "infusion_number", "invalid_integer"),
    ]
    assert q(
        con, "SELECT count(*) FROM audit.quarantine WHERE message_en = '' OR message_ko = '' OR message_ko IS NULL"
    ) == [(0,)]
    assert report.rows_received == report.rows_accepted + report.rows_quarantined


def test_response_allowed_by_criteria(root, run):
    rows = clean_rows("response", 2)
    crit = D.code_lists["response_criteria"]
    lugano = crit.codes[0]
    not_allowed = next(c for c in D.codes("response") if c not in str(lugano.attributes["responses"]).split(";"))
    rows[0]["criteria"], rows[0]["response"] = lugano.code, not_allowed
    write(root, "S01/2026-05/response.csv", csv_text(rows))
    con, _ = run(root)
    assert rules(con) == [(2, "response", "code_not_allowed")]


# ------------------------------------------------------------------ idempotency, versions, supersession


def _snapshot(con) -> dict[str, list]:
    out = {}
    for schema, table in q(
        con,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('raw','audit') ORDER BY 1, 2",
    ):
        out[f"{schema}.{table}"] = q(con, f"SELECT * FROM {schema}.{table} ORDER BY ALL")
    return out


def test_second_run_changes_nothing_and_fresh_runs_agree(root, run, tmp_path):
    for form in ("lab", "registration", "death"):
        rows = clean_rows(form, 4)
        rows[1]["record_id"] = rows[0]["record_id"]
        write(root, f"S01/2026-05/{form}.csv", csv_text(rows))
        write(root, f"S02/2026-06/{form}.csv", csv_text(clean_rows(form, 2, site="S02", month="2026-06")))
    write(root, "S01/2026-05/crs.csv", b"")
    con, first = run(root)
    before = _snapshot(con)
    _, second = run(root)
    assert second.count("skipped") == first.count("ingested") + first.count("rejected") and second.rows_received == 0
    assert _snapshot(con) == before
    con2, _ = run(root, db=tmp_path / "other.duckdb")
    assert _snapshot(con2) == before


def test_corrections_deletions_and_history(root, run):
    base = clean_rows("crs", 3)
    write(root, "S01/2026-04/crs.csv", csv_text([dict(r, submission_month="2026-04") for r in base]))
    corr = dict(base[0], submission_month="2026-05", astct_grade="2")
    dele = {
        "site_code": "S01",
        "patient_id": base[1]["patient_id"],
        "record_id": base[1]["record_id"],
        "submission_month": "2026-05",
        "action": "d",
    }
    write(root, "S01/2026-05/crs.csv", csv_text([corr, dele], list(base[0])))
    con, _ = run(root)
    base = [dict(r, record_id=rk(r["record_id"])) for r in base]  # as stored: keyed
    hist = q(
        con,
        "SELECT record_id, _version, record_action, astct_grade, _valid_from_month, _valid_to_month, _is_current "
        "FROM raw.crs ORDER BY record_id, _version",
    )
    g = int(base[0]["astct_grade"])
    assert hist == sorted(
        [
            (base[0]["record_id"], 1, "U", g, "2026-04", "2026-05", False),
            (base[0]["record_id"], 2, "U", 2, "2026-05", None, True),
            (base[1]["record_id"], 1, "U", g, "2026-04", "2026-05", False),
            (base[1]["record_id"], 2, "D", None, "2026-05", None, True),
            (base[2]["record_id"], 1, "U", g, "2026-04", None, True),
        ],
        key=lambda r: (r[0], r[1]),
    )
    current = q(con, "SELECT record_id FROM raw.crs WHERE _is_current AND record_action = 'U' ORDER BY 1")
    assert current == sorted([(base[0]["record_id"],), (base[2]["record_id"],)])
    # A late batch for an earlier month ingested afterwards still orders by month.
    late = dict(clean_rows("crs", 3)[2], submission_month="2026-03", astct_grade="1")
    write(root, "S01/2026-03/crs.csv", csv_text([late]))
    con.close()
    con, rep = run(root)
    assert rep.count("ingested") == 1
    assert q(
        con,
        f"SELECT _version, _valid_from_month, _valid_to_month, _is_current FROM raw.crs "
        f"WHERE record_id = '{base[2]['record_id']}' ORDER BY _version",
    ) == [(1, "2026-03", "2026-04", False), (2, "2026-04", None, True)]


def test_changed_file_at_same_path_supersedes_its_contribution(root, run):
    p = write(root, "S01/2026-05/lab.csv", csv_text(clean_rows("lab", 5)))
    con, _ = run(root)
    con.close()
    bad = clean_rows("lab", 2)
    bad[1]["value"] = "-5"
    p.write_text(csv_text(bad))
    con, rep = run(root)
    assert rep.count("ingested") == 1
    assert q(con, "SELECT count(*), bool_and(_is_current) FROM raw.lab") == [(1, True)]
    assert q(con, "SELECT count(*), sum(rows_received) FROM audit.ingest_ledger") == [(1, 2)]
    assert q(con, "SELECT count(*) FROM audit.quarantine") == [(1,)]
    p.write_bytes(b"")  # now unreadable: its old rows and quarantine go, a reject remains
    con.close()
    con, _ = run(root)
    assert q(con, "SELECT count(*) FROM raw.lab") == [(0,)]
    assert q(con, "SELECT count(*) FROM audit.ingest_ledger") == [(0,)]
    assert rejects(con) == {"S01/2026-05/lab.csv": "empty"}


def test_partition_ingest_of_one_late_batch(root, run, tmp_path):
    write(root, "S01/2026-05/lab.csv", csv_text(clean_rows("lab", 2)))
    write(root, "S02/2026-05/lab.csv", csv_text(clean_rows("lab", 2, site="S02")))
    batches = discover_batches(root)
    assert [b.key for b in batches] == ["S01/2026-05", "S02/2026-05"] and all(b.ok for b in batches)
    con = duckdb.connect(str(tmp_path / "p.duckdb"))
    rep = ingest(con, root, KEY, batches=[b for b in batches if b.site == "S02"])
    assert rep.count("ingested") == 1 and q(con, "SELECT DISTINCT site_code FROM raw.lab") == [("S02",)]
    check_accounting(con)
    con.close()


# ------------------------------------------------------------------ privacy

RRN = "900101-1234567"
RRN_DIGITS = ["9001011234567", "1234567"]


def test_rrn_never_written_anywhere(root, run, tmp_path, caplog):
    caplog.set_level("DEBUG")
    lab = clean_rows("lab", 3)
    lab[0]["patient_id"] = RRN
    lab[1]["record_id"] = RRN.replace("-", "")
    write(root, "S01/2026-05/lab.csv", csv_text(lab))
    ae = clean_rows("adverse_event", 2)
    ae[0]["description"] = f"환자 주민번호 {RRN} 기재"
    write(root, "S01/2026-05/adverse_event.csv", csv_text(ae))
    crs = clean_rows("crs", 2)
    write(
        root,
        "S01/2026-05/crs.csv",
        csv_text([dict(r, memo=RRN if i else "ok") for i, r in enumerate(crs)], list(crs[0]) + ["memo"]),
    )
    write(root, f"S01/2026-05/icans {RRN}.csv", csv_text(clean_rows("icans", 1)))
    con, _ = run(root)
    di = q(
        con,
        "SELECT source_file, source_row, field, value_redacted FROM audit.quarantine "
        "WHERE rule = 'direct_identifier' ORDER BY 1, 2",
    )
    assert [(r[0].rsplit("/", 1)[1], r[1], r[2]) for r in di] == [
        ("adverse_event.csv", 2, "description"),
        ("crs.csv", 3, "memo"),
        ("lab.csv", 2, "patient_id"),
        ("lab.csv", 3, "record_id"),
    ]
    assert [r[3] for r in di] == ["(withheld)", "******-*******", "(withheld)", "(withheld)"]  # free text, site IDs
    assert rejects(con) == {"S01/2026-05/icans ******-*******.csv": "direct_identifier"}
    assert q(con, "SELECT count(*) FROM raw.lab") == [(1,)] and q(con, "SELECT count(*) FROM raw.crs") == [(1,)]
    build_site_queries(con, "2026-05")
    n = write_site_queries(con, "S01", "2026-05", tmp_path / "q.xlsx", root)  # reads the site's ids back: redacted
    assert n["quarantine"] == q(con, "SELECT count(*) FROM audit.quarantine")[0][0] and n["file_reject"] == 1
    con.close()
    written = [tmp_path / "warehouse.duckdb", tmp_path / "q.xlsx"]
    import zipfile

    blobs = [p.read_bytes() for p in written if p.exists()]
    with zipfile.ZipFile(tmp_path / "q.xlsx") as z:
        blobs += [z.read(n) for n in z.namelist()]
    for blob in blobs:
        for digits in RRN_DIGITS + [RRN]:
            assert digits.encode() not in blob
    assert not any(d in caplog.text for d in RRN_DIGITS)


def test_site_query_workbook(root, run, tmp_path):
    lab = clean_rows("lab", 2)
    lab[1]["analyte"] = "XYZ"
    write(root, "S01/2026-05/lab.csv", csv_text(lab))
    write(root, "S01/2026-05/crs.csv", b"")
    write(root, "S02/2026-05/lab.csv", csv_text(clean_rows("lab", 1, site="S02")))
    con, _ = run(root)
    build_site_queries(con, "2026-05")
    out = tmp_path / "out" / "S01 queries.xlsx"
    counts = write_site_queries(con, "S01", "2026-05", out, root)
    assert counts["quarantine"] == 1 and counts["file_reject"] == 1
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == [
        "Summary 요약",
        "Rows 행 문의",
        "Files 파일 문의",
        "Checks 품질 점검",
        "Visits 추적 방문",
        "Site verdicts 기관 판정",
    ]
    rows = list(wb["Rows 행 문의"].values)
    head = rows[0]
    row = dict(zip(head, rows[1]))
    assert len(rows) == 2 and row["Row / 행"] == 3 and row["Rule / 규칙"] == "unknown_code"
    assert row["Site record ID / 기관 레코드 ID"] == lab[1]["record_id"] and row["Status / 상태"] == "new / 신규"
    assert "ANC" in row["Expected / 기대값"] and "코드 목록" in row["수정 요청 (한국어)"]
    files = [dict(zip(head, r)) for r in list(wb["Files 파일 문의"].values)[1:]]
    assert files[0]["File / 파일"] == "S01/2026-05/crs.csv" and files[0]["Rule / 규칙"] == "empty"
    assert sum(write_site_queries(con, "S02", "2026-05", tmp_path / "s02.xlsx").values()) == 0


def test_demo_key_is_announced(root, caplog):
    from kocartr.ingest import DEMO_KEY

    write(root, "S01/2026-05/lab.csv", csv_text(clean_rows("lab", 1)))
    caplog.set_level("INFO")
    con = duckdb.connect()
    rep = ingest(con, root, DEMO_KEY)
    assert rep.demo_key and "DEMO" in rep.summary() and "DEMO" in caplog.text


def test_failure_rolls_back_everything_and_does_not_echo_cells(root, tmp_path):
    from kocartr.ingest import IngestError

    write(root, "S01/2026-05/registration.csv", csv_text(clean_rows("registration", 2)))
    write(root, "S01/2026-05/lab.csv", csv_text(clean_rows("lab", 2)))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.lab (value DATE)")  # a broken warehouse: the lab insert must fail
    with pytest.raises(IngestError) as e:
        ingest(con, root, KEY)
    assert "no table changed" in str(e.value)
    assert con.sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'audit'").fetchall() == [(0,)]
    assert con.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'registration'").fetchall() == [
        (0,)
    ]
    con.close()


def test_wrong_month_folder_and_odd_file_names(root, run):
    write(root, "S03/2026-05/lab.csv", csv_text(clean_rows("lab", 2, site="S03", month="2026-04")))
    write(root, "S03/2026-05/ Lab .csv", csv_text(clean_rows("lab", 2, site="S03", start=10)))
    write(root, "S03/2026-05/crs (복사본).csv", csv_text(clean_rows("crs", 1, site="S03")))
    con, _ = run(root)
    assert rejects(con) == {"S03/2026-05/lab.csv": "wrong_month_folder", "S03/2026-05/crs (복사본).csv": "unknown_form"}
    assert q(con, "SELECT source_file, rows_accepted FROM audit.ingest_ledger") == [("S03/2026-05/ Lab .csv", 2)]


def test_every_date_format_in_csv(root, run):
    formats = ["2026-05-01", "2026.05.01", "20260501", "46143", "2026/5/1", "2026-05-01 00:00:00", " 2026.5.1 "]
    rows = clean_rows("lab", len(formats) + 2)
    for r, v in zip(rows, formats):
        r["lab_date"] = v
    rows[-2]["lab_date"], rows[-1]["lab_date"] = "05/01/2026", "2026-13-01"
    write(root, "S01/2026-05/lab.csv", csv_text(rows))
    con, _ = run(root)
    assert q(con, "SELECT DISTINCT lab_date FROM raw.lab") == [(dt.date(2026, 5, 1),)]
    assert q(con, "SELECT count(*) FROM raw.lab") == [(len(formats),)]
    assert rules(con) == [
        (len(formats) + 2, "lab_date", "ambiguous_date"),
        (len(formats) + 3, "lab_date", "invalid_date"),
    ]


def test_ragged_rows_that_cancel_out_are_still_found(root, run):
    rows = [dict(r, cause_text="") for r in clean_rows("death", 4)]
    lines = csv_text(rows).rstrip("\n").split("\n")
    lines[1] += ",extra"  # one field too many ...
    lines[2] = lines[2].rsplit(",", 1)[0]  # ... and one too few: the file's separator total still fits
    write(root, "S01/2026-05/death.csv", "\n".join(lines) + "\n")
    write(root, "S02/2026-05/death.csv", "\n".join([lines[0], lines[1], lines[3], lines[4].rsplit(",", 1)[0]]))
    con, _ = run(root)
    assert rules(con, "S01/2026-05/death.csv") == [(2, "(row)", "column_count"), (3, "(row)", "column_count")]
    assert rejects(con) == {"S02/2026-05/death.csv": "truncated"}


def test_later_month_deferred_then_ingested_when_its_month_is_built(root, tmp_path):
    write(root, "S01/2026-04/lab.csv", csv_text(clean_rows("lab", 2, month="2026-04")))
    write(root, "S01/2026-05/lab.csv", csv_text(clean_rows("lab", 2, month="2026-05", start=3)))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    batches = discover_batches(root)
    first = ingest(
        con,
        root,
        KEY,
        [b for b in batches if b.month <= "2026-04"],
        [b for b in batches if b.month > "2026-04"],
        "2026-04",
    )
    assert (first.count("ingested"), first.count("deferred")) == (1, 1) and "1 deferred" in first.summary()
    assert q(con, "SELECT source_file, registry_month FROM audit.deferred_files") == [
        ("S01/2026-05/lab.csv", "2026-04")
    ]
    second = ingest(con, root, KEY, batches, [], "2026-05")
    assert (second.count("ingested"), second.count("skipped"), second.count("deferred")) == (1, 1, 0)
    assert q(con, "SELECT count(*) FROM audit.deferred_files") == [(0,)]
    assert q(con, "SELECT count(*) FROM audit.ingest_ledger") == [(2,)]
    con.close()


def test_a_root_without_site_month_folders_is_named_in_one_line(root):
    from kocartr.ingest import SubmissionsLayoutError

    assert discover_batches(root) == []  # empty: nothing to account for
    write(root, "lab.csv", csv_text(clean_rows("lab", 1)))
    with pytest.raises(SubmissionsLayoutError, match=r"is not a submissions folder .*expected <SITE>/<YYYY-MM>/"):
        discover_batches(root)
    write(root, "S01/2026-05/lab.csv", csv_text(clean_rows("lab", 1)))
    assert [(b.site, b.month, b.problem) for b in discover_batches(root)] == [
        ("", "", "unexpected_location"),
        ("S01", "2026-05", None),
    ]
