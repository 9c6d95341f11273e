"""Rows spliced into a workbook read back exactly as the same rows written cell by cell by xlsxwriter."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import polars as pl
import pytest
import xlsxwriter

from kocartr.feedback.workbook import _sheet
from kocartr.sheet_rows import can_splice, rows_xml, splice_rows, write_cells

COLS = [("a", "A", 10), ("n", "N", 8), ("b", "B wide", 50)]  # b: wide, so its cells carry the wrap format
TRICKY = [
    "plain",
    "한글 비고, \"인용\" & <tag> 'q'",
    " leading space",
    "trailing tab\t",
    "\u3000ideographic space",
    "line\nbreak",
    "\x7f\x85 not escaped, _X00zz_ and _x00g1_ no escapes",
    "x" * 40000,  # longer than Excel's 32,767: truncated
    "\U0001f600" * 20000,  # emoji count 2 UTF-16 units each: truncated without splitting one
    "",
    None,
]


def _book(frame: pl.DataFrame, splice: bool) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    head = wb.add_format({"bold": True})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    ws = _sheet(wb, "T", COLS, frame, head, wrap, cells=not splice)
    wb.close()
    if not splice:
        return buf.getvalue()
    out = io.BytesIO()
    styles = [wrap.xf_index if w >= 40 else None for _, _, w in COLS]
    part = f"xl/worksheets/sheet{ws.index + 1}.xml"
    splice_rows(buf.getvalue(), out, {part: (frame.width, frame.height, rows_xml(frame, styles))})  # type: ignore[arg-type]
    return out.getvalue()


def _cells(book: bytes) -> tuple[list[tuple], str | None, str]:
    ws = openpyxl.load_workbook(io.BytesIO(book))["T"]
    styles = [[c.alignment.wrap_text for c in row] for row in ws.iter_rows(min_row=2)]
    return [tuple(r) for r in ws.iter_rows(values_only=True)], ws.auto_filter.ref, f"{ws.dimensions} {styles}"


def test_spliced_rows_read_back_as_xlsxwriter_writes_them():
    n = len(TRICKY)
    frame = pl.DataFrame(
        {"a": TRICKY, "n": [i * 1000 if i % 3 else None for i in range(n)], "b": list(reversed(TRICKY))},
        schema={"a": pl.String, "n": pl.Int64, "b": pl.String},
    )
    by_cell, spliced = _book(frame, splice=False), _book(frame, splice=True)
    assert _cells(spliced) == _cells(by_cell)
    values = _cells(spliced)[0]
    assert len(values) == n + 1 and values[1] == ("plain", None, None) and values[2][1] == 1000
    assert len(values[8][0]) == 32767 and len(values[9][0]) == 16383  # truncated as xlsxwriter truncates
    with zipfile.ZipFile(io.BytesIO(spliced)) as z:  # what other readers see: the same text, not a re-encoding
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert '<dimension ref="A1:C12"/>' in xml and 'xml:space="preserve"> leading space' in xml
    assert "&amp; &lt;tag&gt;" in xml and '<c r="C4" s="1" t="inlineStr">' in xml


@pytest.mark.parametrize("value", ["ctrl \x01", "tab \x0b", "\x1f", "\ufffe", "literal _x0041_", "_xBEEF_"])
def test_values_needing_an_escape_are_left_to_xlsxwriter(value):
    frame = pl.DataFrame(
        {"a": ["fine", value], "n": [1, 2], "b": [None, "x"]}, schema={"a": pl.String, "n": pl.Int64, "b": pl.String}
    )
    assert not can_splice(frame) and can_splice(frame.head(1))
    with pytest.raises(ValueError):
        rows_xml(frame, [None, None, None])


def test_rows_xml_refuses_what_it_cannot_write_exactly():
    with pytest.raises(TypeError):
        rows_xml(pl.DataFrame({"x": [True]}), [None])
    for bad in (float("nan"), float("inf")):  # xlsxwriter refuses them too
        assert not can_splice(pl.DataFrame({"x": [1.5, bad]}), shared=True)
        with pytest.raises(ValueError):
            rows_xml(pl.DataFrame({"x": [1.5, bad]}), [None])
    with pytest.raises(ValueError):
        rows_xml(pl.DataFrame({"x": [10**16]}), [None])
    assert rows_xml(pl.DataFrame(schema={"x": pl.String}), [None]) == b""
    nulls = pl.DataFrame({"x": ["a", None], "n": [None, None]}, schema={"x": pl.String, "n": pl.Int64})
    assert rows_xml(nulls.head(1), [None, None]) == b'<row r="2"><c r="A2" t="inlineStr"><is><t>a</t></is></c></row>'
    assert not can_splice(nulls)  # an empty row: xlsxwriter writes none
    with pytest.raises(ValueError):
        rows_xml(nulls, [None, None])


FLOATS = [0.1, 0.1 + 0.2, -0.0, 0.0, 1e-5, 0.000123, 123456789.123456789, 1e20, 2 / 3, 1e16, -7.25, 5.0, None]


def _shared_book(frame: pl.DataFrame, splice: bool) -> bytes:
    """A workbook of three sheets in xlsxwriter's default mode (shared strings): strings on the sheets before and
    after the one whose rows are written cell by cell or spliced."""
    from datetime import datetime

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.set_properties({"created": datetime(2026, 10, 31)})
    before = wb.add_worksheet("Before")
    before.write_string(0, 0, "b")
    before.write_string(1, 0, "shared before")
    ws = wb.add_worksheet("T")
    for j, name in enumerate(frame.columns):
        ws.write_string(0, j, name)
    if not splice:
        write_cells(ws, frame)
    rows = rows_xml(frame, [None] * frame.width, wb.str_table) if splice else b""
    after = wb.add_worksheet("After")
    after.write_string(0, 0, "new after")
    after.write_string(0, 1, "b")
    wb.close()
    if not splice:
        return buf.getvalue()
    out = io.BytesIO()
    splice_rows(buf.getvalue(), out, {"xl/worksheets/sheet2.xml": (frame.width, frame.height, rows)})  # type: ignore[arg-type]
    return out.getvalue()


def test_shared_string_rows_are_the_bytes_xlsxwriter_writes():
    n = 3 * len(FLOATS)  # > 16 rows: several blocks of `spans`, some without a cell in the last columns
    text = [TRICKY[i % len(TRICKY)] for i in range(n)]
    text += ["ctrl \x01", "_x0041_", "b", "shared before"]  # escapes are the shared-string table's business
    frame = pl.DataFrame(
        {
            "a": text,
            "f": [FLOATS[i % len(FLOATS)] for i in range(len(text))],
            "n": [i if i < 20 else None for i in range(len(text))],
            "b": [None if i % 4 else text[-i] for i in range(len(text))],
        },
        schema={"a": pl.String, "f": pl.Float64, "n": pl.Int64, "b": pl.String},
    )
    assert can_splice(frame, shared=True) and not can_splice(frame)
    assert _shared_book(frame, splice=True) == _shared_book(frame, splice=False)
