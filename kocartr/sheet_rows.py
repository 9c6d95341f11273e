"""The data rows of a large worksheet, built column-wise and spliced into the workbook xlsxwriter wrote.

xlsxwriter writes a cell in ~5 us of Python (once when stored, once when serialized): 2 million cells of a month's
query workbooks cost ~11 s, the release workbook's KM and CIF step sheets ~10 s at 100k patients. Here xlsxwriter
writes everything but the data rows (formats, column widths, panes, filters, the header row), and the rows are built
as SpreadsheetML with polars string expressions, a column at a time, then put inside the sheet's <sheetData>. Used
by the site query workbooks (kocartr.feedback.workbook) and the release's HTA workbook (kocartr.release.workbook).

The cells are those xlsxwriter writes for the same values (tests/feedback/test_sheet_rows.py and
tests/release/test_workbook_report.py compare them): strings truncated to 32,767 UTF-16 units; integers, and floats
as xlsxwriter formats them (`%.16G`); a cell in a column that has a format carries the format's style. Two ways
to write the strings, as xlsxwriter's two modes do:

- inline (`strings=None`, the query workbooks): t="inlineStr", as xlsxwriter's constant_memory mode writes them,
  xml:space="preserve" on text that starts or ends with whitespace, &, < and > escaped. A value that Excel would
  need as an _xHHHH_ escape (a control character, U+FFFE/U+FFFF, or text that looks like such an escape) is not
  written here: readers do not all undo those escapes alike in inline strings, so such a sheet is left to
  xlsxwriter, cell by cell (`can_splice`).
- shared (`strings=` the workbook's shared-string table, the release workbook): each string is entered in the
  table in the order xlsxwriter's `write_string` would enter it (row by row, left to right, when the sheet is
  written) and the cell refers to it, and every row carries the `spans` attribute of its block of 16 rows, as
  xlsxwriter's default mode writes: the workbook is byte for byte the one written cell by cell. The table's own
  writer escapes the strings, so no value is refused for its characters.
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


def can_splice(frame: pl.DataFrame, shared: bool = False) -> bool:
    """No row is empty (xlsxwriter writes no row element for it, and the sheet's dimension ends at its last written
    cell), no float is NaN or infinite (xlsxwriter refuses them), and, for inline strings (`shared` False), no
    string needs an _xHHHH_ escape (see the module's note)."""
    if frame.width and frame.select(pl.all_horizontal(pl.all().is_null()).any()).item():
        return False
    floats = [n for n, t in frame.schema.items() if t.is_float()]
    if floats and frame.select(pl.any_horizontal(pl.col(floats).is_nan() | pl.col(floats).is_infinite()).any()).item():
        return False
    return shared or not any(
        frame[n].str.contains(_NEEDS_ESCAPE).any() for n, t in frame.schema.items() if t == pl.String
    )


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


def _number_text(values: pl.Series) -> pl.Series:
    """Numbers as xlsxwriter writes them (`f"{number:.16G}"`): integers as their digits (below 10**15, checked by
    the caller), floats formatted by Python once per distinct value (by bit pattern: -0.0 stays "-0")."""
    import numpy as np

    if values.dtype.is_integer():
        return values.cast(pl.String)
    valid = values.is_not_null()
    bits = values.fill_null(0.0).cast(pl.Float64).to_numpy().view(np.uint64)
    distinct, at = np.unique(bits, return_inverse=True)
    texts = pl.Series([f"{v:.16G}" for v in distinct.view(np.float64).tolist()], dtype=pl.String)
    frame = pl.DataFrame({"text": texts.gather(at.reshape(-1)), "valid": valid})
    return frame.select(pl.when("valid").then("text").alias(values.name)).to_series()


def _cell(name: str, dtype: pl.DataType, letter: str, style: str, shared: bool) -> pl.Expr:
    col, row = pl.col(name), pl.col("_row")
    if dtype != pl.String:  # numbers, already as text (_number_text)
        return pl.concat_str(pl.lit(f'<c r="{letter}'), row, pl.lit(f'"{style}><v>'), col, pl.lit("</v></c>"))
    if shared:  # the string's index in the shared-string table
        return pl.concat_str(pl.lit(f'<c r="{letter}'), row, pl.lit(f'"{style} t="s"><v>'), col, pl.lit("</v></c>"))
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


def _share(frame: pl.DataFrame, names: list[str], table) -> pl.DataFrame:
    """Enter the frame's strings in xlsxwriter's shared-string table `table` as `write_string` would, row by row
    and left to right (a new string gets the next index; every cell counts), and replace them by their indices."""
    cells = frame.select(pl.concat_list(names).alias("s")).explode("s")["s"].drop_nulls()
    distinct = cells.unique(maintain_order=True).to_list()
    index = {text: str(table._get_shared_string_index(text)) for text in distinct}
    table.count += cells.len() - len(distinct)  # the repeats: counted, as each write_string counts
    return frame.with_columns(pl.col(n).replace_strict(index, default=None, return_dtype=pl.String) for n in names)


def _spans(frame: pl.DataFrame) -> pl.Expr:
    """xlsxwriter's `spans` of each data row: the first and last column holding a cell in its block of 16 sheet
    rows (1-based). The header row (sheet row 1, every column) is in the first block."""
    present = [pl.when(pl.col(n).is_not_null()).then(pl.lit(j)) for j, n in enumerate(frame.columns)]
    block = (pl.int_range(1, frame.height + 1) // 16).alias("_block")
    spans = frame.select(block, pl.min_horizontal(present).alias("_lo"), pl.max_horizontal(present).alias("_hi"))
    spans = spans.with_columns(
        pl.when(pl.col("_block") == 0).then(0).otherwise(pl.col("_lo").min().over("_block")).alias("_lo"),
        pl.when(pl.col("_block") == 0).then(frame.width - 1).otherwise(pl.col("_hi").max().over("_block")).alias("_hi"),
    )
    return pl.concat_str(pl.lit(' spans="'), spans["_lo"] + 1, pl.lit(":"), spans["_hi"] + 1, pl.lit('"'))


def rows_xml(frame: pl.DataFrame, styles: list[int | None], strings=None) -> bytes:
    """<row> elements for the frame's rows as sheet rows 2.. (row 1 is the header, over every column), one cell per
    non-null value; `styles` gives each column's cell style (xf index), or None. Columns: strings, integers or
    floats. `strings`: None for inline strings; the workbook's shared-string table (`workbook.str_table`) for
    shared strings, entered in it now (call this when xlsxwriter would write the sheet's cells)."""
    from xlsxwriter.utility import xl_col_to_name

    if frame.is_empty():
        return b""
    if not can_splice(frame, shared=strings is not None):
        raise ValueError("an empty row, NaN, or a value needing an _xHHHH_ escape: write this sheet cell by cell")
    for name, dtype in frame.schema.items():
        if not (dtype == pl.String or dtype.is_integer() or dtype.is_float()):
            raise TypeError(f"column {name}: {dtype} cells are written by xlsxwriter, not here")
        if dtype.is_integer() and (frame[name].abs().max() or 0) >= 10**15:  # type: ignore[operator]
            raise ValueError(f"column {name}: integers this large are not written exactly as numbers")
    strings_at = [n for n, t in frame.schema.items() if t == pl.String]
    types = dict(frame.schema)
    spans = _spans(frame) if strings is not None else pl.lit("")
    frame = frame.with_columns(_text(frame[n]) for n in strings_at)
    frame = frame.with_columns(_number_text(frame[n]) for n in frame.columns if n not in strings_at)
    if strings is not None and strings_at:
        frame = _share(frame, strings_at, strings)
    frame = frame.with_columns(pl.int_range(2, frame.height + 2).cast(pl.String).alias("_row"))
    cells = [
        pl.when(pl.col(n).is_null())
        .then(pl.lit(""))
        .otherwise(
            _cell(n, types[n], xl_col_to_name(j), "" if styles[j] is None else f' s="{styles[j]}"', strings is not None)
        )
        for j, n in enumerate(types)
    ]
    row = pl.concat_str(pl.lit('<row r="'), pl.col("_row"), pl.lit('"'), spans, pl.lit(">"), *cells, pl.lit("</row>"))
    return frame.select(row.str.join("")).item().encode("utf-8")


def write_cells(ws, frame: pl.DataFrame, first_row: int = 1) -> None:
    """The frame's rows written cell by cell through xlsxwriter, what `rows_xml` stands in for: text as text, a
    number as a number without format, None as no cell."""
    for i, row in enumerate(frame.iter_rows(), start=first_row):
        for j, v in enumerate(row):
            if isinstance(v, str):
                ws.write_string(i, j, v)
            elif v is not None:
                ws.write_number(i, j, v)


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
