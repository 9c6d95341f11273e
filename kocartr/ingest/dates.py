"""Vectorized date normalization for the formats hospital exports really use.

Accepted: YYYY-MM-DD, YYYY.MM.DD, YYYY/MM/DD (year first, so unambiguous; 1-2 digit month/day), YYYYMMDD,
Excel serial day numbers (5 digits, 1900 date system), and the same with a midnight time part as spreadsheet
exports write it. Day-first or month-first forms (01/05/2026, 05-01-26) are ambiguous: flagged, never guessed.
"""

from __future__ import annotations

import polars as pl

DATE_EXPECTED = "YYYY-MM-DD (YYYY.MM.DD, YYYYMMDD or an Excel date cell also accepted)"
_EXCEL_EPOCH = pl.date(1899, 12, 30)  # Excel's 1900 system incl. its phantom 1900-02-29
_MIDNIGHT = r"(?:[ T]00:00(?::00(?:\.0+)?)?)?"
_YMD_SEP = rf"^(\d{{4}})[-./](\d{{1,2}})[-./](\d{{1,2}}){_MIDNIGHT}$"
_YMD_COMPACT = r"^(\d{4})(\d{2})(\d{2})$"
_SERIAL = r"^(\d{5})(?:\.0+)?$"
# Two numbers then a year (or a 2-digit year anywhere): the day/month order cannot be known.
_AMBIGUOUS = r"^(?:\d{1,2}[-./ ]\d{1,2}[-./ ]\d{2,4}|\d{2}[-./]\d{1,2}[-./]\d{1,2})" + _MIDNIGHT + "$"


_ISO_4DIGIT = r"^\d{4}-\d{1,2}-\d{1,2}$"


def parse_iso_date(col: pl.Expr) -> pl.Expr:
    """The fast path for YYYY-MM-DD. The year's digit count is checked first: polars' %Y also takes a two-digit
    year ('22-06-05' would become year 0022), and a two-digit year is ambiguous (is_ambiguous_date)."""
    return pl.when(col.str.contains(_ISO_4DIGIT)).then(col.str.to_date("%Y-%m-%d", strict=False))


def _ymd(y: pl.Expr, m: pl.Expr, d: pl.Expr) -> pl.Expr:
    text = pl.concat_str([y, m.str.zfill(2), d.str.zfill(2)], separator="-")
    return text.str.to_date("%Y-%m-%d", strict=False)  # impossible calendar dates (02-30) become null


def parse_date(col: pl.Expr) -> pl.Expr:
    """Stripped string -> Date, null when blank or not one of the accepted formats."""
    sep = col.str.extract_groups(_YMD_SEP)
    compact = col.str.extract_groups(_YMD_COMPACT)
    serial = col.str.extract(_SERIAL, 1).cast(pl.Int32, strict=False)
    return (
        pl.when(sep.struct.field("1").is_not_null())
        .then(_ymd(sep.struct.field("1"), sep.struct.field("2"), sep.struct.field("3")))
        .when(compact.struct.field("1").is_not_null())
        .then(_ymd(compact.struct.field("1"), compact.struct.field("2"), compact.struct.field("3")))
        .when(serial.is_not_null())
        .then(_EXCEL_EPOCH + pl.duration(days=serial))
        .otherwise(None)
        .cast(pl.Date)
    )


def is_ambiguous_date(col: pl.Expr) -> pl.Expr:
    return col.str.contains(_AMBIGUOUS)
