"""Reading one submitted file into string frames, one per form, with spreadsheet row numbers.

Every cell stays a string here (typing is validation's job), so nothing a site wrote is lost or reinterpreted
before it is checked. Failures raise FileReject with a reason code and a detail that never echoes cell content
(parser error messages do, so they are never passed on).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import polars as pl

from kocartr.dictionary import Dictionary
from kocartr.privacy import RRN_RE, looks_like_rrn

ROW = "_source_row"
ITEM = "_item"
BAD_COLS = "_column_count_bad"
_BOM = b"\xef\xbb\xbf"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class FileReject(Exception):
    def __init__(self, reason: str, detail: str = "", form: str | None = None):
        super().__init__(reason)
        self.reason, self.detail, self.form = reason, detail, form


@dataclass(frozen=True)
class DeferredCsv:
    """A well-formed CSV whose parse is postponed so that many files are parsed in one polars call (per-call
    overhead dominates for thousands of small files)."""

    data: bytes  # UTF-8, header included
    sep: str
    width: int
    records: int  # header included


@dataclass
class SheetData:
    form: str
    frame: pl.DataFrame | None  # named columns (String), ROW, BAD_COLS when rows can be ragged; None if deferred
    sheet: str | None = None
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    deferred: DeferredCsv | None = None
    names: list[str] = field(default_factory=list)  # column names in file order (after renaming)


@dataclass
class FileRead:
    file_format: str
    encoding: str
    sheets: list[SheetData]
    rejects: list[FileReject] = field(default_factory=list)  # e.g. one unknown sheet in an otherwise good workbook


# ---------------------------------------------------------------- encoding


def detect_encoding(data: bytes) -> str:
    """'utf-8-sig', 'utf-8' or 'cp949' (a superset of EUC-KR), decided from the bytes alone."""
    return _detect(data)[0]


def _detect(data: bytes) -> tuple[str, str]:
    """detect_encoding, and the text its decision decoded (so that no file is decoded twice): screened for
    control characters, except plain UTF-8's (read_csv_bytes screens it)."""
    if not data.strip() or data.strip() == _BOM:
        raise FileReject("empty")
    if b"\x00" in data[:65536]:
        raise FileReject("binary")  # also UTF-16 exports: sites are asked for UTF-8/CP949 CSV or XLSX
    if data.startswith(_BOM):
        return "utf-8-sig", _decode_or_reject(data[3:], "utf-8")
    try:
        return "utf-8", data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data":
            raise FileReject("truncated") from None  # cut inside a multi-byte character
    return "cp949", _decode_or_reject(data, "cp949")


def _decode_or_reject(data: bytes, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        if e.end >= len(data) - 1 and encoding == "cp949" and e.start >= len(data) - 1:
            raise FileReject("truncated") from None
        raise FileReject("unknown_encoding") from None
    return _screen_controls(text)


def _screen_controls(text: str) -> str:
    """Reject a text with control characters near its start (a binary file that happens to decode)."""
    if len(_CONTROL.findall(text, 0, 4096)) > 4:
        raise FileReject("binary")
    return text


# ---------------------------------------------------------------- CSV


def _sniff_separator(header_line: str) -> str:
    counts = {sep: header_line.count(sep) for sep in (",", "\t", ";")}
    return max(counts, key=lambda s: (counts[s], s == ","))


def _with_row_numbers(frame: pl.DataFrame, bad: pl.Series | None) -> pl.DataFrame:
    # Spreadsheet rows: header is row 1, first data row is row 2.
    return frame.with_columns(
        pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias(ROW),
        pl.lit(False).alias(BAD_COLS) if bad is None else bad.alias(BAD_COLS),
    )


_QUOTED = re.compile(r'"(?:[^"]|"")*"')


def parse_csv(
    text: str, defer: bool = False, utf8: bytes | None = None
) -> tuple[list[str], pl.DataFrame | DeferredCsv]:
    """Header names (as written) and a positional all-string frame (columns c0..cN) with row numbers, or,
    with `defer`, a DeferredCsv when the file is well-formed and its header needs no CSV parsing. `utf8`: the
    text's UTF-8 encoding, when the caller has it."""
    stripped = text.lstrip("\ufeff")
    if len(stripped) != len(text):
        utf8 = None  # the bytes still hold the marks stripped here
    text = stripped
    end = text.find("\n")
    first_line = text if end < 0 else text[:end]
    sep = _sniff_separator(first_line)
    # Field counts per record, vectorized: drop quoted sections (they may hold separators and line breaks),
    # then every physical line is one record and its separators can be counted.
    skeleton = _QUOTED.sub("", text) if '"' in text else text
    if '"' not in skeleton:
        # counted in the UTF-8 bytes when there are (the same counts: no ASCII byte occurs inside a multi-byte
        # character), by numpy: several times faster than str.count over Korean text
        whole = np.frombuffer(utf8, dtype=np.uint8) if utf8 is not None and skeleton is text else None
        n_lines = (_count(whole, "\n") if whole is not None else skeleton.count("\n")) + (
            0 if skeleton.endswith("\n") else 1
        )
        header_width = first_line.count(sep) + 1 if '"' not in first_line else skeleton.split("\n", 1)[0].count(sep) + 1
        # Cheap whole-file check first: if the separator total fits and polars (which raises on long rows)
        # parses the same number of records, every record has exactly the header's width.
        separators = _count(whole, sep) if whole is not None else skeleton.count(sep)
        if separators == (header_width - 1) * n_lines:
            if defer and '"' not in first_line:
                data = utf8 if utf8 is not None else text.encode("utf-8")
                return first_line.rstrip("\r").split(sep), DeferredCsv(data, sep, header_width, n_lines)
            parsed = _polars_csv(text, sep, header_width, n_lines)
            if parsed is not None:
                return parsed
        lines = pl.Series(skeleton.split("\n")).str.strip_suffix("\r")
        if lines.len() and lines[-1] == "":
            lines = lines.head(lines.len() - 1)
        body = lines.slice(1)
        counts = body.str.count_matches(sep, literal=True) + 1
        blank = body.str.strip_chars() == ""
        if not text.endswith("\n") and body.len() and counts[-1] < header_width:
            raise FileReject("truncated")
        bad = (counts != header_width) & ~blank
        if not bad.any():
            parsed = _polars_csv(text, sep, header_width, body.len() + 1)
            if parsed is not None:
                return parsed
    return _parse_csv_python(text, sep)


def _count(data: np.ndarray, char: str) -> int:
    """Occurrences of the ASCII `char` in UTF-8 bytes."""
    return int(np.count_nonzero(data == ord(char)))


def _polars_csv(text: str, sep: str, width: int, records: int) -> tuple[list[str], pl.DataFrame] | None:
    try:
        # Header read as record 1, so the row index is the spreadsheet row number directly.
        frame = pl.read_csv(
            text.encode("utf-8"),
            infer_schema=False,
            separator=sep,
            has_header=False,
            new_columns=[f"c{i}" for i in range(width)],
            row_index_name=ROW,
            row_index_offset=1,
        )
    except Exception:  # never surfaced: polars messages quote cell content
        return None
    if frame.height != records or frame.width != width + 1:
        return None
    header = ["" if v is None else v for v in frame.select(pl.exclude(ROW)).row(0)]
    return header, frame.slice(1)  # BAD_COLS absent means every record has the header's width


def read_deferred(items: list[DeferredCsv]) -> tuple[pl.DataFrame, dict[int, FileReject]]:
    """Parse many deferred CSVs of the same width and separator in as few polars calls as possible. Returns one
    frame (c0..cN, ROW, BAD_COLS, ITEM = index of the file in `items`, rows in item order) and the files that
    turned out unreadable. Files without a quote character that end with a line break are parsed as one buffer
    (their concatenation parses as their parses concatenated: nothing can span a file); the others in one polars
    call over the list, which costs ~0.1 ms per file. Either falls back to one parse per file if it does not
    parse cleanly."""
    joins = [i.data.endswith(b"\n") and b'"' not in i.data for i in items]  # each file's bytes scanned once
    joinable = [n for n, j in enumerate(joins) if j]
    rest = [n for n, j in enumerate(joins) if not j]
    parts, bad = [], {}
    for numbers, joined in ((joinable, True), (rest, False)):
        if numbers:
            frame, unreadable = _parse_items(items, numbers, joined)
            parts.append(frame)
            bad.update(unreadable)
    frame = parts[0] if len(parts) == 1 else pl.concat(parts).sort(ITEM, ROW)
    return frame, bad


def _records_frame(source: bytes | list[bytes], sep: str, width: int) -> pl.DataFrame:
    """The one parse of deferred CSV records (read_deferred, read_deferred_rows): every record, header included,
    as strings c0..cN (an empty field is null)."""
    return pl.read_csv(
        source, infer_schema=False, separator=sep, has_header=False, new_columns=[f"c{i}" for i in range(width)]
    )


def record_lines(item: DeferredCsv) -> np.ndarray | None:
    """Byte offset of the end of each line of the CSV (its line feed, or the end of the data), header included,
    when each line is one record that parses alone as it parses in the whole file: no quote character (nothing
    spans lines), no line break but LF or CRLF, and exactly the header's width on every line (so the whole file's
    parse neither raises nor falls back). None otherwise: read the file whole."""
    data, width = item.data, item.width
    if width < 2 or b'"' in data or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
        return None
    a = np.frombuffer(data, dtype=np.uint8)
    at = np.flatnonzero((a == 10) | (a == ord(item.sep)))  # every separator and line feed, in order
    lf = a[at] == 10
    if not data.endswith(b"\n"):
        at, lf = np.append(at, len(data)), np.append(lf, True)
    if len(lf) != item.records * width:
        return None
    grid = lf.reshape(item.records, width)  # a line: width - 1 separators, then its end
    return at[width - 1 :: width] if grid[:, -1].all() and not grid[:, :-1].any() else None


def read_deferred_rows(items: list[DeferredCsv], rows: list[set[int]]) -> tuple[pl.DataFrame, list[int]]:
    """read_deferred's rows at the asked spreadsheet rows (`rows[n]` of `items[n]`; header = row 1) without parsing
    the others: the files whose lines are records (record_lines) have only those lines parsed, in one call. Returns
    that frame (c0..cN, ROW, ITEM, in item and row order; an asked row the file does not have is absent, as in
    read_deferred) and the indices of the files it could not cut, for read_deferred."""
    width, sep = items[0].width, items[0].sep
    # a first line of empty fields, dropped after the parse: no asked line sits at the start of the buffer, where
    # a parser may treat a byte order mark or a blank line specially
    whole, lines, item, row = [], [(sep * (width - 1) + "\n").encode()], [], []
    for n, (i, asked) in enumerate(zip(items, rows)):
        ends = record_lines(i)
        if ends is None:
            whole.append(n)
            continue
        for r in sorted(r for r in asked if 2 <= r <= i.records):  # row r is line r - 1
            lines.append(i.data[ends[r - 2] + 1 : ends[r - 1]] + b"\n")
            item.append(n)
            row.append(r)
    schema = {**{f"c{k}": pl.String for k in range(width)}, ROW: pl.Int64, ITEM: pl.Int64}
    if not item:
        return pl.DataFrame(schema=schema), whole
    frame = _records_frame(b"".join(lines), sep, width)
    if frame.height != len(lines) or frame.width != width:  # not expected (see record_lines): read them whole
        return pl.DataFrame(schema=schema), sorted(whole + sorted(set(item)))
    return frame.slice(1).with_columns(
        pl.Series(ROW, row, dtype=pl.Int64), pl.Series(ITEM, item, dtype=pl.Int64)
    ), whole


def _parse_items(
    items: list[DeferredCsv], numbers: list[int], joined: bool
) -> tuple[pl.DataFrame, dict[int, FileReject]]:
    """read_deferred of the items at `numbers`: one polars call (over their joined bytes, or over the list), else
    one parse per file; ITEM holds each row's index in `items`."""
    width, sep = items[0].width, items[0].sep
    chosen = [items[n] for n in numbers]
    records = np.array([i.records for i in chosen], dtype=np.int64)
    try:
        big = _records_frame(b"".join(i.data for i in chosen) if joined else [i.data for i in chosen], sep, width)
        ok = big.height == int(records.sum()) and big.width == width
    except Exception:  # e.g. a long row hidden by a short one: sort it out file by file
        ok = False
    if ok:
        item = np.repeat(np.array(numbers, dtype=np.int64), records)
        row = np.arange(big.height) - np.repeat(np.cumsum(records) - records, records) + 1  # header = row 1
        frame = big.with_columns(pl.Series(ROW, row), pl.lit(False).alias(BAD_COLS), pl.Series(ITEM, item))
        return frame.filter(pl.col(ROW) > 1), {}
    parts, bad = [], {}
    for n in numbers:
        try:
            part = cast(pl.DataFrame, parse_csv(items[n].data.decode("utf-8"))[1])  # not deferred: always parsed
        except FileReject as r:
            bad[n] = r
            continue
        parts.append(
            part.select(
                *[f"c{k}" for k in range(width)],
                pl.col(ROW).cast(pl.Int64),
                pl.col(BAD_COLS) if BAD_COLS in part.columns else pl.lit(False).alias(BAD_COLS),
                pl.lit(n, dtype=pl.Int64).alias(ITEM),
            )
        )
    empty = pl.DataFrame(
        schema={**{f"c{k}": pl.String for k in range(width)}, ROW: pl.Int64, BAD_COLS: pl.Boolean, ITEM: pl.Int64}
    )
    return (pl.concat(parts) if parts else empty), bad


def _parse_csv_python(text: str, sep: str) -> tuple[list[str], pl.DataFrame]:
    """Exact path (C csv module): quoted fields, embedded line breaks, ragged rows."""
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True))
    except csv.Error:
        raise FileReject("truncated" if text.count('"') % 2 else "malformed_csv") from None
    if not records:
        raise FileReject("empty")
    header, rows = records[0], records[1:]
    width = len(header)
    if rows and not text.endswith(("\n", "\r")) and 0 < len(rows[-1]) < width:
        raise FileReject("truncated")
    bad = [len(r) != width and len(r) > 0 for r in rows]
    padded = [(r + [""] * width)[:width] if len(r) != width else r for r in rows]
    cols = {f"c{i}": [r[i] if r[i] != "" else None for r in padded] for i in range(width)}
    frame = pl.DataFrame(cols, schema={c: pl.String for c in cols})
    return header, _with_row_numbers(frame, pl.Series(BAD_COLS, bad, dtype=pl.Boolean))


def read_csv_bytes(data: bytes, defer: bool = False) -> tuple[str, list[str], pl.DataFrame | DeferredCsv]:
    encoding, text = _detect(data)
    if encoding == "utf-8":
        _screen_controls(text)
    utf8 = {"utf-8": data, "utf-8-sig": data[3:]}.get(encoding)  # the text's bytes already: not encoded again
    header, frame = parse_csv(text, defer, utf8)
    return encoding, header, frame


# ---------------------------------------------------------------- XLSX


def read_xlsx_bytes(data: bytes) -> list[tuple[str, list[str] | None, pl.DataFrame | None]]:
    """(sheet name, header, positional frame) per sheet; header None for an empty sheet."""
    import fastexcel

    if not data.startswith(b"PK\x03\x04"):
        raise FileReject("unreadable_xlsx" if data.strip() else "empty")
    try:
        book = fastexcel.read_excel(data)
        out: list[tuple[str, list[str] | None, pl.DataFrame | None]] = []
        for name in book.sheet_names:
            raw = book.load_sheet(name, header_row=None, dtypes="string").to_polars()
            if raw.height == 0 or raw.width == 0:
                out.append((name, None, None))
                continue
            header = ["" if v is None else str(v) for v in raw.row(0)]
            frame = raw.slice(1)
            frame.columns = [f"c{i}" for i in range(frame.width)]
            out.append((name, header, _with_row_numbers(frame, None)))
        return out
    except FileReject:
        raise
    except Exception:
        raise FileReject("unreadable_xlsx") from None


# ---------------------------------------------------------------- conforming to a form


def normalize_header(name: str) -> str:
    """Header matching forgives case and surrounding spaces (and a stray BOM)."""
    return name.replace("\ufeff", "").strip().lower()


def form_of_name(name: str, d: Dictionary) -> str | None:
    n = normalize_header(name)
    return n if n in d.forms else None


def conform(
    header: list[str], frame: pl.DataFrame | DeferredCsv, form: str, d: Dictionary, sheet: str | None = None
) -> SheetData:
    """Check the header against the form; name known columns, keep unknown ones under private names (so they can
    still be screened for RRNs). Missing optional columns are added when the form's files are concatenated."""
    # One search over the joined header first (no RRN spans a line break); the columns only when it finds one.
    if RRN_RE.search("\n".join(header)) is not None:
        rrn_columns = [str(i + 1) for i, h in enumerate(header) if looks_like_rrn(h)]
        # the whole file: a header is written into the ledger and messages, and may label RRNs
        raise FileReject("direct_identifier", f"column header (column {', '.join(rrn_columns)})", form)
    names = [normalize_header(h) for h in header]
    named = [n for n in names if n]
    if len(set(named)) != len(named):
        dups = sorted(n for n, count in Counter(named).items() if count > 1)
        raise FileReject("duplicate_columns", ", ".join(dups), form)
    expected = d.columns(form)
    given, known = set(names), set(expected)
    missing = [c for c in expected if c not in given]
    required = {f.name for f in d.all_fields(form) if f.required} if missing else set()
    missing_required = [c for c in missing if c in required]
    if missing_required:
        raise FileReject("missing_columns", ", ".join(missing_required), form)
    unknown = [h.strip() or f"(column {i + 1})" for i, (h, n) in enumerate(zip(header, names)) if n not in known]
    rename = {f"c{i}": (n if n in known else f"_unknown_{i}") for i, n in enumerate(names)}
    if isinstance(frame, DeferredCsv):
        return SheetData(form, None, sheet, unknown, missing, deferred=frame, names=list(rename.values()))
    return SheetData(form, frame.rename(rename), sheet, unknown, missing, names=list(rename.values()))


def read_file(name: str, data: bytes, d: Dictionary, defer: bool = False) -> FileRead:
    """Read one submitted file (name = its file name) into per-form frames, or raise FileReject. With `defer`,
    a well-formed CSV without unknown columns comes back unparsed (SheetData.deferred), see read_deferred."""
    lower = name.lower()
    stem = name.rsplit(".", 1)[0] if "." in name else name
    form_names = ", ".join(sorted(d.forms))
    if lower.endswith(".csv"):
        form = form_of_name(stem, d)
        if form is None:
            raise FileReject("unknown_form", form_names)
        encoding, header, frame = read_csv_bytes(data, defer)
        sheet = conform(header, frame, form, d)
        if sheet.deferred is not None and sheet.unknown_columns:  # unknown columns need screening now
            parsed, bad = read_deferred([sheet.deferred])
            if bad:
                raise bad[0]
            sheet = conform(header, parsed.drop(ITEM), form, d)
        return FileRead("csv", encoding, [sheet])
    if lower.endswith(".xlsx"):
        sheets = read_xlsx_bytes(data)
        if any(looks_like_rrn(s[0]) for s in sheets):
            raise FileReject("direct_identifier", "sheet name")
        file_form = form_of_name(stem, d)
        result = FileRead("xlsx", "xlsx", [])
        if file_form is not None:
            # One workbook per form: the sheet named after the form, else the first sheet.
            chosen = next((s for s in sheets if form_of_name(s[0], d) == file_form), sheets[0] if sheets else None)
            if chosen is None or chosen[1] is None or chosen[2] is None:
                raise FileReject("empty", form=file_form)
            result.sheets.append(conform(chosen[1], chosen[2], file_form, d, chosen[0]))
            return result
        for sheet_name, sheet_header, sheet_frame in sheets:
            form = form_of_name(sheet_name, d)
            if sheet_header is None or sheet_frame is None:
                continue  # an empty sheet holds nothing to lose
            if form is None:
                result.rejects.append(FileReject("unknown_form", f"sheet '{sheet_name}'; forms: {form_names}"))
                continue
            try:
                result.sheets.append(conform(sheet_header, sheet_frame, form, d, sheet_name))
            except FileReject as r:
                r.detail = f"sheet '{sheet_name}': {r.detail}"
                result.rejects.append(r)
        if not result.sheets and not result.rejects:
            raise FileReject("empty")
        return result
    raise FileReject("unsupported_format", ".csv, .xlsx")
