"""Outcome tables for publication, read from the analysis schema of a release and suppressed.

Shared by the workbook, the figures and the report, so that all three show the same (suppressed) numbers.
Column names of the analysis tables are resolved through ReleaseConfig aliases (release.yaml `names`).

Nothing is re-derived here: landmark estimates, medians and numbers at risk are the analysis tables' own rows
(analyses.outcomes: `row_type` 'landmark', 'median', 'risk_table'), on the months the analysis plan publishes
(data/config/analysis_plan.yaml `publish`); the 'curve' rows are the step data drawn and given to modellers. A
table without those rows (another shape) leaves the cells blank rather than computing them a second way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analyses.plan import MISSING
from kocartr.release.config import ReleaseConfig
from kocartr.release.suppression import (
    NESTED,
    OVERALL,
    nested_key,
    suppress_event_table,
    suppress_strata,
    suppress_vector,
)

KEYS = ["endpoint", "stratum_variable", "stratum"]


def _table_exists(con, schema: str, table: str) -> bool:
    return (
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
        > 0
    )


@dataclass
class CurveSet:
    """Curves of one analysis table, normalized. `curves`: endpoint, stratum_variable, stratum, method, time,
    n_at_risk, n_events, n_censored, n_competing (at that time), estimate, lower, upper: the table's 'curve' rows,
    with a time-0 row per group when the first step is later (S = 1 / F = 0 there by definition).
    `groups[key]`: n, events, method, and the table's own rows: landmarks {month: (estimate, lower, upper)},
    median (days: estimate, lower, upper), risk {month: n at risk}."""

    curves: pl.DataFrame
    groups: dict[tuple[str, str, str], dict[str, Any]]

    def filter_endpoints(self, endpoints) -> CurveSet:
        endpoints = list(endpoints)
        return CurveSet(
            self.curves.filter(pl.col("endpoint").is_in(endpoints)),
            {k: v for k, v in self.groups.items() if k[0] in endpoints},
        )

    def is_empty(self) -> bool:
        return not self.groups


STEP_COLUMNS = (  # logical name, required, dtype
    ("time", True, pl.Float64),
    ("estimate", True, pl.Float64),
    ("lower", True, pl.Float64),
    ("upper", True, pl.Float64),
    ("n_at_risk", False, pl.Int64),
    ("step_events", False, pl.Int64),
    ("step_censored", False, pl.Int64),
    ("step_competing", False, pl.Int64),
    ("n", False, pl.Int64),
    ("total_events", False, pl.Int64),
    ("time_months", False, pl.Float64),
)
_OUT = {"step_events": "n_events", "step_censored": "n_censored", "step_competing": "n_competing", "n": "n_total"}


def _normalize(df: pl.DataFrame, config: ReleaseConfig) -> pl.DataFrame:
    cols = df.columns
    has_rt = "row_type" in cols
    sel = [pl.col(k).cast(pl.String) for k in KEYS]
    sel.append((pl.col("method").cast(pl.String) if "method" in cols else pl.lit("")).alias("method"))
    sel.append((pl.col("row_type").cast(pl.String) if has_rt else pl.lit("curve")).alias("row_type"))
    for logical, required, dtype in STEP_COLUMNS:
        name = config.col(cols, logical, required=required)
        if logical == "total_events" and not has_rt:
            name = None  # without row types, the events column is the per-step count
        sel.append((pl.col(name).cast(dtype) if name else pl.lit(None, dtype)).alias(_OUT.get(logical, logical)))
    return df.select(sel)


def _by_month(rows: pl.DataFrame, dpm: float, value) -> dict[float, Any]:
    return {
        round(r["time_months"] if r["time_months"] is not None else r["time"] / dpm, 6): value(r)
        for r in rows.to_dicts()
    }


def _group_info(g: pl.DataFrame, curve: pl.DataFrame, dpm: float) -> dict[str, Any]:
    """n, events, method and the table's landmark / median / risk-table rows of one group."""
    n = g["n_total"].drop_nulls()
    ev = g["events_total"].drop_nulls()
    info: dict[str, Any] = {
        "n": max(n.cast(pl.Int64).to_list()) if n.len() else int(curve["n_at_risk"][0] or 0),
        "events": max(ev.cast(pl.Int64).to_list()) if ev.len() else sum(curve["n_events"].fill_null(0).to_list()),
        "method": curve["method"][0] or "",
    }
    rows = {rt: g.filter(pl.col("row_type") == rt) for rt in ("landmark", "median", "risk_table")}
    info["landmarks"] = _by_month(rows["landmark"], dpm, lambda r: (r["estimate"], r["lower"], r["upper"]))
    info["risk"] = _by_month(rows["risk_table"], dpm, lambda r: r["n_at_risk"])
    if rows["median"].height:  # months in the table -> days here
        r = rows["median"].row(0, named=True)
        info["median"] = tuple(None if r[k] is None else r[k] * dpm for k in ("estimate", "lower", "upper"))
    return info


def read_curves(con, config: ReleaseConfig, kind: str) -> CurveSet | None:
    """kind: 'survival' or 'cumulative_incidence'. None if the table is absent."""
    table = config.analysis(kind)
    if not _table_exists(con, "analysis", table):
        return None
    return curve_set(con.sql(f'SELECT * FROM analysis."{table}"').pl(), config, kind)


def curve_set(df: pl.DataFrame, config: ReleaseConfig, kind: str) -> CurveSet:
    """CurveSet of an analysis-table frame (also used by `kocartr analyze` on its own subsets)."""
    norm = _normalize(df, config).rename({"total_events": "events_total"})
    start = 1.0 if kind == "survival" else 0.0
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    curve_parts = []
    for key, g in norm.group_by(KEYS, maintain_order=True):
        key = tuple(key)
        curve = g.filter(pl.col("row_type") == "curve").sort("time")
        if curve.is_empty():
            continue  # e.g. Gray's-test rows
        info = groups[key] = _group_info(g, curve, config.days_per_month)
        if curve["time"][0] > 0:
            first = curve.head(1).with_columns(
                time=pl.lit(0.0),
                estimate=pl.lit(start),
                lower=pl.lit(start),
                upper=pl.lit(start),
                n_events=pl.lit(0, pl.Int64),
                n_censored=pl.lit(0, pl.Int64),
                n_competing=pl.lit(0, pl.Int64),
                n_at_risk=pl.lit(info["risk"].get(0.0), pl.Int64),  # the table's own number at month 0
            )
            curve = pl.concat([first, curve])
        curve_parts.append(curve)
    cols = [*KEYS, "method", "time", "n_at_risk", "n_events", "n_censored", "n_competing", "estimate", "lower", "upper"]
    curves = (pl.concat(curve_parts) if curve_parts else norm.head(0)).select(cols)
    order = pl.col("stratum_variable") != "overall"
    return CurveSet(curves.sort("endpoint", order, "stratum_variable", "stratum", "time", maintain_order=True), groups)


def read_proportions(con, config: ReleaseConfig) -> pl.DataFrame | None:
    """Normalized: endpoint, stratum_variable, stratum, method, measure, n, events, estimate, lower, upper."""
    table = config.analysis("proportions")
    if not _table_exists(con, "analysis", table):
        return None
    df = con.sql(f'SELECT * FROM analysis."{table}"').pl()
    cols = df.columns
    sel = [pl.col(c).cast(pl.String) for c in KEYS]
    sel.append((pl.col("method").cast(pl.String) if "method" in cols else pl.lit("")).alias("method"))
    sel.append((pl.col("measure").cast(pl.String) if "measure" in cols else pl.lit(None, pl.String)).alias("measure"))
    sel += [
        pl.col(str(config.col(cols, "n"))).cast(pl.Int64).alias("n"),
        pl.col(str(config.col(cols, "numerator"))).cast(pl.Int64).alias("events"),
    ]
    for logical in ("estimate", "lower", "upper"):  # required: col() raises when absent
        sel.append(pl.col(str(config.col(cols, logical))).cast(pl.Float64).alias(logical))
    return df.select(sel).sort(
        "endpoint", pl.col("stratum_variable") != "overall", "stratum_variable", "stratum", maintain_order=True
    )


def select_rates(props: pl.DataFrame, config: ReleaseConfig) -> pl.DataFrame:
    """The configured (endpoint, measure) pairs, e.g. CRS / grade_ge3; a table without `measure` matches on
    the endpoint alone."""
    parts = []
    for item in config.rates:
        f = pl.col("endpoint") == item["endpoint"]
        if item.get("measure") and props["measure"].drop_nulls().len():
            f = f & (pl.col("measure") == item["measure"])
        key = f"{item['endpoint']}/{item['measure']}" if item.get("measure") else item["endpoint"]
        label = pl.lit(item.get("label", item["endpoint"]))
        parts.append(props.filter(f).with_columns(endpoint=label, key=pl.lit(key)))
    return pl.concat(parts) if parts else props.head(0)


@dataclass
class CurveSummary:
    endpoint: str
    stratum_variable: str
    stratum: str
    method: str
    n: int
    events: int
    landmarks: dict[float, tuple[float | None, float | None, float | None]] = field(default_factory=dict)
    median: tuple[float | None, float | None, float | None] = (None, None, None)
    n_hidden: bool = False
    events_hidden: bool = False

    @property
    def estimates_hidden(self) -> bool:
        # a survival probability from a group whose size or event count is suppressed would reveal it
        return self.n_hidden or self.events_hidden


def summarize_curves(
    cs: CurveSet, config: ReleaseConfig, with_median: bool, sizes_hidden: dict | None = None, cells: dict | None = None
) -> list[CurveSummary]:
    out = []
    for key in cs.curves.select(KEYS).unique(maintain_order=True).iter_rows():
        info = cs.groups[key]
        s = CurveSummary(
            endpoint=key[0],
            stratum_variable=key[1],
            stratum=key[2],
            method=info["method"],
            n=info["n"],
            events=info["events"],
        )
        given = info.get("landmarks") or {}
        for m in config.landmarks_months:
            s.landmarks[m] = given.get(round(float(m), 6), (None, None, None))
        if with_median:
            s.median = info.get("median") or (None, None, None)
        out.append(s)
    suppress_summaries(out, config.threshold, sizes_hidden, cells)
    return out


def suppress_summaries(
    items: list[Any],
    threshold: int,
    sizes_hidden: dict | None = None,
    cells: dict | None = None,
    cells_first: bool = False,
) -> dict:
    """Set n_hidden / events_hidden on summaries (objects with endpoint, stratum_variable, stratum, n, events).

    Per endpoint and stratification, strata are suppressed against the overall row (suppress_event_table); then
    the disease group and product strata of the endpoint are suppressed as one DISGRP x PRODUCT table
    (`joint_pass`), since a group's count minus its products' counts is a hidden product's count.
    Group sizes are shared by tables published together (OS, PFS, NRM ... and the toxicity rates have the same
    patients per product), so a size hidden in one is hidden in all: the hidden sizes are collected in
    `sizes_hidden` {(stratum_variable, stratum): True} (event counts under ('events', endpoint, stratum_variable,
    stratum)) and the passes repeat until no new count is hidden. `cells`: infused patients per (DISGRP, PRODUCT)
    (read_strata_sizes), which products treat which disease. Pass the same dict to every call (and to
    at_risk_grid) for one release. `cells_first`: the DISGRP/PRODUCT rows are the table's headline (response rates):
    where hiding either a margin or a cell would protect, the margin goes (suppression.suppress_strata). Returns
    it."""
    forced: dict = {} if sizes_hidden is None else sizes_hidden
    by_ep: dict[str, list[Any]] = {}
    for s in items:
        by_ep.setdefault(s.endpoint, []).append(s)
    for _ in range(20):
        before = dict(forced)
        for group in by_ep.values():
            _stratification_pass(group, threshold, forced, cells)
            joint_pass(group, threshold, forced, cells, cells_first)
        if forced == before:
            break
    return forced


def _ev_id(s: Any) -> str:
    """The event counts' identity: 'endpoint/measure' for a rate, so that the workbook's rates and the report's
    rate tables (the same counts under another label) share their hidden flags."""
    return getattr(s, "key", None) or s.endpoint


def _ev_key(s: Any) -> tuple:
    return ("events", _ev_id(s), s.stratum_variable, s.stratum)


def _size_key(s: Any, cells: dict | None) -> tuple:
    """The shared key of a stratum size: (stratum_variable, stratum) in every table (one decision per stratum)."""
    # shared for every table: a size hidden in one (even of another population) is hidden in all, so sheets agree
    return (s.stratum_variable, s.stratum)


def _stratification_pass(group: list[Any], threshold: int, forced: dict, cells: dict | None = None) -> None:
    """Each stratification of one endpoint against its overall row, counts hidden elsewhere pre-hidden."""
    overall = [s for s in group if s.stratum_variable == "overall"]
    o = overall[0] if overall else None
    if o is None:  # no total published (e.g. response by disease group x product): each row on its own
        for s in group:
            _, (s.n_hidden, s.events_hidden) = suppress_event_table(
                [],
                (s.n, s.events),
                threshold,
                overall_n_pre_hidden=bool(forced.get(_size_key(s, cells))),
                overall_e_pre_hidden=bool(forced.get(_ev_key(s))),
            )
            forced.update({k: True for k, h in ((_size_key(s, cells), s.n_hidden), (_ev_key(s), s.events_hidden)) if h})
        return
    o_pre = bool(o is not None and forced.get(_size_key(o, cells)))
    o_epre = bool(o is not None and forced.get(_ev_key(o)))
    if o is not None:
        _, (oh_n, oh_e) = suppress_event_table(
            [], (o.n, o.events), threshold, overall_n_pre_hidden=o_pre, overall_e_pre_hidden=o_epre
        )
        o.n_hidden, o.events_hidden = oh_n, oh_e
    for sv in sorted({s.stratum_variable for s in group} - {"overall"}):
        strata = [s for s in group if s.stratum_variable == sv]
        per, (oh_n, oh_e) = suppress_event_table(
            [(s.n, s.events) for s in strata],
            (o.n, o.events) if o else None,
            threshold,
            n_pre_hidden=[bool(forced.get(_size_key(s, cells))) for s in strata],
            overall_n_pre_hidden=o_pre,
            e_pre_hidden=[bool(forced.get(_ev_key(s))) for s in strata],
            overall_e_pre_hidden=o_epre,
        )
        for s, (hn, he) in zip(strata, per):
            s.n_hidden, s.events_hidden = hn, he
            if hn:
                forced[_size_key(s, cells)] = True
            if he:
                forced[_ev_key(s)] = True
        if o is not None:  # a complementary need on the overall row hides it everywhere
            o.n_hidden |= oh_n
            o.events_hidden |= oh_e
    if o is not None and o.n_hidden:
        forced[_size_key(o, cells)] = True
    if o is not None and o.events_hidden:
        forced[_ev_key(o)] = True


def joint_pass(
    group: list[Any], threshold: int, forced: dict, cells: dict | None = None, cells_first: bool = False
) -> None:
    """Sizes and event counts of one endpoint's overall, DISGRP, PRODUCT and DISGRP/PRODUCT strata suppressed
    as one two-way table (suppression.suppress_strata). Without DISGRP/PRODUCT rows the cell counts are not
    published: the structure (which products treat which disease) comes from `cells`."""
    by = {(s.stratum_variable, s.stratum): s for s in group}
    if not any(k[0] == "DISGRP" for k in by) or not any(k[0] == "PRODUCT" for k in by):
        return
    nested = {tuple(k[1].split("/", 1)): s for k, s in by.items() if k[0] == NESTED and "/" in k[1]}
    structure = set(nested) or set(cells or {})
    if not structure:  # nothing known about the cells: only the margins' own constraint, handled above
        return
    margins = {k: s for k, s in by.items() if k[0] in ("DISGRP", "PRODUCT") or k == OVERALL}
    for what in ("n", "events"):
        if nested:
            vals: dict = {gp: getattr(s, what) for gp, s in nested.items()}
        elif what == "n" and cells and all(_margin_matches(by, cells, k) for k in margins):
            vals = cells  # the endpoint's population is the infused patients: cells as Table 1 shows them
        else:
            vals = {gp: None for gp in structure}
        # a cell absent from this table is Table 1's (shared key) only when the cells are the infused patients
        own = vals is cells

        def key(k: tuple, what: str = what, own: bool = own, ep: str = _ev_id(group[0])) -> tuple:
            if what != "n":
                return ("events", ep, *k)
            return _size_key(by[k], cells) if k in by else (k if own else ("n", ep, *k))

        pre = [k for k in [*margins, *(nested_key(*gp) for gp in structure)] if forced.get(key(k))]
        pre += [k for k, s in by.items() if (s.n_hidden if what == "n" else s.events_hidden)]
        hidden = suppress_strata(
            vals,
            threshold,
            groups={k[1]: getattr(s, what) for k, s in margins.items() if k[0] == "DISGRP"},
            products={k[1]: getattr(s, what) for k, s in margins.items() if k[0] == "PRODUCT"},
            overall=getattr(by[OVERALL], what) if OVERALL in by else None,
            pre_hidden=pre,
            cells_published=bool(nested) or vals is cells,  # Table 1 shows the infused patients' cells
            cells_first=cells_first and bool(nested),
            lost=[k for k, s in by.items() if (s.events_hidden if what == "n" else s.n_hidden)],
        )
        for k in hidden:  # cells too: Table 1 shows the infused patients' cells and reads the same flags
            forced[key(k)] = True
            if k in by:
                setattr(by[k], f"{what}_hidden", True)


def _margin_matches(by: dict, cells: dict, k: tuple[str, str]) -> bool:
    s = by[k]
    if k == OVERALL:
        return s.n == sum(cells.values())
    pos = 0 if k[0] == "DISGRP" else 1
    return s.n == sum(v for gp, v in cells.items() if gp[pos] == k[1])


RECODING_TABLE = "publication_recoding"  # analyses.recoding: the plan's categories as published


def published_adsl(con, alias: str = "a") -> str:
    """A FROM source (named `alias`) for adam.adsl with DISGRP and PRODUCT as the analysis tables publish them
    (analysis.publication_recoding, the analysis plan's table redesign); plain adam.adsl when the release has no
    recoding table (an older release), so every count the report shows uses the strata its estimates use."""
    if not _table_exists(con, "analysis", RECODING_TABLE):
        return f"adam.adsl {alias}"
    return f"""(SELECT a.* REPLACE (coalesce(r.DISGRP_PUB, CAST(a.DISGRP AS VARCHAR)) AS DISGRP,
                                 coalesce(r.PRODUCT_PUB, CAST(a.PRODUCT AS VARCHAR)) AS PRODUCT)
               FROM adam.adsl a LEFT JOIN analysis.{RECODING_TABLE} r
                 ON r.DISGRP = coalesce(CAST(a.DISGRP AS VARCHAR), '{MISSING}')
                AND r.PRODUCT = coalesce(CAST(a.PRODUCT AS VARCHAR), '{MISSING}')) {alias}"""


def read_recoding(con) -> list[dict[str, Any]]:
    """The pairs published under a pooled category (analysis.publication_recoding rows with recoded = true)."""
    if not _table_exists(con, "analysis", RECODING_TABLE):
        return []
    q = f"SELECT * FROM analysis.{RECODING_TABLE} WHERE recoded ORDER BY DISGRP_PUB, PRODUCT_PUB, DISGRP, PRODUCT"
    return con.sql(q).pl().to_dicts()


def read_strata_sizes(con) -> dict[tuple[str, str], int]:
    """Infused patients per (DISGRP, PRODUCT) from adam.adsl as published (published_adsl), labelled as the
    analysis tables label strata ('(missing)' for a missing level); {} when the release has no adsl."""
    if not _table_exists(con, "adam", "adsl"):
        return {}
    have = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'adsl'").fetchall()}
    if not {"DISGRP", "PRODUCT", "INFFL"} <= have:
        return {}
    rows = con.execute(
        f"""SELECT coalesce(CAST(DISGRP AS VARCHAR), '{MISSING}'), coalesce(CAST(PRODUCT AS VARCHAR), '{MISSING}'),
                   count(*) FROM {published_adsl(con)} WHERE INFFL = 'Y' GROUP BY ALL"""
    ).fetchall()
    return {(g, p): int(n) for g, p, n in rows}


def joint_sizes(cells: dict[tuple[str, str], int], threshold: int, sizes_hidden: dict) -> dict:
    """The one decision on which stratum sizes are hidden across overall, DISGRP, PRODUCT and DISGRP/PRODUCT
    (Table 1 shows the cells, the outcome tables the margins): the DISGRP x PRODUCT table of infused patients,
    suppressed and audited as one table, sizes already hidden elsewhere pre-hidden. Updates and returns
    `sizes_hidden`."""
    if cells:
        pre = [k for k, v in sizes_hidden.items() if v and len(k) == 2]
        sizes_hidden.update({k: True for k in suppress_strata(cells, threshold, pre_hidden=pre)})
    return sizes_hidden


@dataclass
class Rate:
    endpoint: str
    stratum_variable: str
    stratum: str
    method: str
    n: int
    events: int
    estimate: float | None
    lower: float | None
    upper: float | None
    n_hidden: bool = False
    events_hidden: bool = False
    key: str | None = None  # 'endpoint/measure' of the counts when `endpoint` is a display label (_ev_id)


def rates(
    props: pl.DataFrame, config: ReleaseConfig, sizes_hidden: dict | None = None, cells: dict | None = None
) -> list[Rate]:
    items = [
        Rate(
            **{
                k: r[k]
                for k in (
                    "endpoint",
                    "stratum_variable",
                    "stratum",
                    "method",
                    "n",
                    "events",
                    "estimate",
                    "lower",
                    "upper",
                    "key",
                )
            }
        )
        for r in select_rates(props, config).to_dicts()
    ]
    suppress_summaries(items, config.threshold, sizes_hidden, cells)
    return items


def published_proportions(props: pl.DataFrame, tables: tuple[Any, ...]) -> pl.DataFrame:
    """The rows of the proportions table the report's rate tables show (the plan's `publish.report_rates`:
    endpoints, measures, strata); every row when the plan declares none. What no reader sees needs no protection,
    and protecting it hid published counts (a response table's unpublished margins forced complements in the
    disease group sizes every outcome table shares)."""
    if not tables:
        return props
    keep = pl.lit(False)
    for t in tables:
        keep = keep | (
            pl.col("endpoint").is_in(list(t.endpoints))
            & pl.col("measure").is_in(list(t.measures))
            & pl.col("stratum_variable").is_in(list(t.strata))
        )
    return props.filter(keep)


def measure_rates(
    props: pl.DataFrame, threshold: int, sizes_hidden: dict, cells: dict | None = None, tables: tuple[Any, ...] = ()
) -> dict[tuple[str, str], list[Rate]]:
    """Every published (endpoint, measure) of the proportions table (published_proportions) with its published
    strata, suppressed (the report's response and toxicity tables read these); event counts are keyed per measure
    ('endpoint/measure'). A table without its overall row has no published total: each row is protected on its
    own (_stratification_pass)."""
    out: dict[tuple[str, str], list[Rate]] = {}
    props = published_proportions(props, tables)
    for (ep, meas), g in props.group_by(["endpoint", "measure"], maintain_order=True):
        items = [Rate(**{k: r[k] for k in Rate.__dataclass_fields__ if k in r}) for r in g.to_dicts()]
        for i in items:
            i.endpoint = f"{ep}/{meas}"
        suppress_summaries(items, threshold, sizes_hidden, cells, cells_first=True)  # reported per group x product
        out[(str(ep), str(meas))] = items
    return out


def at_risk_grid(
    cs: CurveSet,
    config: ReleaseConfig,
    stratum_variable: str | None = None,
    sizes_hidden: dict | None = None,
    cells: dict | None = None,
) -> list[dict[str, Any]]:
    """Numbers at risk on the configured month grid, per endpoint and stratum, with suppression: at each time
    the strata of one stratification sum to the overall row, and the disease group and product strata form one
    DISGRP x PRODUCT table (`_at_risk_hidden`). Rows: endpoint, stratum_variable, stratum, values
    {month: (value, hidden)}; overall rows first. Strata whose size is hidden (`sizes_hidden`, the joint decision
    of build_outcomes) are hidden at every time."""
    forced = sizes_hidden or {}
    months = config.at_risk_months
    out: list[dict[str, Any]] = []
    for ep in cs.curves["endpoint"].unique(maintain_order=True).to_list():
        keys = [k for k in cs.groups if k[0] == ep]
        vals = {k[1:]: [_risk(cs, k, m) for m in months] for k in keys}
        hidden = {sk: [False] * len(months) for sk in vals}
        for j in range(len(months)):
            at_j = _at_risk_hidden({sk: v[j] for sk, v in vals.items()}, config.threshold, forced, cells)
            for sk in vals:
                hidden[sk][j] = sk in at_j
        order = sorted(vals, key=lambda sk: (sk != OVERALL, sk[0], sk[1]))
        for sk in order:
            if sk != OVERALL and stratum_variable is not None and sk[0] != stratum_variable:
                continue
            values = {m: (vals[sk][j], hidden[sk][j]) for j, m in enumerate(months)}
            out.append({"endpoint": ep, "stratum_variable": sk[0], "stratum": sk[1], "values": values})
    return out


def _risk(cs: CurveSet, key: tuple, m: float) -> int | None:
    v = (cs.groups[key].get("risk") or {}).get(round(float(m), 6))
    return None if v is None else int(v)


def _at_risk_hidden(vals: dict, threshold: int, forced: dict, cells: dict | None) -> set:
    """Hidden (stratum_variable, stratum) at one time: each stratification against the overall row, then the
    DISGRP x PRODUCT table, repeated until neither hides more."""
    from kocartr.release.suppression import is_small

    hidden = {sk for sk in vals if forced.get(sk) or is_small(vals[sk], threshold)}
    o = vals.get(OVERALL)
    for _ in range(20):
        before = set(hidden)
        for sv in sorted({sk[0] for sk in vals} - {"overall"}):
            strata = sorted(sk for sk in vals if sk[0] == sv)
            h, th = suppress_vector(
                [vals[sk] for sk in strata],
                o,
                threshold,
                total_shown=o is not None,
                pre_hidden=[sk in hidden for sk in strata],
                total_pre_hidden=OVERALL in hidden,
            )
            hidden |= {sk for sk, f in zip(strata, h) if f} | ({OVERALL} if th else set())
        nested = {tuple(sk[1].split("/", 1)): v for sk, v in vals.items() if sk[0] == NESTED and "/" in sk[1]}
        if nested or cells:
            hidden |= suppress_strata(
                nested or {gp: None for gp in cells or {}},
                threshold,
                groups={sk[1]: v for sk, v in vals.items() if sk[0] == "DISGRP"},
                products={sk[1]: v for sk, v in vals.items() if sk[0] == "PRODUCT"},
                overall=o,
                pre_hidden=hidden,
                cells_published=bool(nested),
            ) & set(vals)
        if hidden == before:
            break
    return hidden


@dataclass
class FollowupRow:
    """One row of analysis.median_followup; events = patients alive (censored on OS), published beside n."""

    endpoint: str
    stratum_variable: str
    stratum: str
    n: int
    events: int | None
    row: dict[str, Any]
    n_hidden: bool = False
    events_hidden: bool = False


def read_followup(con) -> list[FollowupRow]:
    """analysis.median_followup rows (reverse Kaplan-Meier), overall first; [] when absent."""
    if not _table_exists(con, "analysis", "median_followup"):
        return []
    out = []
    for r in con.sql("SELECT * FROM analysis.median_followup").pl().to_dicts():
        ep = f"followup:{r.get('endpoint') or 'OS'}"  # its own event keys: n_alive is not the OS death count
        out.append(FollowupRow(ep, r["stratum_variable"], str(r["stratum"]), int(r["n"]), r.get("n_alive"), r))
    return sorted(out, key=lambda f: f.stratum_variable != "overall")


@dataclass
class PublishedOutcomes:
    """Everything the workbook, figures and report show, suppressed once and consistently."""

    km: CurveSet | None
    km_summary: list[CurveSummary]
    cif: CurveSet | None
    cif_summary: list[CurveSummary]
    rates: list[Rate]
    sizes_hidden: dict
    cells: dict = field(default_factory=dict)  # infused patients per (DISGRP, PRODUCT)
    followup: list[FollowupRow] = field(default_factory=list)
    by_measure: dict[tuple[str, str], list[Rate]] = field(default_factory=dict)  # measure_rates

    def size_hidden(self, stratum_variable: str, stratum: str) -> bool:
        """The one decision on a published stratum size (joint over overall, DISGRP, PRODUCT, DISGRP/PRODUCT)."""
        return bool(self.sizes_hidden.get((stratum_variable, stratum)))

    def at_risk(self, cs: CurveSet, config: ReleaseConfig, stratum_variable: str | None = None):
        return at_risk_grid(cs, config, stratum_variable, self.sizes_hidden, self.cells)


def build_outcomes(con, config: ReleaseConfig) -> PublishedOutcomes:
    """Read the analysis tables and suppress all published counts jointly: group sizes hidden in any table are
    hidden in all (iterated to a fixed point), so tables cannot be combined to reveal a hidden size."""
    km = read_curves(con, config, "survival")
    km = km.filter_endpoints(config.km_endpoints) if km is not None else None
    cif = read_curves(con, config, "cumulative_incidence")
    cif = cif.filter_endpoints(config.cif_endpoints) if cif is not None else None
    props = read_proportions(con, config)
    cells = read_strata_sizes(con)
    fu = read_followup(con)
    sizes: dict = {}
    for _ in range(20):
        before = dict(sizes)
        joint_sizes(cells, config.threshold, sizes)
        km_s = summarize_curves(km, config, True, sizes, cells) if km is not None else []
        cif_s = summarize_curves(cif, config, False, sizes, cells) if cif is not None else []
        rt = rates(props, config, sizes, cells) if props is not None else []
        suppress_summaries(fu, config.threshold, sizes, cells)
        tables = config.plan.report_rates
        bm = measure_rates(props, config.threshold, sizes, cells, tables) if props is not None else {}
        if sizes == before:
            break
    return PublishedOutcomes(km, km_s, cif, cif_s, rt, sizes, cells, fu, bm)
