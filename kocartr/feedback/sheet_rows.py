"""The data rows of a large worksheet, built column-wise and spliced into the workbook xlsxwriter wrote.

xlsxwriter writes a cell in ~5 us of Python (once when stored, once when serialized): 2 million cells of a month's
query workbooks cost ~11 s. Here xlsxwriter writes everything but the data rows (formats, column widths, panes,
filters, the header row), and the rows are built as SpreadsheetML with polars string expressions, a column at a time,
then put inside the sheet's <sheetData>.

The cells are those xlsxwriter writes for the same values (tests/feedback/test_sheet_rows.py compares them):
strings truncated to 32,767 UTF-16 units, xml:space="preserve" on text that starts or ends with whitespace, &, <
and > escaped; integers as numbers; a cell in a column that has a format carries the format's style. Strings are
written inline (t="inlineStr", as xlsxwriter does in its constant_memory mode) rather than through the
shared-string table. A value that Excel would need as an _xHHHH_ escape (a control character, U+FFFE/U+FFFF, or
text that looks like such an escape) is not written here: readers do not all undo those escapes alike in inline
strings, so such a sheet is left to xlsxwriter, cell by cell (`can_splice`).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import polars as pl

_STRMAX = 32767  # Excel's longest string, in UTF-16 units
_NEEDS_ESCAPE = r"[\x00-\x08\x0B-\x1F\x{FFFE}\x{FFFF}]|_x[0-9a-fA-F]{4}_"
# Python's \s (str.isspace), which xlsxwriter's whitespace test uses, as an explicit class for polars' regex.
_SPACE = "[" + "".join(f"\\x{{{ord(c):X}}}" for c in map(chr, range(0x3001)) if c.isspace()) + "]"


def can_splice(frame: pl.DataFrame) -> bool:
    """No string of the frame needs an _xHHHH_ escape (see the module's note), and no row is empty (xlsxwriter
    writes no row element for it, and the sheet's dimension ends at its last written cell)."""
    if frame.width and frame.select(pl.all_horizontal(pl.all().is_null()).any()).item():
        return False
    return not any(frame[n].str.contains(_NEEDS_ESCAPE).any() for n, t in frame.schema.items() if t == pl.String)


def _truncated(text: str) -> str:
    """xlsxwriter's truncation of a string to Excel's limit, without splitting a character above U+FFFF."""
    length = 0
    for i, ch in enumerate(text):
        length += 2 if ord(ch) > 0xFFFF else 1
        if length > _STRMAX:
            return text[:i]
    return text


def _text(values: pl.Series) -> pl.Series:
    """Strings as xlsxwriter stores them: the few that may be too long truncated."""
    long = (values.str.len_chars() > _STRMAX // 2).fill_null(False)
    if not long.any():
        return values
    at = long.arg_true()
    return values.scatter(at, [_truncated(v) for v in values.gather(at).to_list()])


def _cell(name: str, dtype: pl.DataType, letter: str, style: str) -> pl.Expr:
    col, row = pl.col(name), pl.col("_row")
    if dtype.is_integer():
        return pl.concat_str(
            pl.lit(f'<c r="{letter}'), row, pl.lit(f'"{style}><v>'), col.cast(pl.String), pl.lit("</v></c>")
        )
    escaped = col.str.replace_all("&", "&amp;", literal=True).str.replace_all("<", "&lt;", literal=True)
    escaped = escaped.str.replace_all(">", "&gt;", literal=True)
    preserve = pl.when(col.str.contains(f"^{_SPACE}|{_SPACE}$")).then(pl.lit(' xml:space="preserve"'))
    return pl.concat_str(
        pl.lit(f'<c r="{letter}'),
        row,
        pl.lit(f'"{style} t="inlineStr"><is><t'),
        preserve.otherwise(pl.lit("")),
        pl.lit(">"),
        escaped,
        pl.lit("</t></is></c>"),
    )


def rows_xml(frame: pl.DataFrame, styles: list[int | None]) -> bytes:
    """<row> elements for the frame's rows as sheet rows 2.. (row 1 is the header), one cell per non-null value;
    `styles` gives each column's cell style (xf index), or None. Columns: strings or integers."""
    from xlsxwriter.utility import xl_col_to_name

    if frame.is_empty():
        return b""
    if not can_splice(frame):
        raise ValueError("an empty row, or a value needing an _xHHHH_ escape: write this sheet cell by cell")
    for name, dtype in frame.schema.items():
        if not (dtype == pl.String or dtype.is_integer()):
            raise TypeError(f"column {name}: {dtype} cells are written by xlsxwriter, not here")
        if dtype.is_integer() and (frame[name].abs().max() or 0) >= 10**15:  # type: ignore[operator]
            raise ValueError(f"column {name}: integers this large are not written exactly as numbers")
    strings = [n for n, t in frame.schema.items() if t == pl.String]
    frame = frame.with_columns(_text(frame[n]) for n in strings).with_columns(
        pl.int_range(2, frame.height + 2).cast(pl.String).alias("_row")
    )
    cells = [
        pl.when(pl.col(n).is_null())
        .then(pl.lit(""))
        .otherwise(_cell(n, t, xl_col_to_name(j), "" if styles[j] is None else f' s="{styles[j]}"'))
        for j, (n, t) in enumerate(frame.drop("_row").schema.items())
    ]
    row = pl.concat_str(pl.lit('<row r="'), pl.col("_row"), pl.lit('">'), *cells, pl.lit("</row>"))
    return frame.select(row.str.join("")).item().encode("utf-8")


def splice_rows(book: bytes, out: Path, rows: dict[str, tuple[int, int, bytes]]) -> None:
    """Write the workbook `book` (xlsxwriter's bytes, each sheet of `rows` holding its header row only) to `out`
    with the rows added: part name -> (columns, data rows, rows_xml). The sheet's dimension grows to match."""
    from xlsxwriter.utility import xl_col_to_name

    with zipfile.ZipFile(io.BytesIO(book)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename in rows:
                width, height, body = rows[info.filename]
                last = xl_col_to_name(width - 1)
                header_only = (f'<dimension ref="A1:{last}1"/>' if width > 1 else '<dimension ref="A1"/>').encode()
                if data.count(header_only) != 1 or data.count(b"</sheetData>") != 1:
                    raise ValueError(f"{info.filename}: not a sheet holding only its header row")
                data = data.replace(header_only, f'<dimension ref="A1:{last}{height + 1}"/>'.encode())
                data = data.replace(b"</sheetData>", body + b"</sheetData>")
            dst.writestr(info, data)
