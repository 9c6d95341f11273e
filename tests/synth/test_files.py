"""Submissions follow the dictionary; every recorded defect is present, every clean row is valid."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from kocartr.dictionary import load_dictionary
from kocartr.synth.rules import check_row
from tests.synth.conftest import read_submission


def _variants(out: Path) -> dict[str, str]:
    with open(out / "ground_truth" / "files.csv", encoding="utf-8") as fh:
        return {r["source_file"]: r["variant"] for r in csv.DictReader(fh)}


def test_layout_and_columns(small):
    out, _ = small
    d = load_dictionary()
    sub = out / "submissions"
    files = [p for p in sub.rglob("*") if p.is_file()]
    assert files
    variants = _variants(out)
    sites = set(d.codes("site")) | set(d.sources)
    for p in files:
        site, month, name = p.relative_to(sub).parts
        assert site in sites and len(month) == 7 and month <= "2026-10"
        form = name.rsplit(".", 1)[0]
        assert form in d.forms
        rows = read_submission(p, variants.get(str(p.relative_to(sub))))
        assert rows and list(rows[0]) == d.columns(form)


def test_ground_truth_apart(small):
    out, _ = small
    assert not list((out / "submissions").rglob("*.parquet"))
    assert not list((out / "submissions").rglob("*.json"))
    assert {p.name for p in (out / "ground_truth").iterdir()} == {
        "params.json",
        "patients.parquet",
        "defects.csv",
        "files.csv",
        "endpoint_truth.parquet",
        "response_truth.parquet",
        "linkage_truth.parquet",
    }


def test_clean_rows_valid_and_defects_present(small):
    out, _ = small
    d = load_dictionary()
    sub = out / "submissions"
    variants = _variants(out)
    defects = pl.read_csv(out / "ground_truth" / "defects.csv", infer_schema_length=0)
    marked = {(r["source_file"], int(r["source_row"])): r for r in defects.iter_rows(named=True)}
    seen = set()
    for p in sub.rglob("*.*"):
        rel = str(p.relative_to(sub))
        site, month, name = p.relative_to(sub).parts
        form = name.rsplit(".", 1)[0]
        rows = read_submission(p, variants.get(rel))
        for i, row in enumerate(rows, start=2):
            problems = check_row(d, form, row, site, month)
            m = marked.get((rel, i))
            if m is None or m["defect_class"] in ("correction", "deletion", "duplicate_row"):
                assert problems == [], (rel, i, problems)
            else:
                assert [x[0] for x in problems] == [m["defect_class"]], (rel, i, problems, m)
                assert problems[0][1] == m["field"]
            if m is not None:
                seen.add((rel, i))
                assert row["record_id"] == m["record_id"] or m["field"] == "patient_id"
                if m["defect_class"] == "duplicate_row":
                    assert sum(r == row for r in rows[: i - 2]) >= 1  # an exact earlier copy in the same file
                if m["defect_class"] == "deletion":
                    assert row["action"] == "D"
    assert seen == set(marked)


def test_record_ids_unique_except_known(small):
    """A record_id repeats within site+form only for a duplicate row, a correction or a deletion."""
    out, _ = small
    d = load_dictionary()
    sub = out / "submissions"
    variants = _variants(out)
    defects = pl.read_csv(out / "ground_truth" / "defects.csv", infer_schema_length=0)
    allowed = {
        (r["source_file"], int(r["source_row"]))
        for r in defects.iter_rows(named=True)
        if r["defect_class"] in ("duplicate_row", "correction", "deletion")
    }
    seen: dict[tuple[str, str, str], int] = {}
    for p in sorted(sub.rglob("*.*"), key=lambda p: p.parts[-2]):
        rel = str(p.relative_to(sub))
        site, _, name = p.relative_to(sub).parts
        for i, row in enumerate(read_submission(p, variants.get(rel)), start=2):
            key = (site, name.rsplit(".", 1)[0], row["record_id"])
            if key in seen:
                assert (rel, i) in allowed, (rel, i, key)
            seen[key] = seen.get(key, 0) + 1
    assert d.forms
