"""`kocartr analyze`: a subgroup question answered from a published release, without code.

    kocartr analyze --release out/releases/2026-10-31 --endpoint OS --where "PRODUCT = 'AXI_CEL' AND AGE >= 65" \
        --by DISGRP --out answers/

Reads the release's read-only DuckDB (adam.adtte joined with adam.adsl), selects the rows the `--where` names
(kocartr.release.where: only ADSL / ADTTE columns, parameterized), and runs the report's own code on them: the
analysis-table builders of analyses/outcomes.py (Kaplan-Meier with delayed entry, or the Aalen-Johansen
cumulative incidence with the plan's competing event; the same exclusions, landmarks and month length from the
analysis plan), then the release's suppression (kocartr.release.outcomes: summaries and numbers at risk, hidden
sizes shared across strata). So `--where "PRODUCT = 'X'"` gives the report's estimate for product X exactly.
Writes analyze_<ENDPOINT>.csv (full precision), .md (the table and numbers at risk) and .png (the curves).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from kocartr.release.config import ReleaseConfig, load_release_config
from kocartr.release.where import Where, parse_where

ESTIMATOR_COLUMNS = ("USUBJID", "PARAMCD", "INFNUM", "AVAL", "CNSR", "CMPEVFL", "ENTRYT", "PREENTFL")
MAX_BY_LEVELS = 12


@dataclass
class Answer:
    endpoint: str
    kind: str  # 'survival' or 'cumulative_incidence'
    table: pl.DataFrame  # analysis-shaped rows: 'overall' then one stratum per --by level
    rows: list[dict[str, Any]]  # the published (suppressed) table
    at_risk: list[dict[str, Any]]
    landmarks: tuple[float, ...]  # months
    files: list[Path]


def _open(release: Path):
    import duckdb

    from kocartr.release.publish import RELEASE_DB

    db = release / RELEASE_DB
    if not release.is_dir() or not db.is_file():
        raise ValueError(f"not a release folder (no {RELEASE_DB}): {release}")
    try:
        return duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise ValueError(f"cannot open {db}: {str(exc).splitlines()[0]}") from None


def _cutoff(release: Path, con) -> dt.date:
    from kocartr.release.publish import MANIFEST

    manifest = release / MANIFEST
    if manifest.is_file():
        return dt.date.fromisoformat(json.loads(manifest.read_text(encoding="utf-8"))["cutoff"])
    return con.sql("SELECT max(data_cutoff) FROM analysis.survival_estimates").fetchone()[0]


def _table_columns(con, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'adam' AND table_name = ? ORDER BY column_index",
        [table],
    ).fetchall()


def columns(con) -> dict[str, str]:
    """{column: DuckDB type} of ADTTE, then the ADSL columns ADTTE does not have (the --where / --by universe)."""
    out: dict[str, str] = {}
    for table in ("adtte", "adsl"):
        rows = _table_columns(con, table)
        if not rows:
            raise ValueError(f"the release has no adam.{table}")
        for name, dtype in rows:
            out.setdefault(name, dtype)
    return out


def select_rows(con, endpoint: str, where: Where, by: str | None, cols: dict[str, str]) -> pl.DataFrame:
    """ADTTE rows of the endpoint (with ADSL's other columns) that satisfy the parsed --where. Disease group and
    product are the published categories (the analysis plan's recoding, as in the report: outcomes.published_adsl),
    so `--where "PRODUCT = 'X'"` and `--by DISGRP` select the report's strata."""
    from kocartr.release.outcomes import published_adsl

    adtte = {c for c, _ in _table_columns(con, "adtte")}
    keep = [c for c in ESTIMATOR_COLUMNS if c in cols] + ([by] if by and by not in ESTIMATOR_COLUMNS else [])
    adsl = {c for c, _ in _table_columns(con, "adsl")}
    recoded = [c for c in ("DISGRP", "PRODUCT") if c in adtte and c in adsl]
    replace = f" REPLACE ({', '.join(f's.{c} AS {c}' for c in recoded)})" if recoded else ""
    joined = f"SELECT t.*{replace}" + "".join(f', s."{c}"' for c in cols if c not in adtte)
    joined += f' FROM adam.adtte t LEFT JOIN {published_adsl(con, "s")} ON s."USUBJID" = t."USUBJID"'
    select = ", ".join(f'"{c}"' for c in keep)
    sql = f'SELECT {select} FROM ({joined}) WHERE "PARAMCD" = ? AND {where.sql}'
    return con.sql(sql, params=[endpoint, *where.params]).pl()


def _by_levels(df: pl.DataFrame, by: str) -> list[tuple[str, pl.DataFrame]]:
    from analyses.outcomes import _as_str
    from analyses.plan import MISSING

    df = df.with_columns(_as_str(pl.col(by), df.schema[by]).alias("_BY"))
    levels = sorted(df["_BY"].unique().to_list(), key=lambda v: (v == MISSING, v))
    if len(levels) > MAX_BY_LEVELS:
        raise ValueError(f"--by {by} has {len(levels)} levels; group it first (at most {MAX_BY_LEVELS})")
    return [(lv, df.filter(pl.col("_BY") == lv).drop("_BY", by)) for lv in levels]


def estimate(df: pl.DataFrame, endpoint: str, by: str | None, cutoff: dt.date) -> tuple[str, pl.DataFrame]:
    """Analysis-table rows (analyses/outcomes.py builders) for the selection and each --by level."""
    from analyses import outcomes
    from analyses.plan import load_plan

    ep = load_plan().endpoints[endpoint]

    def run(sub: pl.DataFrame) -> pl.DataFrame:
        sub = sub.select([c for c in ESTIMATOR_COLUMNS if c in sub.columns])  # no stratifier: 'overall' only
        if ep.estimator == "KM":
            return outcomes.survival_estimates(sub, cutoff, endpoints=(endpoint,))
        return outcomes.cumulative_incidence(sub, cutoff, endpoints={endpoint: str(ep.competing)})

    parts = [run(df)]
    if by:
        for level, sub in _by_levels(df, by):
            parts.append(run(sub).with_columns(stratum_variable=pl.lit(by), stratum=pl.lit(level)))
    kind = "survival" if ep.estimator == "KM" else "cumulative_incidence"
    return kind, pl.concat(parts, how="vertical")


def _months(endpoint: str, config: ReleaseConfig) -> tuple[float, ...]:
    plan = config.plan
    own = plan.endpoints[endpoint].landmark_days
    return tuple(round(d / plan.days_per_month, 6) for d in own) if own else config.landmarks_months


def publish_rows(table: pl.DataFrame, kind: str, endpoint: str, config: ReleaseConfig):
    """The suppressed table and numbers at risk, through the release's own code (the report's rules)."""
    from kocartr.release import outcomes

    cs = outcomes.curve_set(table, config, kind)
    sizes: dict = {}
    summaries = outcomes.summarize_curves(cs, config, kind == "survival", sizes)
    months = _months(endpoint, config)
    rows = []
    for s in summaries:
        info = cs.groups[(s.endpoint, s.stratum_variable, s.stratum)]
        h = s.estimates_hidden
        row: dict[str, Any] = {"stratum_variable": s.stratum_variable, "stratum": s.stratum}
        row["n"] = None if s.n_hidden else s.n
        row["events"] = None if s.events_hidden else s.events
        if kind == "survival":
            for k, v in zip(("median", "median_lower", "median_upper"), s.median):
                row[f"{k}_months"] = None if h or v is None else v / config.days_per_month
        for m in months:
            est = (info.get("landmarks") or {}).get(round(float(m), 6), (None, None, None))
            for k, v in zip(("estimate", "lower_95", "upper_95"), est):
                row[f"{k}_{m:g}m"] = None if h else v
        row["suppressed"] = bool(h)
        rows.append(row)
    return rows, outcomes.at_risk_grid(cs, config, None, sizes), months


def analyze(
    release: Path, endpoint: str, where: str | None, by: str | None, out: Path, config: ReleaseConfig | None = None
) -> Answer:
    """Answer the question and write the table (CSV, markdown) and figure into `out`."""
    from analyses.plan import load_plan

    config = config or load_release_config()
    plan = load_plan()
    if endpoint not in plan.endpoints:
        raise ValueError(f"--endpoint {endpoint!r} is not in the analysis plan: {', '.join(plan.endpoints)}")
    con = _open(release)
    try:
        cols = columns(con)
        parsed = parse_where(where or "", cols)
        if by is not None and by.upper() not in {c.upper() for c in cols}:
            raise ValueError(f"--by {by!r} is not an ADSL or ADTTE column")
        by = next((c for c in cols if by and c.upper() == by.upper()), None)
        df = select_rows(con, endpoint, parsed, by, cols)
        cutoff = _cutoff(release, con)
    finally:
        con.close()
    if df.height == 0:
        raise ValueError(f"no {endpoint} rows satisfy --where {where!r}")
    kind, table = estimate(df, endpoint, by, cutoff)
    rows, grid, months = publish_rows(table, kind, endpoint, config)
    answer = Answer(endpoint, kind, table, rows, grid, months, [])
    answer.files = write_outputs(answer, out, where, by, cutoff, config)
    return answer


def _fmt(v: Any, pct: bool) -> str:
    if v is None:
        return ""
    return f"{100 * v:.1f}%" if pct else (f"{v:.1f}" if isinstance(v, float) else str(v))


def markdown(answer: Answer, where: str | None, by: str | None, cutoff: dt.date, config: ReleaseConfig) -> str:
    plan, marker = config.plan, config.marker
    name = plan.label(answer.endpoint)
    lines = [f"# {name.en} / {name.ko} ({answer.endpoint})", ""]
    lines += [f"- Data cut-off: {cutoff}", f"- Where: `{where or 'all patients'}`", f"- By: {by or '-'}"]
    lines += [f"- Method: {answer.table['method'][0]}", f"- Suppressed ({marker}): counts 1-{config.threshold - 1}"]
    lines.append("")
    cols = [c for c in answer.rows[0] if c != "suppressed"] if answer.rows else []
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in answer.rows:
        cells = []
        for c in cols:
            count_hidden = c in ("n", "events") and r[c] is None
            estimate_hidden = r["suppressed"] and r[c] is None and c not in ("stratum_variable", "stratum")
            pct = c.startswith(("estimate", "lower", "upper"))
            cells.append(marker if count_hidden or estimate_hidden else _fmt(r[c], pct))
        lines.append("| " + " | ".join(cells) + " |")
    months = config.at_risk_months
    lines += ["", "Numbers at risk (months):", "", "| stratum | " + " | ".join(f"{m:g}" for m in months) + " |"]
    lines.append("|" + "---|" * (len(months) + 1))
    for r in answer.at_risk:
        vals = [marker if h else ("" if v is None else str(v)) for v, h in (r["values"][m] for m in months)]
        lines.append(f"| {r['stratum']} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(
    answer: Answer, out: Path, where: str | None, by: str | None, cutoff: dt.date, config: ReleaseConfig
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"analyze_{answer.endpoint}"
    csv = stem.with_suffix(".csv")
    pl.DataFrame(answer.rows, infer_schema_length=None).write_csv(csv, float_precision=None)
    md = stem.with_suffix(".md")
    md.write_text(markdown(answer, where, by, cutoff, config), encoding="utf-8")
    png = stem.with_suffix(".png")
    draw(answer, png, where, config)
    return [csv, md, png]


def draw(answer: Answer, path: Path, where: str | None, config: ReleaseConfig) -> None:
    """Step curves with 95% CI bands of the published strata (plan colours), the overall curve dashed."""
    from kocartr.release import outcomes
    from kocartr.release.figures import _plt, _save

    plt = _plt()
    cs = outcomes.curve_set(answer.table, config, answer.kind)
    shown = {(r["stratum_variable"], r["stratum"]) for r in answer.rows if not r["suppressed"]}
    strata = [k[2] for k in cs.groups if k[1] != "overall"]
    colours = config.plan.colours(strata)
    fig, ax = plt.subplots(figsize=(8, 5))
    dpm = config.days_per_month
    for (sv, st), g in cs.curves.group_by(["stratum_variable", "stratum"], maintain_order=True):
        if (sv, st) not in shown:
            continue
        g = g.sort("time").with_columns(pl.col("lower", "upper").fill_null(float("nan")))
        xs = [t / dpm for t in g["time"]]
        col = "#000000" if sv == "overall" else colours[st]
        ax.step(xs, g["estimate"].to_list(), where="post", color=col, linestyle="--" if sv == "overall" else "-",
                label="All selected" if sv == "overall" else st)  # fmt: skip
        ax.fill_between(xs, g["lower"].to_list(), g["upper"].to_list(), step="post", color=col, alpha=0.12, lw=0)
    name = config.plan.label(answer.endpoint)
    ax.set_title(f"{name.en} ({answer.endpoint}) - {where or 'all patients'}", fontsize=9)
    ax.set_xlabel("Months since day 0")
    ax.set_ylabel("Probability" if answer.kind == "survival" else "Cumulative incidence")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    if shown:
        ax.legend(loc="best", frameon=False, fontsize=8)
    else:
        ax.text(0.5, 0.5, "all strata suppressed (small numbers)", ha="center", transform=ax.transAxes)
    _save(fig, path)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    answer = analyze(Path(args.release), args.endpoint, args.where, args.by, Path(args.out))
    print(answer.files[1].read_text(encoding="utf-8"))
    print("wrote " + ", ".join(str(p) for p in answer.files))
    return 0


def add_analyze_parser(sub: Any) -> Any:
    """Register `kocartr analyze` on the CLI's subparsers; returns its parser (the CLI adds its conventions)."""
    p = sub.add_parser(
        "analyze",
        help="answer a subgroup question (KM / cumulative incidence) from a published release",
        description="Estimate an endpoint of the analysis plan for the patients a --where selects, optionally by a "
        "grouping column, with the report's estimators, landmarks and small-cell suppression.",
    )
    p.add_argument("--release", required=True, help="a published release folder (holds kocartr_release.duckdb)")
    p.add_argument("--endpoint", required=True, help="ADTTE PARAMCD of the analysis plan, e.g. OS, PFS, NRM")
    p.add_argument("--where", help="boolean expression over ADSL/ADTTE columns: = <> < <= > >= IN BETWEEN IS NULL")
    p.add_argument("--by", help="an ADSL/ADTTE grouping column (at most 12 levels), e.g. DISGRP")
    p.add_argument(
        "--out", default="kocartr_analyze", help="folder for the CSV, markdown and PNG (default ./kocartr_analyze)"
    )
    p.set_defaults(func=run)
    return p
