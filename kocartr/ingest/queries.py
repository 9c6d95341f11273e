"""The per-site query workbook a data manager gets back: every quarantined row and rejected file, bilingual."""

from __future__ import annotations

from pathlib import Path

import duckdb

from kocartr.ingest.warehouse import AUDIT

_ROW_COLUMNS = [
    ("submission_month", "Month / 제출 월", 10), ("source_file", "File / 파일", 34), ("form", "Form / 서식", 16),
    ("source_row", "Row / 행", 7), ("record_id", "Record ID / 레코드 ID", 18), ("field", "Field / 항목", 22),
    ("rule", "Rule / 규칙", 18), ("value_redacted", "Value (redacted) / 값 (가림)", 22),
    ("expected", "Expected / 기대값", 40), ("message_en", "What is wrong (English)", 70),
    ("message_ko", "수정 요청 (한국어)", 70),
]
_FILE_COLUMNS = [
    ("submission_month", "Month / 제출 월", 10), ("source_file", "File / 파일", 40), ("form", "Form / 서식", 16),
    ("reason_code", "Reason / 사유", 20), ("detail", "Expected / 기대", 40),
    ("message_en", "What is wrong (English)", 70), ("message_ko", "수정 요청 (한국어)", 70),
]


def _fetch(con: duckdb.DuckDBPyConnection, table: str, cols: list[tuple[str, str, int]], order: str, site: str) -> list[tuple]:
    names = ", ".join(c for c, _, _ in cols)
    return con.sql(f"SELECT {names} FROM {AUDIT}.{table} WHERE site_code = $site ORDER BY {order}",
                   params={"site": site}).fetchall()


_CHECK_COLUMNS = [("table_name", "Table 테이블", 28), ("check_name", "Check 점검 항목", 36),
                  ("severity", "Severity 중요도", 12), ("record_key", "Record 레코드", 44), ("reason", "Why 사유", 70)]


def _quality_failures(con: duckdb.DuckDBPyConnection, site: str) -> list[tuple]:
    """Records of this site that failed a quality-gate check in that check's latest run (audit.dq_*)."""
    from expectations import all_rules

    from kocartr.warehouse import table_exists

    if not all(table_exists(con, f"{AUDIT}.{t}") for t in ("dq_failing_records", "dq_results")):
        return []
    reasons = {(r.table, r.name): r.reason for r in all_rules()}
    found = con.sql(f"""
        SELECT f.table_name, f.check_name, f.severity, f.record_key
        FROM {AUDIT}.dq_failing_records f
        JOIN (SELECT DISTINCT run_id, run_at FROM {AUDIT}.dq_results) r USING (run_id)
        WHERE f.site_code = $site
        QUALIFY rank() OVER (PARTITION BY f.table_name, f.check_name ORDER BY r.run_at DESC) = 1
        ORDER BY f.table_name, f.check_name, f.record_key""", params={"site": site}).fetchall()
    return [row + (reasons.get((row[0], row[1]), ""),) for row in found]


def write_site_queries(con: duckdb.DuckDBPyConnection, site: str, out: Path) -> int:
    """Write the query workbook for one site; returns the number of queries (quarantined rows, rejected files and
    records failing a quality-gate check)."""
    import xlsxwriter

    rows = _fetch(con, "quarantine", _ROW_COLUMNS, "submission_month, source_file, form, source_row, field, rule", site)
    files = _fetch(con, "file_rejects", _FILE_COLUMNS, "submission_month, source_file, form, reason_code", site)
    checks = _quality_failures(con, site)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(out))
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    summary = wb.add_worksheet("Summary 요약")
    summary.set_column(0, 0, 60)
    summary.set_column(1, 1, 12)
    lines = [
        (f"Ko-CARTR data queries for site {site} / 기관 {site} 데이터 문의", None),
        ("Quarantined rows (not loaded) / 반영되지 않은 행", len(rows)),
        ("Rejected files / 거부된 파일", len(files)),
        ("Records loaded but failing a quality check / 품질 점검 실패 레코드", len(checks)),
        ("Fix each row or file at the site and resend it in the next submission (same record ID corrects it). "
         "Row numbers count the header as row 1. Values shaped like resident registration numbers are masked.", None),
        ("각 행 또는 파일을 기관에서 수정하여 다음 제출 시 다시 보내 주십시오 (같은 레코드 ID로 수정). "
         "행 번호는 헤더를 1행으로 셉니다. 주민등록번호 형태의 값은 가려져 있습니다.", None),
    ]
    for i, (text, n) in enumerate(lines):
        summary.write(i, 0, text, wrap)
        if n is not None:
            summary.write_number(i, 1, n)
    for title, cols, data in (("Rows 행 문의", _ROW_COLUMNS, rows), ("Files 파일 문의", _FILE_COLUMNS, files),
                              ("Checks 품질 점검", _CHECK_COLUMNS, checks)):
        ws = wb.add_worksheet(title)
        for j, (_, label, width) in enumerate(cols):
            ws.write(0, j, label, head)
            ws.set_column(j, j, width, wrap if width >= 40 else None)
        for i, row in enumerate(data, start=1):
            for j, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, int):
                    ws.write_number(i, j, v)
                else:
                    ws.write_string(i, j, str(v))
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(len(data), 1), len(cols) - 1)
    wb.close()
    return len(rows) + len(files) + len(checks)
