"""Write form frames as site submission files (CSV UTF-8 / UTF-8 BOM / CP949, or XLSX) and list the defects.

A whole form is serialized to CSV once and cut into per-file slices at line boundaries (fast: ~20k files for
100k patients); file variants are drawn per file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from kocartr.dictionary import Dictionary
from kocartr.synth import params as P
from kocartr.synth.cohort import month_label

DEFECT_COLUMNS = ["source_file", "form", "source_row", "record_id", "defect_class", "field"]


def _xlsx(path: Path, form: str, d: Dictionary, rows: list[list[str | None]], month: str) -> None:
    import xlsxwriter

    types = [f.type for f in d.all_fields(form)]
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "in_memory": True})
    # A fixed creation time keeps the file byte-identical for a seed (xlsxwriter stamps "now" otherwise).
    wb.set_properties({"created": dt.datetime.fromisoformat(month + "-28")})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet(form[:31])
    ws.write_row(0, 0, d.columns(form))
    for r, row in enumerate(rows, start=1):
        for j, v in enumerate(row):
            if v is None:
                continue
            t = types[j]
            if t == "date":  # real Excel date cells
                ws.write_datetime(r, j, dt.datetime.fromisoformat(v), date_fmt)
            elif t in ("integer", "decimal"):
                ws.write_number(r, j, float(v))
            else:
                ws.write_string(r, j, v)
    wb.close()


def _has_korean(d: Dictionary, form: str, df: pl.DataFrame, n_groups: int) -> np.ndarray:
    """Per (site, month) file: does any text field hold Korean (which decides whether CP949 differs from UTF-8)?"""
    texts = [f.name for f in d.form(form).fields if f.type == "text"]
    if not texts:
        return np.zeros(n_groups, bool)
    return (
        df.select(
            pl.any_horizontal([pl.col(t).fill_null("").str.contains("[가-힣]") for t in texts]).alias("k"),
            "_site",
            "_month",
        )
        .group_by(["_site", "_month"], maintain_order=True)
        .agg(pl.col("k").any())["k"]
        .to_numpy()
    )


def _variants(rng: np.random.Generator, sizes: np.ndarray, has_ko: np.ndarray) -> tuple[np.ndarray, ...]:
    """Which files are Excel, CP949 or UTF-8 with a BOM (params.FILE_VARIANTS); the rest plain UTF-8 CSV."""
    n = len(sizes)
    xlsx = (rng.random(n) < P.FILE_VARIANTS["xlsx"]) & (sizes <= P.XLSX_MAX_ROWS)
    cp949 = ~xlsx & has_ko & (rng.random(n) < P.FILE_VARIANTS["cp949"])
    bom = ~xlsx & ~cp949 & (rng.random(n) < P.FILE_VARIANTS["utf8_bom"])
    return xlsx, cp949, bom


def _csv_bytes(header: bytes, chunk: bytes, variant: str) -> bytes:
    if variant == "cp949":
        return (header + chunk).decode("utf-8").encode("cp949")
    if variant == "utf8_bom":
        return b"\xef\xbb\xbf" + header + chunk
    return header + chunk


def _defect_rows(form: str, marked: pl.DataFrame) -> pl.DataFrame:
    """The ground truth of injected defects: file, row and field as the site's file shows them."""
    return marked.select(
        pl.col("_file").alias("source_file"),
        pl.lit(form).alias("form"),
        pl.col("_row").alias("source_row"),
        "record_id",
        pl.col("_defect").alias("defect_class"),
        pl.col("_dfield").alias("field"),
    )


def write_submissions(
    d: Dictionary, frames: dict[str, pl.DataFrame], root: Path, sites: list[str], rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Write every form; return (defects, file variants, number of files)."""
    defects, variants = [], []
    n_files = 0
    made_dirs: set[Path] = set()
    for form in d.forms:
        df = frames.get(form)
        if df is None or df.height == 0:
            continue
        perm = np.lexsort((df["_ord"].to_numpy(), df["_month"].to_numpy(), df["_site"].to_numpy()))
        df = df[perm]  # a numpy lexsort + one gather beats sorting the wide string frame
        cols = d.columns(form)
        groups = (
            df.select("_site", "_month")
            .with_row_index("i")
            .group_by(["_site", "_month"], maintain_order=True)
            .agg(pl.col("i").first(), pl.len().alias("n"))
        )
        df = df.with_columns((pl.int_range(pl.len()).over(["_site", "_month"]) + 2).alias("_row"))
        files = [f"{sites[s]}/{month_label(m)}/{form}" for s, m in zip(groups["_site"], groups["_month"])]
        sizes = groups["n"].to_numpy()
        xlsx, cp949, bom = _variants(rng, sizes, _has_korean(d, form, df, groups.height))
        ext = np.where(xlsx, ".xlsx", ".csv")
        df = df.with_columns(pl.Series("_group", np.repeat(np.arange(groups.height), sizes)))
        marked = df.filter(pl.col("_defect").is_not_null())
        names = pl.Series([f + e for f, e in zip(files, ext)], dtype=pl.Utf8)
        marked = marked.with_columns(names.gather(marked["_group"]).alias("_file"))
        defects.append(_defect_rows(form, marked))
        body = df.select(cols).write_csv(include_header=False).encode("utf-8")
        header = (",".join(cols) + "\n").encode("utf-8")
        ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10) + 1
        if len(ends) != df.height:
            raise RuntimeError(f"{form}: a value contains a line break")
        bounds = np.r_[0, ends[np.cumsum(sizes) - 1]]
        for g in range(groups.height):
            path = root / (files[g] + ext[g])
            if path.parent not in made_dirs:
                path.parent.mkdir(parents=True, exist_ok=True)
                made_dirs.add(path.parent)
            if xlsx[g]:
                part = df.slice(int(groups["i"][g]), int(sizes[g])).select(cols).rows()
                _xlsx(path, form, d, [list(r) for r in part], files[g].split("/")[1])
                variant = "xlsx"
            else:
                variant = "cp949" if cp949[g] else "utf8_bom" if bom[g] else ""
                path.write_bytes(_csv_bytes(header, body[bounds[g] : bounds[g + 1]], variant))
            if variant:
                variants.append((files[g] + ext[g], variant))
            n_files += 1
    defect_df = pl.concat(defects) if defects else pl.DataFrame(schema={c: pl.Utf8 for c in DEFECT_COLUMNS})
    defect_df = defect_df.with_columns(pl.col("source_row").cast(pl.Int64)).sort(["source_file", "source_row"])
    variant_df = pl.DataFrame(variants, schema=["source_file", "variant"], orient="row").sort("source_file")
    return defect_df, variant_df, n_files
