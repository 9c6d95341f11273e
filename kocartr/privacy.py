"""Resident registration number (RRN) screening: the ONE definition of the pattern, used by ingest (cell values,
headers, sheet names, folder and file names, messages), the synthetic generator's self-check and the release's
final scan (every text cell, file name and text file), and usable on query workbooks and logs (`scan_path`).

An RRN is 13 digits, YYMMDD-GNNNNNN (registry brief section 6; Resident Registration Act, Enforcement Rule
form 1): birth date, then G = sex and century digit, then 6 digits, the hyphen optional. G is 1-4 for citizens
born 1900-2099 and 5-8 for foreign residents (9 and 0 were for births in the 1800s: no one living holds one).
Detection is by shape only: RRNs issued since 2020-10 carry no checksum, so a checksum test would miss real ones.

Boundaries: the 13 digits must not touch another digit, whatever else touches them, so the number is found
inside Korean text (`주민번호760101-1234567`), after letters (`ID7601011234567`) or punctuation, but not inside a
longer digit run. Two forms of one pattern: with look-arounds (Python `re`) and with a captured boundary
(Rust regex in polars and RE2 in DuckDB have no look-around).

Screening a submission is strict (any matching run). Scanning the registry's own outputs first blanks runs of
>= 32 hex characters and the fractional digits of decimal numbers: HMAC tokens, SHA-256 hashes and estimates
written as text hold 13 digits in a row by chance, and never come from a site (every submitted value was screened
strictly before any token was made or any number computed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import polars as pl

_DASH = "[-\u2010\u2011\u2012\u2013\u2014\u2015]?"  # ASCII hyphen or a Unicode hyphen/dash, or none
RRN_CORE = rf"[0-9]{{2}}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]){_DASH}[1-8][0-9]{{6}}"
RRN_BOUNDED = rf"(?:^|[^0-9]){RRN_CORE}(?:[^0-9]|$)"  # for polars (Rust regex) and DuckDB (RE2)
RRN_RE = re.compile(rf"(?<![0-9]){RRN_CORE}(?![0-9])")
HEX_RUN = r"[0-9A-Fa-f]{32,}"
# Registry output that is not from a site: tokens and hashes (hex runs), and the fractional digits of a decimal
# number written as text (a CSV of estimates holds 13-digit fractions that look like an RRN by chance).
_OWN_OUTPUT_RE = re.compile(rf"{HEX_RUN}|(?<=[0-9]\.)[0-9]+")
RRN_MASK = "******-*******"
# Text files of outputs (reports, guides, manifests, CSV, logs); other files are screened by name only.
TEXT_SUFFIXES = {".csv", ".md", ".txt", ".log", ".json", ".html", ".htm", ".yaml", ".yml", ".sql", ".xml", ".tsv"}


def looks_like_rrn(value: str | None) -> bool:
    """Strict screening of submitted text (cell, header, sheet, folder or file name)."""
    return bool(value) and RRN_RE.search(value or "") is not None


@overload
def redact(value: str) -> str: ...
@overload
def redact(value: None) -> None: ...
@overload
def redact(value: str | None) -> str | None: ...
def redact(value: str | None) -> str | None:
    """Replace every RRN-shaped run by a fixed mask (the digits are never kept)."""
    if value is None:
        return None
    return RRN_RE.sub(RRN_MASK, value)


def rrn_expr(col: pl.Expr) -> pl.Expr:
    """Vectorized strict screening: does the cell hold an RRN-shaped value?"""
    return col.str.contains(RRN_BOUNDED)


def redact_expr(col: pl.Expr) -> pl.Expr:
    # Capture the neighbouring non-digit so it survives the replacement.
    return col.str.replace_all(rf"(^|[^0-9]){RRN_CORE}", f"${{1}}{RRN_MASK}")


def output_has_rrn(text: str) -> bool:
    """Scan of registry output: registry tokens (hex runs) blanked first, then the strict pattern."""
    return looks_like_rrn(_OWN_OUTPUT_RE.sub(" ", text))


def rrn_sql(column_sql: str) -> str:
    """DuckDB predicate for output scans: the VARCHAR expression holds an RRN-shaped value (tokens and decimal
    fractions blanked, as `output_has_rrn` does)."""
    blanked = f"regexp_replace(regexp_replace({column_sql}, '{HEX_RUN}', ' ', 'g'), '([0-9])\\.[0-9]+', '\\1 ', 'g')"
    return f"regexp_matches({blanked}, '{RRN_BOUNDED}')"


@dataclass(frozen=True)
class Finding:
    """One place an RRN-shaped value was found: never the value itself."""

    path: str
    where: str  # "file name", "text", "sheet name", "cell", "<schema>.<table>.<column>", ...
    count: int = 1

    def __str__(self) -> str:
        return f"{self.path}: {self.count} RRN-shaped value(s) in {self.where}"


def _qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _scan_duckdb(path: Path, rel: str) -> list[Finding]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return scan_connection(con, rel)
    finally:
        con.close()


def scan_connection(con, label: str = "warehouse", schemas: Iterable[str] | None = None) -> list[Finding]:
    """Every text cell of every table and view (optionally only in `schemas`), and every schema, table and
    column name and column comment, of an open DuckDB connection."""
    wanted = None if schemas is None else set(schemas)
    cols = con.sql("""select schema_name, table_name, column_name, data_type, comment from duckdb_columns()
                      where database_name = current_database() and not internal
                      order by schema_name, table_name, column_index""").fetchall()
    cols = [c for c in cols if wanted is None or c[0] in wanted]
    counts = _rrn_counts(con, [(s, t, c) for s, t, c, dtype, _ in cols if dtype.upper() == "VARCHAR"])
    out: list[Finding] = []
    for schema, table, column, _, comment in cols:
        where = f"{schema}.{table}.{column}"
        if output_has_rrn(where):
            out.append(Finding(label, "a schema, table or column name"))
        if comment and output_has_rrn(comment):
            out.append(Finding(label, f"the comment of {redact(where)}"))
        if counts.get((schema, table, column)):
            out.append(Finding(label, where, counts[(schema, table, column)]))
    return out


def _rrn_counts(con, columns: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
    """Rows with an RRN-shaped value, per text column: one scan per table for all of its columns (one query per
    column cost a fixed ~10 ms each, hundreds per release)."""
    tables: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in columns:
        tables.setdefault((schema, table), []).append(column)
    counts: dict[tuple[str, str, str], int] = {}
    for (schema, table), names in tables.items():
        select = ", ".join(f"count(*) filter (where {rrn_sql(_qi(c))})" for c in names)
        row = con.sql(f"select {select} from {_qi(schema)}.{_qi(table)}").fetchall()[0]
        counts.update({(schema, table, c): int(n) for c, n in zip(names, row, strict=True)})
    return counts


def _scan_parquet(path: Path, rel: str) -> list[Finding]:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"create view t as select * from read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')")
        return scan_connection(con, rel, schemas=["main"])
    finally:
        con.close()


def _scan_xlsx(path: Path, rel: str) -> list[Finding]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    out: list[Finding] = []
    try:
        for ws in book.worksheets:
            if output_has_rrn(ws.title):
                out.append(Finding(rel, "a sheet name"))
            n = sum(
                1 for row in ws.iter_rows(values_only=True) for v in row if isinstance(v, str) and output_has_rrn(v)
            )
            if n:
                out.append(Finding(rel, "cells", n))
    finally:
        book.close()
    return out


def scan_file(path: Path, rel: str | None = None) -> list[Finding]:
    """One file: its name, then its content by type (DuckDB, Parquet, XLSX, text; other files by name only)."""
    path = Path(path)
    rel = rel or path.name
    out = [Finding(redact(rel) or "", "the file name")] if output_has_rrn(rel) else []
    rel = redact(rel) or ""
    suffix = path.suffix.lower()
    if suffix == ".duckdb":
        out += _scan_duckdb(path, rel)
    elif suffix == ".parquet":
        out += _scan_parquet(path, rel)
    elif suffix == ".xlsx":
        out += _scan_xlsx(path, rel)
    elif suffix in TEXT_SUFFIXES:
        text = path.read_bytes().decode("utf-8", errors="replace")
        n = sum(1 for line in text.splitlines() if output_has_rrn(line))
        if n:
            out.append(Finding(rel, "lines of text", n))
    return out


def scan_path(path: Path) -> list[Finding]:
    """Scan a file or a whole folder (a release, the query workbooks, a log folder): every file and folder name
    and every file's content as `scan_file` reads it. Returns the findings (empty = clean); never the values."""
    path = Path(path)
    if path.is_file():
        return scan_file(path)
    out: list[Finding] = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).as_posix()
        if p.is_dir():
            if output_has_rrn(p.name):
                out.append(Finding(redact(rel) or "", "a folder name"))
        elif p.is_file():
            out += scan_file(p, rel)
    return out
