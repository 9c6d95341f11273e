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
from collections.abc import Callable, Iterable
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
    fractions blanked, as `output_has_rrn` does). The expression appears twice: a column or a `$1` parameter, not `?`.

    The strict match on the raw value comes first, in a CASE that DuckDB evaluates before the blanking (an AND
    evaluates both sides here, as slow as the blanking alone; the CASE costs about the one raw match): blanking
    only turns characters into blanks and never next to a digit it keeps (a hex run swallows the digits around
    it; a fraction ends at a non-digit), so every match after blanking is a match before it, and the two
    `regexp_replace` calls run only on the few values that match raw (a hex token with 13 digits in a row)."""
    blanked = f"regexp_replace(regexp_replace({column_sql}, '{HEX_RUN}', ' ', 'g'), '([0-9])\\.[0-9]+', '\\1 ', 'g')"
    raw = f"regexp_matches({column_sql}, '{RRN_BOUNDED}')"
    return f"(case when {raw} then regexp_matches({blanked}, '{RRN_BOUNDED}') else false end)"


def arrow_rrn_counts(rows, columns: list[str], con, at_once: bool = False) -> dict[str, int]:
    """Rows of each text column `columns` of the Arrow table `rows` whose value `rrn_sql` matches, as
    `count(*) FILTER (WHERE rrn_sql(column))` counts them, at about two thirds of the cost: the raw pattern
    (RRN_BOUNDED, the first test of `rrn_sql`) runs over every value in polars (Rust's regex engine: ~2x RE2's speed
    on 64-hex keys; a regular expression without look-arounds or back-references matches the same strings in both),
    and `rrn_sql` itself, in DuckDB `con`, only on the few values that match raw. Polars copies the text it reads: a
    column at a time, or (`at_once`) every column together, tested in parallel."""
    counts = {}
    for group in [columns] if at_once else [[c] for c in columns]:
        if not group:
            continue
        frame = pl.from_arrow(rows.select(group))
        assert isinstance(frame, pl.DataFrame)
        raw = frame.select(rrn_expr(pl.col(group)).fill_null(False))
        for name in group:
            hits = frame[name].filter(raw[name])
            counts[name] = 0
            if hits.len():
                sql = f"SELECT count(*) FILTER (WHERE {rrn_sql('v')}) FROM (SELECT unnest($values) AS v)"
                counts[name] = con.execute(sql, {"values": hits.to_list()}).fetchall()[0][0]
    return counts


# Numbers written as text: only an integer part of >= 13 digits can hold an RRN (fractions are blanked), so a
# number below 10^12 is never rendered as one and the text rendering is checked only above it.
_NUMERIC_TYPES = frozenset(
    "TINYINT SMALLINT INTEGER BIGINT HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT UHUGEINT FLOAT DOUBLE DECIMAL".split()
)


def number_rrn_sql(column_sql: str) -> str:
    """DuckDB predicate: the number, written as text (as CSV and every text rendering write it), holds an RRN."""
    return f"(case when abs({column_sql}) >= 1e12 then {rrn_sql(f'CAST({column_sql} AS VARCHAR)')} else false end)"


def _is_numeric(data_type: str) -> bool:
    return data_type.upper().split("(")[0] in _NUMERIC_TYPES


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
    """Every text cell and every number (as text: a 13-digit integer is an RRN in a CSV) of every table and view
    (optionally only in `schemas`), and every schema, table and column name and column comment, of an open DuckDB
    connection."""
    wanted = None if schemas is None else set(schemas)
    cols = con.sql("""select schema_name, table_name, column_name, data_type, comment from duckdb_columns()
                      where database_name = current_database() and not internal
                      order by schema_name, table_name, column_index""").fetchall()
    cols = [c for c in cols if wanted is None or c[0] in wanted]
    counts = _rrn_counts(
        con,
        [
            (s, t, c, dtype.upper() != "VARCHAR")
            for s, t, c, dtype, _ in cols
            if dtype.upper() == "VARCHAR" or _is_numeric(dtype)
        ],
    )
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


def _rrn_counts(con, columns: list[tuple[str, str, str, bool]]) -> dict[tuple[str, str, str], int]:
    """Rows with an RRN-shaped value, per text or number column (schema, table, column, is_number): per table, one
    scan for all of its number columns (one query per column cost a fixed ~10 ms each, hundreds per release) and
    one read of its text columns, checked by `arrow_rrn_counts` (the same counts as `rrn_sql` in DuckDB)."""
    tables: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for schema, table, column, is_number in columns:
        tables.setdefault((schema, table), []).append((column, is_number))
    counts: dict[tuple[str, str, str], int] = {}
    for (schema, table), named in tables.items():
        fq = f"{_qi(schema)}.{_qi(table)}"
        numbers = [c for c, num in named if num]
        if numbers:
            select = ", ".join(f"count(*) filter (where {number_rrn_sql(_qi(c))})" for c in numbers)
            row = con.sql(f"select {select} from {fq}").fetchall()[0]
            counts.update({(schema, table, c): int(n) for c, n in zip(numbers, row, strict=True)})
        texts = [c for c, num in named if not num]
        if texts:
            rows = con.sql(f"select {', '.join(_qi(c) for c in texts)} from {fq}").to_arrow_table()
            found = arrow_rrn_counts(rows, texts, con, at_once=True)
            counts.update({(schema, table, c): found[c] for c in texts})
    return counts


def _scan_parquet(path: Path, rel: str) -> list[Finding]:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"create view t as select * from read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')")
        return scan_connection(con, rel, schemas=["main"])
    finally:
        con.close()


# Parts of an XLSX (a zip of XML) and what they hold; any other part (comments, drawings, charts, custom
# properties, ...) is scanned too and named by its part name.
_XLSX_PARTS = {
    "xl/workbook.xml": "a sheet name",
    "xl/sharedStrings.xml": "cells",
    "docProps/app.xml": "document properties",
    "docProps/core.xml": "document properties",
}
# A string item of rich text is split in runs (<si><r><t>7601</t></r><r><t>01-1234567</t></r></si>): the tags
# inside a string item, inline string, comment text or drawing paragraph are dropped so its runs are read as the
# one string the reader sees; every other tag stays between values as a non-digit separator.
_XML_TEXT_ITEM = re.compile(r"<((?:\w+:)?(?:si|is|text|p))\b[^>]*>.*?</\1>", re.DOTALL)
_XML_TAG = re.compile(r"<[^>]*>")


def _xml_text(xml: str) -> str:
    """The text of an XML part as its values read: runs of one string item joined, character references
    (`&#45;` hides a hyphen) resolved. Tags and attributes (sheet names are attributes) stay: they are not
    digits, so they only separate values."""
    import html

    if "<r>" in xml or "<r " in xml or ":r>" in xml:
        xml = _XML_TEXT_ITEM.sub(lambda m: _XML_TAG.sub("", m.group(0)), xml)
    return html.unescape(xml) if "&" in xml else xml


def _scan_xlsx(path: Path, rel: str) -> list[Finding]:
    """Every part of the workbook read as text: cells (shared and inline strings, numbers), sheet names, headers
    and footers, comments, document properties. One regular-expression pass per part (reading the cells back
    with openpyxl cost ~20 s on a 13 MB workbook); a value split in rich-text runs is read whole."""
    import zipfile

    out: list[Finding] = []
    with zipfile.ZipFile(path) as book:
        for info in book.infolist():
            if output_has_rrn(info.filename):
                out.append(Finding(rel, "a part name"))
            text = _xml_text(book.read(info).decode("utf-8", errors="replace"))
            n = count_output_rrns(text)
            if n:
                where = _XLSX_PARTS.get(info.filename, "cells" if info.filename.startswith("xl/worksheets/") else "")
                out.append(Finding(rel, where or f"part {info.filename}", n))
    return _merge(out)


def _merge(findings: list[Finding]) -> list[Finding]:
    """One finding per (path, where), counts added (a workbook's cells are in the shared strings and the sheets)."""
    merged: dict[tuple[str, str], int] = {}
    for f in findings:
        merged[(f.path, f.where)] = merged.get((f.path, f.where), 0) + f.count
    return [Finding(p, w, n) for (p, w), n in merged.items()]


# The stretch of text around a raw match that blanking can touch: hex digits, the decimal point and the dashes an
# RRN may hold. A token, a fraction or an RRN never crosses any other character, so blanking such a stretch alone
# gives what blanking the whole text gives there.
_BLANKING_SPAN = re.compile(r"[0-9A-Fa-f.\-\u2010-\u2015]+")


def count_output_rrns(text: str) -> int:
    """How many RRN-shaped values a text of registry output holds (tokens and decimal fractions blanked), as
    `len(RRN_RE.findall(_OWN_OUTPUT_RE.sub(" ", text)))`. Only the stretches around raw matches are blanked
    (every match after blanking is a raw match, see rrn_sql): a 46 MB worksheet of estimates holds raw matches
    in its fractions, and blanking all of it cost ~2 s."""
    spans = {m.span() for raw in RRN_RE.finditer(text) if (m := _span_at(text, raw.start()))}
    return sum(len(RRN_RE.findall(_OWN_OUTPUT_RE.sub(" ", text[a:b]))) for a, b in spans)


def _span_at(text: str, at: int) -> re.Match[str] | None:
    start = at
    while start > 0 and _BLANKING_SPAN.match(text, start - 1, start):
        start -= 1
    return _BLANKING_SPAN.match(text, start)


def _text_lines_with_rrn(text: str) -> int:
    if not looks_like_rrn(text):
        return 0
    return sum(1 for line in text.splitlines() if output_has_rrn(line))


def xpt_header_texts(path: Path) -> list[str]:
    """The text of a SAS transport (v5) file's header: its 80-byte header records (dataset name and label,
    software, dates) and, per variable, the name, label and formats of its NAMESTR record (140 bytes: name at
    8, label at 16, format at 56, informat at 72). The observations follow the OBS header record."""
    from kocartr.release.xpt import read_header

    with open(path, "rb") as fh:
        head, _ = read_header(fh)
    start = head.find(b"HEADER RECORD*******NAMESTR HEADER RECORD")
    if start < 0:
        raise ValueError(f"{path}: not a SAS transport v5 file (no NAMESTR header record)")
    texts = [head[i : i + 80].decode("latin-1") for i in range(0, start + 80, 80)]
    count = int(head[start + 54 : start + 58])
    for k in range(count):
        rec = head[start + 80 + 140 * k : start + 80 + 140 * (k + 1)]
        texts += [rec[8:16].decode("utf-8", "replace"), rec[16:56].decode("utf-8", "replace")]
        texts += [rec[56:64].decode("latin-1"), rec[72:80].decode("latin-1")]
    return texts


def _scan_texts(rel: str, where: str, texts: Iterable[str]) -> list[Finding]:
    n = sum(1 for t in texts if output_has_rrn(t))
    return [Finding(rel, where, n)] if n else []


def _header_texts(path: Path) -> list[str]:
    """What a derived file of a release adds to its table's values: a Parquet file's column names and metadata,
    a CSV file's header line, an XPT file's header."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        # ARROW:schema is the schema itself, serialised and base64-encoded: its names are checked as names
        meta = {k: v for k, v in (schema.metadata or {}).items() if k != b"ARROW:schema"}
        return list(schema.names) + [b.decode("utf-8", "replace") for kv in meta.items() for b in kv]
    if suffix == ".csv":
        with open(path, "rb") as fh:
            return [fh.readline().decode("utf-8", errors="replace")]
    if suffix == ".xpt":
        return xpt_header_texts(path)
    raise ValueError(f"{path}: not a derived table file")


def scan_file(path: Path, rel: str | None = None) -> list[Finding]:
    """One file: its name, then its content by type (DuckDB, Parquet, XLSX, text, the header of an XPT; other
    files by name only)."""
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
    elif suffix == ".xpt":
        out += _scan_texts(rel, "the dataset header (names, labels)", xpt_header_texts(path))
    elif suffix in TEXT_SUFFIXES:
        n = _text_lines_with_rrn(path.read_bytes().decode("utf-8", errors="replace"))
        if n:
            out.append(Finding(rel, "lines of text", n))
    return out


def scan_path(path: Path, scan_one: Callable[[Path, str], list[Finding]] = scan_file) -> list[Finding]:
    """Scan a file or a whole folder (a release, the query workbooks, a log folder): every file and folder name
    and every file's content as `scan_file` (or `scan_one`, given the file and its path in the folder) reads it.
    Returns the findings (empty = clean); never the values."""
    path = Path(path)
    if path.is_file():
        return scan_one(path, path.name)
    out: list[Finding] = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).as_posix()
        if p.is_dir():
            if output_has_rrn(p.name):
                out.append(Finding(redact(rel) or "", "a folder name"))
        elif p.is_file():
            out += scan_one(p, rel)
    return out


# Folders of a release whose files are written from the release database's tables (kocartr.release.publish and
# .exports): Parquet from the same Arrow rows, CSV by DuckDB's COPY, XPT from the same rows (numbers binary,
# text the same values).
DERIVED_FOLDERS = ("parquet/", "csv/", "xpt/")


def scan_release(path: Path, database: str) -> list[Finding]:
    """The final scan of a built release: `scan_path`, except that the values of the files in DERIVED_FOLDERS are
    checked once, in the release database `database` (every text cell and every number as text), and those files
    only for what they add (their names and headers: column names, labels, the dataset label). Every other file
    (the database, the workbook, the report, the guide, define.xml, the manifest) is scanned whole."""
    path = Path(path)
    if not (path / database).is_file():
        raise FileNotFoundError(f"release database {database} not found in {path}")

    def scan_one(p: Path, rel: str) -> list[Finding]:
        if not rel.startswith(DERIVED_FOLDERS):
            return scan_file(p, rel)
        named = [Finding(redact(rel) or "", "the file name")] if output_has_rrn(rel) else []
        return named + _scan_texts(redact(rel) or "", "the header (names, labels)", _header_texts(p))

    return scan_path(path, scan_one)
