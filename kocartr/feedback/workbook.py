"""The per-site query workbook: a view of audit.site_queries for one site and registry month, bilingual.

One sheet per query source (rows, files, quality checks, follow-up visits), each row one query with its stable id,
status and the site's own record id, form, file and row; plus the rules this site fails although they may pass
for the registry as a whole (per-site verdicts, audit.dq_results).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from kocartr.feedback.queries import SITE_QUERIES
from kocartr.feedback.site_ids import site_ids
from kocartr.sheet_rows import can_splice, rows_xml, splice_rows

SHEETS = {  # source -> sheet title
    "quarantine": "Rows 행 문의",
    "file_reject": "Files 파일 문의",
    "quality_check": "Checks 품질 점검",
    "followup": "Visits 추적 방문",
}
VERDICT_SHEET = "Site verdicts 기관 판정"
STATUS_LABEL = {"new": "new / 신규", "open": "open / 미해결", "resolved": "resolved / 해결됨"}
_QUERY_COLUMNS = [  # (column of the prepared frame, header, width)
    ("query_id", "Query ID / 문의 ID", 18),
    ("status", "Status / 상태", 14),
    ("first_seen_month", "First seen / 최초 발견 월", 12),
    ("site_record_id", "Site record ID / 기관 레코드 ID", 22),
    ("site_patient_id", "Site patient ID / 기관 환자 ID", 16),
    ("form", "Form / 서식", 16),
    ("source_file", "File / 파일", 34),
    ("source_row", "Row / 행", 7),
    ("field", "Field / 항목", 22),
    ("rule", "Rule / 규칙", 30),
    ("value_redacted", "Value (redacted) / 값 (가림)", 20),
    ("expected", "Expected / 기대값", 30),
    ("message_en", "What is wrong (English)", 70),
    ("message_ko", "수정 요청 (한국어)", 70),
]
_VERDICT_COLUMNS = [
    ("check_name", "Check / 점검 항목", 44),
    ("severity", "Severity / 중요도", 10),
    ("rows_checked", "Records checked / 점검 레코드", 12),
    ("rows_failing", "Failing / 실패", 10),
    ("failing_share", "Failing share / 실패 비율", 12),
    ("threshold", "Allowed / 허용 비율", 12),
    ("overall_status", "All sites / 전체 기관", 12),
    ("blocks_release", "Blocks release / 공개 차단", 12),
]


def ingested_versions(con, files: Iterable[str]) -> dict[str, set[str]]:
    """{source_file: SHA-256 of each version ingest read at that path} (audit.ingest_ledger), for these files."""
    names = sorted(set(files))
    found: dict[str, set[str]] = {f: set() for f in names}
    if names:
        rows = con.execute(
            "select source_file, file_sha256 from audit.ingest_ledger where source_file in (select unnest($f))",
            {"f": names},
        ).fetchall()
        for f, sha in rows:
            found[f].add(sha)
    return found


def site_query_rows(con, site: str, month: str, submissions: Path | None) -> pl.DataFrame:
    """The site's queries of `month`, with the site's own ids read from its files (None when unavailable)."""
    rows = con.sql(
        f"select * from {SITE_QUERIES} where site_code = $s and registry_month = $m "
        "order by source, status, rule, query_id",
        params={"s": site, "m": month},
    ).pl()
    ids = {}
    if submissions is not None:
        from kocartr.dictionary import load_dictionary

        forms = load_dictionary().forms
        stems = {f: Path(f).stem.lower() for f in rows["source_file"].unique() if f}  # per file, not per row
        wanted = [
            (f, r, stems[f] if stems[f] in forms else form)
            for f, r, form in rows.select("source_file", "source_row", "form").iter_rows()
            if f
        ]
        ids = site_ids(submissions, wanted, ingested_versions(con, stems))
    rec = [ids.get((f, r), (None, None)) for f, r in rows.select("source_file", "source_row").iter_rows()]
    return rows.with_columns(
        site_record_id=pl.Series([a for a, _ in rec], dtype=pl.Utf8),
        site_patient_id=pl.Series([b for _, b in rec], dtype=pl.Utf8),
        status=pl.col("status").replace_strict(STATUS_LABEL, default=pl.col("status")),
    )


def _sheet(wb, title: str, cols: list[tuple[str, str, int]], frame: pl.DataFrame, head, wrap, cells: bool = True):
    """A table sheet: header row, column widths (wide columns wrap), frozen header, filter over the rows; the
    frame's cells written here, or (cells=False) spliced in afterwards (kocartr.sheet_rows)."""
    ws = wb.add_worksheet(title)
    for j, (_, label, width) in enumerate(cols):
        ws.write(0, j, label, head)
        ws.set_column(j, j, width, wrap if width >= 40 else None)
    for i, row in enumerate(frame.select([c for c, _, _ in cols]).iter_rows() if cells else (), start=1):
        for j, v in enumerate(row):
            if v is None:
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                ws.write_number(i, j, v)
            else:
                ws.write_string(i, j, str(v))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(frame.height, 1), len(cols) - 1)
    return ws


def write_site_queries(con, site: str, month: str, out: Path, submissions: Path | None = None) -> dict[str, int]:
    """Write one site's query workbook for registry month `month`; returns the number of queries per source (and
    the number of rules failing at this site under `site_verdicts`)."""
    import xlsxwriter

    from expectations.results import site_verdicts

    rows = site_query_rows(con, site, month, submissions)
    verdicts = site_verdicts(con, month).filter((pl.col("site_code") == site) & ~pl.col("passed"))
    verdicts = verdicts.with_columns(
        overall_status=pl.when(pl.col("overall_passed")).then(pl.lit("PASSED")).otherwise(pl.lit("FAILED")),
        blocks_release=pl.when(pl.col("blocks")).then(pl.lit("yes / 예")).otherwise(pl.lit("no / 아니오")),
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    book = io.BytesIO()
    wb = xlsxwriter.Workbook(book, {"in_memory": True})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    counts = {src: rows.filter(pl.col("source") == src).height for src in SHEETS}
    by_status = {s: rows.filter(pl.col("status") == label).height for s, label in STATUS_LABEL.items()}
    summary = wb.add_worksheet("Summary 요약")
    summary.set_column(0, 0, 70)
    summary.set_column(1, 1, 12)
    lines: list[tuple[str, int | None]] = [
        (f"Ko-CARTR data queries for site {site}, registry month {month} / 기관 {site} 데이터 문의 ({month})", None)
    ]
    lines += [(f"{SHEETS[s]}: queries / 문의 수", n) for s, n in counts.items()]
    lines += [(f"Status {STATUS_LABEL[s]}", n) for s, n in by_status.items()]
    lines += [
        (f"{VERDICT_SHEET}: rules failing at this site / 이 기관에서 기준을 넘은 점검", verdicts.height),
        (
            "A query keeps its ID from month to month; 'resolved' means the data no longer fail. Fix each record "
            "at the site and resend it (the same record ID corrects it). Row numbers count the header as row 1.",
            None,
        ),
        (
            "문의 ID는 매월 유지됩니다. '해결됨'은 자료가 더 이상 점검에 걸리지 않음을 뜻합니다. 기관에서 각 레코드를 "
            "수정하여 다시 제출해 주십시오 (같은 레코드 ID로 수정). 행 번호는 머리글을 1행으로 셉니다.",
            None,
        ),
    ]
    for i, (text, n) in enumerate(lines):
        summary.write(i, 0, text, wrap)
        if n is not None:
            summary.write_number(i, 1, n)
    tables = {}  # the query sheets' rows (up to tens of thousands) are spliced in after xlsxwriter has written
    for src, title in SHEETS.items():
        frame = rows.filter(pl.col("source") == src).select([c for c, _, _ in _QUERY_COLUMNS])
        splice = frame.height > 0 and can_splice(frame)
        ws = _sheet(wb, title, _QUERY_COLUMNS, frame, head, wrap, cells=not splice)
        if splice:
            tables[f"xl/worksheets/sheet{ws.index + 1}.xml"] = frame
    _sheet(wb, VERDICT_SHEET, _VERDICT_COLUMNS, verdicts, head, wrap)
    wb.close()
    styles = [wrap.xf_index if width >= 40 else None for _, _, width in _QUERY_COLUMNS]  # a column's format
    splice_rows(
        book.getvalue(),
        out,
        {part: (f.width, f.height, rows_xml(f, styles)) for part, f in tables.items()},
    )
    return {**counts, "site_verdicts": verdicts.height}
