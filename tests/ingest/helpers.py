"""Test helpers: clean rows built from the dictionary (so tests follow it), and submission writers."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from kocartr.dictionary import Dictionary, Field, load_dictionary
from kocartr.ingest.validate import _allowed_attribute

KEY = b"test-key-0123456789abcdef-not-demo"
_STRINGS = ["ABC-123", "9680/3", "CMV", "C83.3", "C77.2", "0" * 64]


def _value(d: Dictionary, form: str, f: Field, row: dict, i: int, site: str, month: str) -> str:
    if f.name in ("site_code", "source_code"):
        return site
    if f.name == "submission_month":
        return month
    if f.name == "patient_id":
        return f"P{i:05d}"
    if f.name == "patient_key":  # linkage returns carry the registry key: that of clean registration row i of S01
        from kocartr.ingest import patient_key

        return patient_key(KEY, "S01", f"P{i:05d}")
    if f.name == "record_id":
        return f"{form[:3].upper()}-{i:05d}"
    if f.name == "action":
        return ""
    if f.type == "code":
        if f.allowed_by:
            other = {x.name: x for x in d.all_fields(form)}[f.allowed_by]
            return _allowed_attribute(d, f, other)[row[other.name]].split(";")[0]
        return d.codes(f.code_list)[0]
    if f.type == "date":
        return "2026-01-15"
    if f.type in ("integer", "decimal"):
        if f.range_by:
            cl = d.code_lists[{x.name: x for x in d.all_fields(form)}[f.range_by].code_list]
            return str(cl.codes[0].attributes.get("min", 0) + 1)
        lo = f.min if f.min is not None else 0
        return str(int(lo) + (1 if f.max is None or f.max > lo else 0))
    if f.type == "text":
        return '한글 비고, "인용"'
    if f.pattern:
        return next(s for s in _STRINGS if re.fullmatch(f.pattern, s))
    return "x"


def clean_rows(form: str, n: int, site: str = "S01", month: str = "2026-05", start: int = 1) -> list[dict]:
    d = load_dictionary()
    rows = []
    for i in range(start, start + n):
        row: dict = {}
        for f in d.all_fields(form):  # allowed_by fields follow their driver in column order
            row[f.name] = _value(d, form, f, row, i, site, month)
        rows.append(row)
    return rows


def csv_text(rows: list[dict], columns: list[str] | None = None) -> str:
    columns = columns or list(rows[0])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([r.get(c, "") for c in columns])
    return buf.getvalue()


def write(root: Path, rel: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return p


def query(db: Path, sql: str) -> list[tuple]:
    """Rows of `sql` on the warehouse file `db`, through a read-only connection closed at once."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()
