"""Release figures (matplotlib, Agg): KM and cumulative-incidence curves by product and by disease group (never
pooled across disease groups), with censoring marks and a number-at-risk table below. Strata whose size or event
count is suppressed are not drawn; at-risk numbers go through the same suppression as the workbook. PNGs carry no
software/date metadata, so the same matplotlib version draws the same bytes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

from kocartr.release import outcomes
from kocartr.release.config import ReleaseConfig

BY = {"PRODUCT": "product", "DISGRP": "disease group"}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "kocartr", "font.size": 9, "path.simplify": False})
    return plt


def stratum_colors(con, config: ReleaseConfig, strata: list[str]) -> dict[str, str]:
    """One colour per product in every figure, from the analysis plan (`product_colours`), so hiding a small
    product never shifts the others' colours; other strata (e.g. disease groups) get the plan's fallback palette.
    `con` is unused (kept for callers)."""
    return config.plan.colours(list(strata))


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=110, metadata={"Software": None}, format="png")


def censor_marks(con, config: ReleaseConfig, kind: str, endpoint: str) -> dict[tuple[str, str], list[float]]:
    """Times (days) with a censoring per (stratum_variable, stratum), from the analysis table's curve rows
    (`n_censored_at_time`); empty when the table does not carry them."""
    table = config.analysis(kind)
    cols = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND "
            "schema_name = 'analysis' AND table_name = ?",
            [table],
        ).fetchall()
    }
    if not {"n_censored_at_time", "row_type"} <= cols:
        return {}
    tcol = config.col(cols, "time")
    out: dict[tuple[str, str], list[float]] = {}
    for sv, st, t in con.execute(
        f"""SELECT stratum_variable, stratum, {tcol} FROM analysis."{table}"
            WHERE endpoint = ? AND row_type = 'curve' AND n_censored_at_time > 0 ORDER BY ALL""",
        [endpoint],
    ).fetchall():
        out.setdefault((sv, st), []).append(float(t))
    return out


def _y_top(c: pl.DataFrame, drawn: list[tuple[str, str]], xmax_days: float, kind: str) -> float:
    """Survival: 1. Cumulative incidence: fitted to the drawn curves and their CIs within the x range (a
    suppressed stratum's wide CI must not stretch it), rounded up to 0.05, with a 0.05 floor (curves flat at 0)."""
    if kind == "survival":
        return 1.0
    keys = set(drawn)
    dc = c.filter(
        pl.struct("stratum_variable", "stratum").map_elements(
            lambda r: (r["stratum_variable"], r["stratum"]) in keys, return_dtype=pl.Boolean
        )
        & (pl.col("time") <= xmax_days)
    )
    vals = [v for v in dc["upper"].to_list() + dc["estimate"].to_list() if v is not None and not math.isnan(v)]
    return min(1.0, math.ceil(max([0.05] + vals) * 1.1 / 0.05) * 0.05)


def _draw_curves(ax, c: pl.DataFrame, drawn, palette, names, marks, dpm: float) -> None:
    for key in drawn:
        g = c.filter(
            (c["stratum_variable"] == key[0]) & (c["stratum"] == key[1]) & pl.col("estimate").is_not_null()
        ).sort("time")
        g = g.with_columns(pl.col("lower").fill_null(float("nan")), pl.col("upper").fill_null(float("nan")))
        col = "#000000" if key[0] == "overall" else palette[key[1]]
        xs = [t / dpm for t in g["time"]]
        ys = g["estimate"].to_list()
        ax.step(xs, ys, where="post", color=col, label=_short(names.get(key[1], key[1])), linewidth=1.5)
        ax.fill_between(xs, g["lower"].to_list(), g["upper"].to_list(), step="post", color=col, alpha=0.12, lw=0)
        times = marks.get(key, [])
        if times:  # '+' at each censoring time, on the curve's value there (step function, right-continuous)
            import bisect

            raw = g["time"].to_list()
            at = [ys[max(0, bisect.bisect_right(raw, t) - 1)] for t in times]
            ax.plot([t / dpm for t in times], at, linestyle="none", marker="+", markersize=6, color=col)


def _draw_risk_table(tab, rows, months, palette, names, marker: str) -> None:
    tab.set_ylim(-0.6, max(1, len(rows)) - 0.4)
    for side in ("top", "right", "bottom", "left"):
        tab.spines[side].set_visible(False)
    tab.tick_params(axis="both", length=0, labelbottom=False, pad=16)
    tab.set_yticks(range(len(rows)))
    tab.set_yticklabels([_short(names.get(r["stratum"], r["stratum"])) for r in reversed(rows)], fontsize=7)
    for lab, r in zip(tab.get_yticklabels(), reversed(rows)):
        lab.set_color(palette.get(r["stratum"], "#000000"))
    tab.set_title("Number at risk", loc="left", fontsize=8, fontweight="bold")
    for i, r in enumerate(rows):
        for mth in months:
            v, hid = r["values"][mth]
            tab.text(mth, len(rows) - 1 - i, marker if hid else str(v), ha="center", va="center", fontsize=7)


def _spaced(months: list[int], gap: float) -> list[int]:
    """Grid months at least `gap` apart (numbers at risk must not overlap on a long axis)."""
    out: list[int] = []
    for m in months:
        if not out or m - out[-1] >= gap:
            out.append(m)
    return out


def _short(name: str) -> str:
    return name if len(name) <= 36 else name[:34] + ".."


def display_names(con, config: ReleaseConfig) -> dict[str, str]:
    """Products by their dim_product names, disease groups by their report labels."""
    from kocartr.release.report import load_labels, product_names
    from kocartr.release.report_tables import pooled_names

    groups = {k: v["en"] for k, v in load_labels()["codes"]["disease_group"].items()}
    groups |= {c: t.en for c, t in pooled_names("DISGRP").items()}
    return {**groups, **product_names(con, config)}


def _figure(con, config, context, pub, kind: str, ep: str, cs, sv: str, names: dict) -> dict[str, Any] | None:
    """One figure: the visible strata of `sv` (no pooled curve across disease groups), CI bands, censor marks,
    numbers at risk below on the same x axis."""
    plt = _plt()
    c = cs.curves
    dpm = config.days_per_month
    summaries = pub.km_summary if kind == "survival" else pub.cif_summary
    visible = {(s.stratum_variable, s.stratum) for s in summaries if s.endpoint == ep and not s.estimates_hidden}
    strata = c.filter(c["stratum_variable"] == sv)["stratum"].unique(maintain_order=True).to_list()
    if not strata:
        return None
    keys = [(sv, st) for st in strata]
    drawn = [k for k in keys if k in visible]
    not_drawn = [names.get(k[1], k[1]) for k in keys if k not in visible]
    last = (c["time"].max() or 0) / dpm  # x axis to the end of follow-up (HTA modellers want the tail)
    xmax = min(max(config.at_risk_months), max(12, math.ceil(last / 12) * 12))
    months = _spaced([m for m in config.at_risk_months if m <= xmax], xmax / 12)
    rows = [r for r in pub.at_risk(cs, config, stratum_variable=sv) if (r["stratum_variable"], r["stratum"]) in drawn]
    fig = plt.figure(figsize=(8.4, 5.2 + 0.22 * len(rows)))
    gs = fig.add_gridspec(
        2, 1, height_ratios=[5.0, 0.9 + 0.28 * len(rows)], hspace=0.28, left=0.27, right=0.66, top=0.92, bottom=0.06
    )
    ax = fig.add_subplot(gs[0])
    tab = fig.add_subplot(gs[1], sharex=ax)
    palette = stratum_colors(con, config, strata)
    _draw_curves(ax, c, drawn, palette, names, censor_marks(con, config, kind, ep), dpm)
    top = _y_top(c, drawn, xmax * dpm, kind)
    ax.set_xlim(0, xmax)
    ax.set_ylim(0, top)
    ax.set_xticks(months)
    ax.set_ylabel("Probability" if kind == "survival" else "Cumulative incidence")
    ax.set_xlabel("Months since infusion")
    by = BY.get(sv, sv)
    ax.set_title(f"{config.plan.label(ep).en} by {by} (data cut-off {context['cutoff']})")
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    else:
        ax.text(xmax / 2, top / 2, "all strata suppressed (small numbers)", ha="center", va="center")
    _draw_risk_table(tab, rows, months, palette, names, config.marker)
    return {"fig": fig, "not_drawn": not_drawn, "by": by}


def write_figures(
    con, folder: Path, context: dict[str, Any], config: ReleaseConfig, pub: outcomes.PublishedOutcomes | None = None
) -> list[dict[str, str]]:
    """Write the PNGs into `folder` (by product and by disease group); returns [{file, title, caption, ...}].
    `pub`: outcomes.build_outcomes(con, config) when the caller has it already (built here otherwise)."""
    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    out: list[dict[str, str]] = []
    pub = pub if pub is not None else outcomes.build_outcomes(con, config)
    names = display_names(con, config)
    by_vars = list(dict.fromkeys([config.figure_stratum_variable, "DISGRP"]))
    for kind, endpoints, curves in (
        ("survival", config.km_endpoints, pub.km),
        ("cumulative_incidence", config.cif_endpoints, pub.cif),
    ):
        if curves is None:
            continue
        for ep in endpoints:
            cs = curves.filter_endpoints([ep])
            if cs.is_empty():
                continue
            for sv in by_vars:
                made = _figure(con, config, context, pub, kind, ep, cs, sv, names)
                if made is None:
                    continue
                name = f"{'km' if kind == 'survival' else 'cif'}_{ep.lower()}_by_{sv.lower()}.png"
                _save(made["fig"], folder / name)
                plt.close(made["fig"])
                method = "Kaplan-Meier" if kind == "survival" else "Aalen-Johansen cumulative incidence"
                caption = (
                    f"{method} with 95% CI band and censoring marks (+); numbers at risk below "
                    f"({config.marker} = suppressed)."
                )
                if made["not_drawn"]:
                    caption += f" Not drawn (suppressed small groups): {', '.join(made['not_drawn'])}."
                out.append(
                    {
                        "file": f"figures/{name}",
                        "title": f"{config.plan.label(ep).en} by {made['by']}",
                        "caption": caption,
                        "path": str(folder / name),
                    }
                )
    return out
