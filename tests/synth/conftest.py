"""Shared fixtures: one small generated registry per test session, and a reader for its files."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from kocartr.synth import generate


def read_submission(path: Path, variant: str | None) -> list[dict[str, str | None]]:
    """Rows of one submission file as strings (blank -> None), header row 1, first data row 2."""
    if path.suffix == ".xlsx":
        import openpyxl

        ws = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        rows = list(ws.iter_rows(values_only=True))
        header = [str(h) for h in rows[0]]
        out = []
        for r in rows[1:]:
            vals = []
            for v in r:
                if isinstance(v, dt.datetime):
                    v = v.date().isoformat()
                elif isinstance(v, float) and v.is_integer():
                    v = str(int(v))
                vals.append(None if v is None else str(v))
            out.append(dict(zip(header, vals)))
        return out
    raw = path.read_bytes()
    text = raw.decode("cp949") if variant == "cp949" else raw.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    return [{h: (v if v != "" else None) for h, v in zip(header, r)} for r in reader]


def all_rows(out: Path, form: str) -> list[dict]:
    """Every submitted row of one form, with its file (_file) and spreadsheet row (_row)."""
    with open(out / "ground_truth" / "files.csv", encoding="utf-8") as fh:
        variants = {r["source_file"]: r["variant"] for r in csv.DictReader(fh)}
    sub = out / "submissions"
    rows = []
    for p in sorted(sub.glob(f"*/*/{form}.*")):
        rel = str(p.relative_to(sub))
        for i, r in enumerate(read_submission(p, variants.get(rel)), start=2):
            rows.append(dict(r, _file=rel, _row=i))
    return rows


@pytest.fixture(scope="session")
def small(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth")
    summary = generate(out, patients=600, sites=4, seed=7, defect_rate=0.02)
    return out, summary
