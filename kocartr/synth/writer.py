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
        # Korean text decides whether a CP949 file differs from UTF-8.
        texts = [f.name for f in d.form(form).fields if f.type == "text"]
        has_ko = (
            df.select(
                pl.any_horizontal([pl.col(t).fill_null("").str.contains("[가-힣]") for t in texts]).alias("k"),
                "_site",
                "_month",
            )
            .group_by(["_site", "_month"], maintain_order=True)
            .agg(pl.col("k").any())["k"]
            .to_numpy()
            if texts
            else np.zeros(groups.height, bool)
        )
        u = rng.random(groups.height)
        sizes = groups["n"].to_numpy()
        xlsx = (u < P.FILE_VARIANTS["xlsx"]) & (sizes <= P.XLSX_MAX_ROWS)
        cp949 = ~xlsx & has_ko & (rng.random(groups.height) < P.FILE_VARIANTS["cp949"])
        bom = ~xlsx & ~cp949 & (rng.random(groups.height) < P.FILE_VARIANTS["utf8_bom"])
        ext = np.where(xlsx, ".xlsx", ".csv")
        df = df.with_columns(pl.Series("_group", np.repeat(np.arange(groups.height), sizes)))
        marked = df.filter(pl.col("_defect").is_not_null())
        names = pl.Series([f + e for f, e in zip(files, ext)], dtype=pl.Utf8)
        marked = marked.with_columns(names.gather(marked["_group"]).alias("_file"))
        defects.append(
            marked.select(
                pl.col("_file").alias("source_file"),
                pl.lit(form).alias("form"),
                pl.col("_row").alias("source_row"),
                "record_id",
                pl.col("_defect").alias("defect_class"),
                pl.col("_dfield").alias("field"),
            )
        )
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
            chunk = body[bounds[g] : bounds[g + 1]]
            if xlsx[g]:
                part = df.slice(int(groups["i"][g]), int(sizes[g])).select(cols).rows()
                _xlsx(path, form, d, [list(r) for r in part], files[g].split("/")[1])
                variants.append((files[g] + ext[g], "xlsx"))
            elif cp949[g]:
                path.write_bytes((header + chunk).decode("utf-8").encode("cp949"))
                variants.append((files[g] + ext[g], "cp949"))
            elif bom[g]:
                path.write_bytes(b"\xef\xbb\xbf" + header + chunk)
                variants.append((files[g] + ext[g], "utf8_bom"))
            else:
                path.write_bytes(header + chunk)
            n_files += 1
    defect_df = pl.concat(defects) if defects else pl.DataFrame(schema={c: pl.Utf8 for c in DEFECT_COLUMNS})
    defect_df = defect_df.with_columns(pl.col("source_row").cast(pl.Int64)).sort(["source_file", "source_row"])
    variant_df = pl.DataFrame(variants, schema=["source_file", "variant"], orient="row").sort("source_file")
    return defect_df, variant_df, n_files
