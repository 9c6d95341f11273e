"""Ingest throughput at registry scale (not a test): python -m tests.ingest.bench_ingest PATIENTS [OUT_DIR].

Writes a synthetic submissions tree (rows built from the dictionary via the test helpers, ~55 rows per patient,
40 sites x 24 months, one CSV per form and site-month, a few CP949 files and ~0.5% out-of-range values), then
times a full ingest into a fresh DuckDB file and a second, no-op ingest.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

from kocartr.dictionary import load_dictionary
from kocartr.ingest import ingest
from tests.ingest.helpers import KEY, clean_rows

ROWS_PER_PATIENT = {"registration": 1, "baseline": 1, "product_infusion": 1, "crs": 0.7, "icans": 0.3,
                    "adverse_event": 3, "lab": 40, "response": 3, "followup": 5, "death": 0.3,
                    "secondary_malignancy": 0.02, "pregnancy": 0.01}


def make(root: Path, patients: int, sites: int = 40, months: int = 24) -> int:
    d = load_dictionary()
    total = 0
    for form, rate in ROWS_PER_PATIENT.items():
        n = int(patients * rate)
        tmpl = clean_rows(form, 1)[0]
        idx = pl.int_range(0, n, eager=True)
        pat = idx % patients
        frame = pl.DataFrame({c: [v] * n for c, v in tmpl.items()}).with_columns(
            site_code=pl.format("S{}", (pat % sites + 1).cast(pl.String).str.zfill(2)),
            patient_id=pl.format("P{}", pat.cast(pl.String)),
            record_id=pl.format("R{}", idx.cast(pl.String)),
            submission_month=pl.format("{}-{}", (2025 + ((idx // sites * 7) % months) // 12).cast(pl.String),
                                       (((idx // sites * 7) % months) % 12 + 1).cast(pl.String).str.zfill(2)),
        )
        num = next((f.name for f in d.form(form).fields if f.type in ("integer", "decimal")), None)
        if num:  # ~0.5% absurd numbers so the quarantine path is exercised
            frame = frame.with_columns(pl.when(idx % 200 == 7).then(pl.lit("99999999")).otherwise(pl.col(num)).alias(num))
        for (site, month), part in frame.partition_by(["site_code", "submission_month"], as_dict=True).items():
            p = root / site / month / f"{form}.csv"
            p.parent.mkdir(parents=True, exist_ok=True)
            text = part.write_csv()
            p.write_bytes(text.encode("cp949") if site == "S03" else text.encode("utf-8"))
        total += n
    return total


def main() -> None:
    patients = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/kocartr_bench")
    shutil.rmtree(out, ignore_errors=True)
    root = out / "submissions"
    t = time.perf_counter()
    rows = make(root, patients)
    files = sum(1 for _ in root.rglob("*.csv"))
    print(f"generated {rows:,} rows in {files:,} files in {time.perf_counter() - t:.1f} s")
    con = duckdb.connect(str(out / "warehouse.duckdb"))
    rep = ingest(con, root, KEY)
    print("first run: ", rep.summary())
    rep2 = ingest(con, root, KEY)
    print("second run:", rep2.summary())
    con.close()


if __name__ == "__main__":
    main()
