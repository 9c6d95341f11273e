"""Determinism, defect rates, clinical consistency and plausibility of the synthetic registry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from kocartr.dictionary import load_dictionary
from kocartr.privacy import RRN_RE
from kocartr.synth import generate
from kocartr.synth import params as P
from kocartr.synth.rules import grade_of
from tests.synth.conftest import all_rows


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_deterministic_by_seed(tmp_path):
    a = generate(tmp_path / "a", patients=150, sites=3, seed=11)
    b = generate(tmp_path / "b", patients=150, sites=3, seed=11)
    generate(tmp_path / "c", patients=150, sites=3, seed=12)
    assert a["files"] == b["files"]
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_defect_counts_match_rates(small):
    out, summary = small
    rate = json.loads((out / "ground_truth" / "params.json").read_text())["arguments"]["defect_rate"]
    defects = pl.read_csv(out / "ground_truth" / "defects.csv", infer_schema_length=0)
    got = dict(defects.group_by("defect_class").len().iter_rows())
    total = summary["rows_total"]
    for cls in ("missing_required", "unknown_code", "duplicate_row", "direct_identifier"):
        expected = rate * P.DEFECT_MIX[cls] * total
        assert abs(got.get(cls, 0) - expected) <= 0.15 * expected + 3, (cls, got.get(cls), expected)
    assert got.get("date_order", 0) > 0 and got.get("correction", 0) > 0 and got.get("deletion", 0) > 0


def test_file_variants(small):
    out, _ = small
    files = pl.read_csv(out / "ground_truth" / "files.csv")
    assert set(files["variant"]) == {"cp949", "utf8_bom", "xlsx"}
    sub = out / "submissions"
    for rel, variant in files.iter_rows():
        raw = (sub / rel).read_bytes()
        if variant == "cp949":
            text = raw.decode("cp949")
            assert any("\uac00" <= ch <= "\ud7a3" for ch in text)
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        elif variant == "utf8_bom":
            assert raw.startswith(b"\xef\xbb\xbf")
        else:
            assert rel.endswith(".xlsx") and raw[:2] == b"PK"


def test_direct_identifiers_only_where_injected(small):
    out, _ = small
    d = load_dictionary()
    defects = pl.read_csv(out / "ground_truth" / "defects.csv", infer_schema_length=0)
    marked = {
        (r["source_file"], int(r["source_row"]))
        for r in defects.iter_rows(named=True)
        if r["defect_class"] == "direct_identifier"
    }
    found = set()
    for form in d.forms:
        for r in all_rows(out, form):
            if any(v and RRN_RE.search(v) for k, v in r.items() if not k.startswith("_")):
                found.add((r["_file"], r["_row"]))
    assert found == marked


def test_crs_and_icans_grades_follow_components(small):
    out, _ = small
    d = load_dictionary()
    for r in all_rows(out, "crs"):
        try:
            comp = max(grade_of(d, "crs_hypotension", r["hypotension"]), grade_of(d, "crs_hypoxia", r["hypoxia"]))
            grade = int(r["astct_grade"])
        except (TypeError, ValueError, KeyError):
            continue  # a defect row
        assert grade == comp or (grade == 5 and comp == 4)
    bands = P.ICE_BANDS
    for r in all_rows(out, "icans"):
        try:
            grade = int(r["astct_grade"])
            doms = [
                grade_of(d, "icans_consciousness", r["consciousness"]),
                grade_of(d, "icans_seizure", r["seizure"]),
                grade_of(d, "icans_cerebral_edema", r["cerebral_edema"]),
                P.MOTOR_WEAKNESS_GRADE if r["motor_weakness"] == "Y" else 0,
            ]
        except (TypeError, ValueError, KeyError):
            continue
        ice_grade = 0
        if r["ice_score"] is not None:
            ice_grade = next(g for g in (0, 1, 2, 3) if bands[g][0] <= int(r["ice_score"]) <= bands[g][1])
        assert max(doms + [ice_grade]) == min(grade, 4)


def test_rows_never_report_the_future(small):
    """Every date in a row is on or before the end of its submission month; follow-ups sit in their windows."""
    out, _ = small
    d = load_dictionary()
    windows = P.followup_windows()
    import datetime as dt

    defects = pl.read_csv(out / "ground_truth" / "defects.csv", infer_schema_length=0)
    bad = {(r["source_file"], int(r["source_row"])) for r in defects.iter_rows(named=True)}
    infusion = {
        (r["site_code"], r["patient_id"]): r["infusion_date"]
        for r in all_rows(out, "product_infusion")
        if (r["_file"], r["_row"]) not in bad and r["infusion_number"] == "1"
    }  # windows count from day 0
    for form in d.forms:
        dates = [f.name for f in d.form(form).fields if f.type == "date"]
        for r in all_rows(out, form):
            month = r["_file"].split("/")[1]
            for f in dates:
                if r[f]:
                    assert r[f][:7] <= month, (form, r)
    for r in all_rows(out, "followup"):
        inf = infusion.get((r["site_code"], r["patient_id"]))
        if (r["_file"], r["_row"]) in bad or r["vital_status"] != "ALIVE" or inf is None:
            continue
        day = (dt.date.fromisoformat(r["contact_date"]) - dt.date.fromisoformat(inf)).days
        lo, hi = windows[r["timepoint"]]
        assert lo <= day <= hi, r


def test_truth_plausible_and_recoverable(tmp_path):
    out = tmp_path / "big"
    generate(out, patients=4000, sites=6, seed=3, defect_rate=0.0)
    params = json.loads((out / "ground_truth" / "params.json").read_text())
    truth = params["truth"]["per_product"]
    pts = pl.read_parquet(out / "ground_truth" / "patients.parquet")
    inf = pts.filter(pl.col("infused"))
    assert 0.03 < 1 - pts["infused"].mean() < 0.08
    assert 0.09 < pts["registered_late"].mean() < 0.17
    # Bands from the brief (section 5): DESCAR-T 1-y OS axi 63.5% vs tisa 48.8%; NRM 6-8%.
    assert 0.55 < truth["AXI_CEL"]["os_12mo"] < 0.72 and 0.40 < truth["TISA_CEL"]["os_12mo"] < 0.60
    assert 0.01 < params["truth"]["overall"]["spm_cif_36mo_death_competing"] < 0.08
    # CRS any grade per product, as reported in the submissions, against the generating parameter.
    crs = pl.DataFrame(all_rows(out, "crs")).select("site_code", "patient_id").unique()
    prod = pl.DataFrame(all_rows(out, "product_infusion")).select(
        "site_code", "patient_id", "product_code", "infusion_date"
    )
    cutoff = params["data_cutoff"]
    prod = prod.filter(pl.col("infusion_date") < pl.lit(cutoff).str.to_date().dt.offset_by("-3mo").cast(pl.Utf8))
    prod = prod.join(crs.with_columns(pl.lit(1).alias("crs")), on=["site_code", "patient_id"], how="left")
    rates = prod.group_by("product_code").agg(pl.col("crs").is_not_null().mean().alias("rate"), pl.len())
    for product, rate, n in rates.iter_rows():
        if n < 150:
            continue
        p = truth[product]["crs_any"]
        se = (p * (1 - p) / n) ** 0.5
        assert abs(rate - p) < 4 * se + 0.02, (product, rate, p, n)
    assert inf.height > 3000
