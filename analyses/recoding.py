"""Categories recoded for publication: table redesign before cell suppression.

Hundepool et al., Statistical Disclosure Control (Wiley 2012), ch. 5 "Frequency tables", section 5.3 Methods,
"Table redesign": collapse or group the categories of a variable and apply table thresholds, so that fewer cells
are unsafe while the published counts stay additive and consistent. The rules are the analysis plan's
(data/config/analysis_plan.yaml `publication_recoding`, typed in analyses/plan.py); sizes are counted on the infused
patients (adsl INFFL = 'Y'). Repeated until nothing changes:

1. a missing value, or one listed under `pool`, goes to the variable's pooled category;
2. a disease group or product below `min_stratum_size` goes to its pooled category; the pooled disease group is
   not broken down by product (its patients count in the pooled product);
3. a disease group x product cell below the minimum: its product is pooled within the group; when the group's
   pooled-product cell is still below the minimum, its patients go to the pooled group as well.

`recoding_map` gives one row per (DISGRP, PRODUCT) pair of adsl (missing shown as '(missing)', as the analysis
tables label it) with the published pair and the rule that moved it; `apply_recoding` relabels any frame holding
both columns. Only stratum labels change, never a patient's data, so every overall estimate is unchanged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from analyses.plan import MISSING, PublicationRecoding

Pair = tuple[str, str]


def _pairs(df: pl.DataFrame, a: str, b: str) -> pl.DataFrame:
    return df.select(
        pl.col(a).cast(pl.Utf8).fill_null(MISSING).alias("_a"), pl.col(b).cast(pl.Utf8).fill_null(MISSING).alias("_b")
    )


@dataclass(frozen=True)
class _Counts:
    """Infused patients per published cell, row (disease group) and column (product) under the current map."""

    cell: Counter[Pair]
    row: Counter[str]
    col: Counter[str]


def _counts(cur: dict[Pair, tuple[Pair, str]], sizes: Counter[Pair]) -> _Counts:
    c = _Counts(Counter(), Counter(), Counter())
    for p, n in sizes.items():
        (x, y), _ = cur[p]
        c.cell[(x, y)] += n
        c.row[x] += n
        c.col[y] += n
    return c


def _rules(rec: PublicationRecoding) -> list[tuple[str, Callable[[Pair, _Counts], Pair]]]:
    """Rules 2 and 3 of the module docstring, in order (rule 1 is the starting map)."""
    a, b = rec.nested
    g, p, m = rec.variables[a].code, rec.variables[b].code, rec.min_stratum_size

    def margins(q: Pair, c: _Counts) -> Pair:
        x = g if c.row[q[0]] < m else q[0]
        return x, (p if c.col[q[1]] < m or x == g else q[1])

    def cell_product(q: Pair, c: _Counts) -> Pair:
        return (q[0], p) if c.cell[q] < m else q

    def cell_group(q: Pair, c: _Counts) -> Pair:
        return (g, p) if c.cell[q] < m else q

    return [
        (f"{a} or {b} below {m} infused patients (a pooled {a} is not split by {b})", margins),
        (f"{a} x {b} cell below {m}: product pooled", cell_product),
        (f"{a} x {b} cell below {m}: pooled row and column", cell_group),
    ]


def _solve(pairs: set[Pair], sizes: Counter[Pair], rec: PublicationRecoding) -> dict[Pair, tuple[Pair, str]]:
    """{original pair: (published pair, rule)}: each rule applied to every pair at once with the counts of the
    previous step, the first rule that changes something first, until none does."""
    a, b = rec.nested
    va, vb = rec.variables[a], rec.variables[b]

    def start(q: Pair) -> tuple[Pair, str]:
        x = va.code if q[0] == MISSING or q[0] in va.pool else q[0]
        y = vb.code if q[1] == MISSING or q[1] in vb.pool else q[1]
        return (x, y), ("missing or pooled by the plan" if (x, y) != q else "")

    cur = {q: start(q) for q in pairs}
    rules = _rules(rec)
    while True:
        counts = _counts(cur, sizes)
        for why, rule in rules:
            new = {q: (pub, r) if (moved := rule(pub, counts)) == pub else (moved, why) for q, (pub, r) in cur.items()}
            if new != cur:
                cur = new
                break
        else:
            return cur


def recoding_map(adsl: pl.DataFrame, rec: PublicationRecoding | None) -> pl.DataFrame:
    """One row per (DISGRP, PRODUCT) pair of adsl: the pair as the analysis tables label it, the published pair
    (`DISGRP_PUB`, `PRODUCT_PUB`), `recoded` and the `rule` that moved it (empty when unchanged)."""
    schema: dict[str, Any] = {"DISGRP": pl.Utf8, "PRODUCT": pl.Utf8, "DISGRP_PUB": pl.Utf8, "PRODUCT_PUB": pl.Utf8}
    schema |= {"recoded": pl.Boolean, "rule": pl.Utf8}
    if rec is None or not set(rec.nested) <= set(adsl.columns) or adsl.height == 0:
        return pl.DataFrame(schema=schema)
    a, b = rec.nested
    every = _pairs(adsl, a, b)
    infused = _pairs(adsl.filter(pl.col("INFFL") == "Y"), a, b) if "INFFL" in adsl.columns else every
    sizes = Counter(zip(infused["_a"].to_list(), infused["_b"].to_list()))
    solved = _solve(set(zip(every["_a"].to_list(), every["_b"].to_list())), sizes, rec)
    rows = [
        {"DISGRP": p[0], "PRODUCT": p[1], "DISGRP_PUB": q[0], "PRODUCT_PUB": q[1], "recoded": q != p, "rule": r}
        for p, (q, r) in sorted(solved.items())
    ]
    return pl.DataFrame(rows, schema=schema)


def apply_recoding(df: pl.DataFrame, mapping: pl.DataFrame) -> pl.DataFrame:
    """`df` with DISGRP and PRODUCT replaced by their published categories (a frame lacking either column, or a
    pair absent from the map, is returned as it is)."""
    if mapping.height == 0 or not {"DISGRP", "PRODUCT"} <= set(df.columns):
        return df
    keyed = df.with_columns(
        pl.col("DISGRP").cast(pl.Utf8).fill_null(MISSING).alias("_g"),
        pl.col("PRODUCT").cast(pl.Utf8).fill_null(MISSING).alias("_p"),
    )
    m = mapping.select(
        pl.col("DISGRP").alias("_g"), pl.col("PRODUCT").alias("_p"), pl.col("DISGRP_PUB"), pl.col("PRODUCT_PUB")
    )
    out = keyed.join(m, on=["_g", "_p"], how="left", maintain_order="left")
    return out.with_columns(
        pl.coalesce("DISGRP_PUB", pl.col("DISGRP").cast(pl.Utf8)).alias("DISGRP"),
        pl.coalesce("PRODUCT_PUB", pl.col("PRODUCT").cast(pl.Utf8)).alias("PRODUCT"),
    ).drop("_g", "_p", "DISGRP_PUB", "PRODUCT_PUB")
