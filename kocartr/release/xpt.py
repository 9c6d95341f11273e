"""SAS transport v5 (XPT) observations written column-wise, the bytes pyreadstat (ReadStat) writes, without its
per-value loop.

pyreadstat inserts every value of every row through Python (~0.3 us each: 14 s of the 100k release for ~45 M
values). Here the header records still come from pyreadstat (names, labels, formats, lengths: it writes them for
a one-row stand-in with the same columns and lengths), and the observations are built with numpy: a row is the
variables side by side, a number 8 bytes of IBM hexadecimal floating point (SAS TS-140, as ReadStat's
`ieee2xpt` converts it: truncated, never rounded), a missing number 0x2E then zeros, a text value its UTF-8
bytes padded with blanks to the variable's length; the last 80-byte record is padded with blanks. Releases
compare the result byte for byte with pyreadstat's (tests/release/test_exports.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

RECORD = 80
OBS_MARKER = b"HEADER RECORD*******OBS     HEADER RECORD"
_OBS_HEADER = OBS_MARKER + b"!!!!!!!000000000000000000000000000000  "
_ROWS_PER_CHUNK = 100_000  # ~40 MB of rows at a time for the widest table


def read_header(fh: IO[bytes], limit: int = 1 << 26) -> tuple[bytes, int]:
    """The first bytes of an open XPT file, through at least its OBS header record (read on in growing steps from
    64 KiB, a header of thousands of variables being longer, up to `limit` bytes or the end of the file), and the
    record's offset: -1 when there is none (a file cut short, or not XPT)."""
    fh.seek(0)
    head = fh.read(1 << 16)
    while (at := head.find(OBS_MARKER)) < 0 and len(head) < limit:
        more = fh.read(len(head) * 3)
        if not more:
            break
        head += more
    return head, at


def ibm_doubles(values: np.ndarray) -> np.ndarray:
    """IEEE doubles -> IBM hexadecimal doubles (n x 8 bytes, big-endian), as ReadStat's ieee2xpt: the IEEE
    fraction with its implied bit, shifted left by (exponent mod 4), under the exponent / 4 + 65 (excess 64, one
    up for the fraction's position); exponents below -260 give 0, above 248 the largest magnitude."""
    import numpy as np

    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    ieee1, ieee2 = bits >> np.uint64(32), bits & np.uint64(0xFFFFFFFF)
    exp = (((ieee1 >> np.uint64(16)) & np.uint64(0x7FF0)) >> np.uint64(4)).astype(np.int64) - 1023
    shift = (exp & 3).astype(np.uint64)
    x1 = (ieee1 & np.uint64(0x000FFFFF)) | np.uint64(0x00100000)
    x1 = (x1 << shift) | (((ieee2 >> np.uint64(24)) & np.uint64(0xE0)) >> (np.uint64(8) - shift))
    x2 = (ieee2 << shift) & np.uint64(0xFFFFFFFF)
    sign = (ieee1 >> np.uint64(24)) & np.uint64(0x80)
    x1 |= (((exp >> 2) + 65).clip(0, 127).astype(np.uint64) | sign) << np.uint64(24)
    x1 &= np.uint64(0xFFFFFFFF)
    out = ((x1 << np.uint64(32)) | x2).astype(">u8")
    zero = ((ieee1 == 0) & (ieee2 == 0)) | (exp < -260)
    out[zero] = 0
    big = exp > 248
    out[big] = ((np.uint64(0x7F) | sign[big]) << np.uint64(56)) | np.uint64(0x00FFFFFFFFFFFFFF)
    return out.view(np.uint8).reshape(-1, 8)


def _widths(frame: pl.DataFrame) -> list[int]:
    """The XPT width of each column: 8 for a number or date, else the longest UTF-8 value (at least 1), as
    pyreadstat measures it."""
    import polars as pl

    out = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            longest = frame[name].str.len_bytes().max()
            out.append(int(longest) if isinstance(longest, int) and longest > 1 else 1)
        elif dtype in (pl.Float64, pl.Date):
            out.append(8)
        else:
            raise TypeError(f"{name}: {dtype} (an XPT frame holds text, doubles and dates)")
    return out


def _header(frame: pl.DataFrame, widths: list[int], path: Path, **options: Any) -> bytes:
    """The header records pyreadstat writes for `frame` (through the OBS header record): written for a one-row
    stand-in with the same columns, types and lengths (a header does not depend on the rows)."""
    from datetime import date

    import polars as pl
    import pyreadstat

    stand_in = pl.DataFrame(
        [
            pl.Series(name, ["x" * w] if dtype == pl.String else [date(1970, 1, 1)] if dtype == pl.Date else [0.0])
            for (name, dtype), w in zip(frame.schema.items(), widths, strict=True)
        ]
    )
    pyreadstat.write_xport(stand_in, str(path), file_format_version=5, **options)
    with open(path, "rb") as fh:
        data, end = read_header(fh)
    if end < 0:  # pragma: no cover - pyreadstat always writes the OBS header record
        raise ValueError(f"{path}: no OBS header record")
    return data[: end + RECORD]


def _rows(chunk: pl.DataFrame, widths: list[int]) -> bytes:
    """The observations of `chunk`: one row of sum(widths) bytes per row."""
    import numpy as np
    import polars as pl

    rows = np.zeros((chunk.height, sum(widths)), dtype=np.uint8)
    at = 0
    for (name, dtype), w in zip(chunk.schema.items(), widths, strict=True):
        col = chunk[name]
        if dtype == pl.String:
            text = col.fill_null("")
            pad = w + text.str.len_chars() - text.str.len_bytes()  # blanks to w bytes, counted in characters
            joined = chunk.select(text.str.pad_end(pad).str.join("")).item()
            rows[:, at : at + w] = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8).reshape(-1, w)
        else:
            values = (col.cast(pl.Int64).cast(pl.Float64) + 3653.0) if dtype == pl.Date else col  # SAS day 0: 1960
            missing = values.is_null().to_numpy()
            rows[:, at : at + 8] = ibm_doubles(values.fill_null(0.0).to_numpy())
            rows[missing, at : at + 8] = np.array([0x2E, 0, 0, 0, 0, 0, 0, 0], dtype=np.uint8)
        at += w
    return rows.tobytes()


def write_xport(frame: pl.DataFrame, path: Path, **options: Any) -> None:
    """`pyreadstat.write_xport(frame, path, file_format_version=5, **options)`, the same bytes, column-wise.
    `frame` holds text (String), doubles (Float64, null = missing) and dates (Date)."""
    import pyreadstat

    if frame.height == 0:  # no observations: nothing to speed up
        pyreadstat.write_xport(frame, str(path), file_format_version=5, **options)
        return
    widths = _widths(frame)
    header = _header(frame, widths, path, **options)
    written = 0
    with open(path, "wb") as fh:
        fh.write(header)
        for start in range(0, frame.height, _ROWS_PER_CHUNK):
            data = _rows(frame.slice(start, _ROWS_PER_CHUNK), widths)
            fh.write(data)
            written += len(data)
        fh.write(b" " * (-written % RECORD))
