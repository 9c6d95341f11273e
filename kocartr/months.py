"""Registry months (YYYY-MM) and their data cut-offs."""

from __future__ import annotations

import calendar
import re
from datetime import date

# A registry month: YYYY-MM in this century (submission folders and every --month argument).
_MONTH = re.compile(r"^(20\d{2})-(0[1-9]|1[0-2])$")


def is_month(text: str) -> bool:
    return _MONTH.match(text) is not None


def parse_month(month: str) -> tuple[int, int]:
    m = _MONTH.match(month)
    if not m:
        raise ValueError(f"not a registry month (YYYY-MM): {month!r}")
    return int(m.group(1)), int(m.group(2))


def month_end(month: str) -> date:
    """The data cut-off of a registry month: its last calendar day."""
    year, mon = parse_month(month)
    return date(year, mon, calendar.monthrange(year, mon)[1])


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def next_month(month: str) -> str:
    year, mon = parse_month(month)
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"
