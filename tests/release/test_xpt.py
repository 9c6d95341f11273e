"""The column-wise XPT writer (kocartr.release.xpt) writes the bytes pyreadstat writes, value for value."""

from __future__ import annotations

from datetime import date

import polars as pl
import pyreadstat
import pytest

from kocartr.release import xpt

OPTIONS = {
    "file_label": "A dataset",
    "table_name": "T",
    "column_labels": {"TXT": "Text", "NUM": "Number", "DT": "Date", "EMPTY": "Never filled"},
    "variable_format": {"DT": "DATE9."},
}
NUMBERS = [0.0, -0.0, 1.0, -1.0, 0.1, -2.5, 1 / 3, 3653.0, 1e-300, 5e-324, 1e300, -1e300, float("inf"), None]
NUMBERS += [7601011234567.0, 2.0**-260, 16.0**63, 16.0**-65, 123456.789, -0.000123]


def _frame(n: int) -> pl.DataFrame:
    texts = ["", "a", "지연 진입", None, "x" * 200, "trailing  ", " leading", "S01-P00011-AE1"]
    dates = [date(2026, 10, 31), date(1959, 12, 31), date(1960, 1, 1), None, date(1900, 1, 1)]
    return pl.DataFrame(
        {
            "TXT": pl.Series([texts[i % len(texts)] for i in range(n)], dtype=pl.String),
            "NUM": pl.Series([NUMBERS[i % len(NUMBERS)] for i in range(n)], dtype=pl.Float64),
            "DT": pl.Series([dates[i % len(dates)] for i in range(n)], dtype=pl.Date),
            "EMPTY": pl.Series([None] * n, dtype=pl.String),
        }
    )


@pytest.mark.parametrize("n", [0, 1, 3, 41, 1000])
def test_same_bytes_as_pyreadstat(tmp_path, monkeypatch, n):
    monkeypatch.setattr(xpt, "_ROWS_PER_CHUNK", 7)  # several chunks, one partial
    frame = _frame(n)
    pyreadstat.write_xport(frame, str(tmp_path / "ref.xpt"), file_format_version=5, **OPTIONS)
    xpt.write_xport(frame, tmp_path / "fast.xpt", **OPTIONS)
    assert (tmp_path / "fast.xpt").read_bytes() == (tmp_path / "ref.xpt").read_bytes()


def test_ibm_doubles_read_back():
    import numpy as np

    frame = pl.DataFrame({"NUM": pl.Series([v for v in NUMBERS if v is not None], dtype=pl.Float64)})
    assert xpt.ibm_doubles(frame["NUM"].to_numpy()).shape == (len(frame), 8)
    one = xpt.ibm_doubles(np.array([1.0, -1.0, 0.0]))
    assert one.tolist() == [[0x41, 0x10, 0, 0, 0, 0, 0, 0], [0xC1, 0x10, 0, 0, 0, 0, 0, 0], [0] * 8]  # TS-140


def test_other_column_types_are_refused(tmp_path):
    with pytest.raises(TypeError):
        xpt.write_xport(pl.DataFrame({"B": [True]}), tmp_path / "b.xpt", table_name="B")
