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

from kocartr.release.config import ReleaseConfig
from kocartr.release.suppression import suppress_event_table, suppress_vector

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
        parts.append(props.filter(f).with_columns(endpoint=pl.lit(item.get("label", item["endpoint"]))))
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
    cs: CurveSet, config: ReleaseConfig, with_median: bool, sizes_hidden: dict | None = None
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
    suppress_summaries(out, config.threshold, sizes_hidden)
    return out


def suppress_summaries(items: list[Any], threshold: int, sizes_hidden: dict | None = None) -> dict:
    """Set n_hidden / events_hidden on summaries (objects with endpoint, stratum_variable, stratum, n, events).

    Per endpoint and stratification, strata are suppressed against the overall row (suppress_event_table).
    Group sizes are shared by tables published together (OS, PFS, NRM ... and the toxicity rates have the same
    patients per product), so a size hidden in one is hidden in all: the hidden sizes are collected in
    `sizes_hidden` {(stratum_variable, stratum): True} and the passes repeat until no new size is hidden.
    Pass the same dict to every call (and to at_risk_grid) for one release. Returns it."""
    forced: dict = {} if sizes_hidden is None else sizes_hidden
    by_ep: dict[str, list[Any]] = {}
    for s in items:
        by_ep.setdefault(s.endpoint, []).append(s)
    for _ in range(20):
        before = dict(forced)
        for group in by_ep.values():
            overall = [s for s in group if s.stratum_variable == "overall"]
            o = overall[0] if overall else None
            o_pre = forced.get(("overall", "overall"), False)
            if o is not None:
                _, (oh_n, oh_e) = suppress_event_table([], (o.n, o.events), threshold, overall_n_pre_hidden=o_pre)
                o.n_hidden, o.events_hidden = oh_n, oh_e
            for sv in sorted({s.stratum_variable for s in group} - {"overall"}):
                strata = [s for s in group if s.stratum_variable == sv]
                per, (oh_n, oh_e) = suppress_event_table(
                    [(s.n, s.events) for s in strata],
                    (o.n, o.events) if o else None,
                    threshold,
                    n_pre_hidden=[forced.get((sv, s.stratum), False) for s in strata],
                    overall_n_pre_hidden=o_pre,
                )
                for s, (hn, he) in zip(strata, per):
                    s.n_hidden, s.events_hidden = hn, he
                    if hn:
                        forced[(sv, s.stratum)] = True
                if o is not None:  # a complementary need on the overall row hides it everywhere
                    o.n_hidden |= oh_n
                    o.events_hidden |= oh_e
            if o is not None and o.n_hidden:
                forced[("overall", "overall")] = True
        if forced == before:
            break
    return forced


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


def rates(props: pl.DataFrame, config: ReleaseConfig, sizes_hidden: dict | None = None) -> list[Rate]:
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
                )
            }
        )
        for r in select_rates(props, config).to_dicts()
    ]
    suppress_summaries(items, config.threshold, sizes_hidden)
    return items


def at_risk_grid(
    cs: CurveSet, config: ReleaseConfig, stratum_variable: str | None = None, sizes_hidden: dict | None = None
) -> list[dict[str, Any]]:
    """Numbers at risk on the configured month grid, per endpoint and stratum, with suppression: at each time
    the strata of one stratification sum to the overall row, so a hidden stratum gets a complement.
    Rows: endpoint, stratum_variable, stratum, values {month: (value, hidden)}; overall rows first.
    Strata whose size is hidden (`sizes_hidden`, from suppress_summaries) are hidden at every time."""
    forced = sizes_hidden or {}
    from kocartr.release.suppression import is_small

    months = config.at_risk_months
    curves = cs.curves

    def value(key, _rows, m) -> int | None:
        v = (cs.groups[key].get("risk") or {}).get(round(float(m), 6))
        return None if v is None else int(v)

    out: list[dict[str, Any]] = []
    for ep in curves["endpoint"].unique(maintain_order=True).to_list():
        e = curves.filter(pl.col("endpoint") == ep)
        groups = {tuple(k): g.sort("time").to_dicts() for k, g in e.group_by(KEYS, maintain_order=True)}
        overall = [k for k in groups if k[1] == "overall"]
        o_vals = [value(overall[0], groups[overall[0]], m) for m in months] if overall else None
        o_hidden = [
            bool(o_vals and (is_small(o_vals[j], config.threshold) or forced.get(("overall", "overall"), False)))
            for j in range(len(months))
        ]
        rows: list[dict[str, Any]] = []
        svs = sorted({k[1] for k in groups} - {"overall"})
        if stratum_variable is not None:
            svs = [s for s in svs if s == stratum_variable]
        for sv in svs:
            keys = [k for k in groups if k[1] == sv]
            vals = [[value(k, groups[k], m) for m in months] for k in keys]
            hidden = [[False] * len(months) for _ in keys]
            for j in range(len(months)):
                h, th = suppress_vector(
                    [v[j] for v in vals],
                    o_vals[j] if o_vals else None,
                    config.threshold,
                    total_shown=o_vals is not None,
                    pre_hidden=[forced.get((sv, k[2]), False) for k in keys],
                    total_pre_hidden=o_hidden[j],
                )
                for i in range(len(keys)):
                    hidden[i][j] = h[i]
                o_hidden[j] |= th
            for k, v, h in zip(keys, vals, hidden):
                rows.append(
                    {
                        "endpoint": ep,
                        "stratum_variable": sv,
                        "stratum": k[2],
                        "values": {m: (v[j], h[j]) for j, m in enumerate(months)},
                    }
                )
        if overall and o_vals is not None:
            out.append(
                {
                    "endpoint": ep,
                    "stratum_variable": "overall",
                    "stratum": "overall",
                    "values": {m: (o_vals[j], o_hidden[j]) for j, m in enumerate(months)},
                }
            )
        out.extend(rows)
    return out


@dataclass
class PublishedOutcomes:
    """Everything the workbook, figures and report show, suppressed once and consistently."""

    km: CurveSet | None
    km_summary: list[CurveSummary]
    cif: CurveSet | None
    cif_summary: list[CurveSummary]
    rates: list[Rate]
    sizes_hidden: dict

    def at_risk(self, cs: CurveSet, config: ReleaseConfig, stratum_variable: str | None = None):
        return at_risk_grid(cs, config, stratum_variable, self.sizes_hidden)


def build_outcomes(con, config: ReleaseConfig) -> PublishedOutcomes:
    """Read the analysis tables and suppress all published counts jointly: group sizes hidden in any table are
    hidden in all (iterated to a fixed point), so tables cannot be combined to reveal a hidden size."""
    km = read_curves(con, config, "survival")
    km = km.filter_endpoints(config.km_endpoints) if km is not None else None
    cif = read_curves(con, config, "cumulative_incidence")
    cif = cif.filter_endpoints(config.cif_endpoints) if cif is not None else None
    props = read_proportions(con, config)
    sizes: dict = {}
    for _ in range(20):
        before = dict(sizes)
        km_s = summarize_curves(km, config, True, sizes) if km is not None else []
        cif_s = summarize_curves(cif, config, False, sizes) if cif is not None else []
        rt = rates(props, config, sizes) if props is not None else []
        if sizes == before:
            break
    return PublishedOutcomes(km, km_s, cif, cif_s, rt, sizes)
