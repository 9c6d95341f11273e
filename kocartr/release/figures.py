"""Release figures (matplotlib, Agg): KM curves by product with a number-at-risk table below, and
cumulative-incidence curves by product. Strata whose size or event count is suppressed are not drawn; at-risk
numbers go through the same suppression as the workbook. PNGs carry no software/date metadata, so the same
matplotlib version draws the same bytes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

from kocartr.release import outcomes
from kocartr.release.config import ReleaseConfig

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
TITLES = {
    "OS": "Overall survival",
    "PFS": "Progression-free survival",
    "NRM": "Non-relapse mortality",
    "SPM": "Secondary malignancy",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "kocartr", "font.size": 9, "path.simplify": False})
    return plt


def stratum_colors(con, config: ReleaseConfig, strata: list[str]) -> dict[str, str]:
    """One colour per product in every figure: the palette position is the product's rank in marts.dim_product
    (all products, published or not), so hiding a small product never shifts the others' colours. Strata that
    are not products (e.g. disease groups) follow, in sorted order."""
    table = config.mart("product")
    have = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND "
        "schema_name = 'marts' AND table_name = ? AND column_name = 'product_code'",
        [table],
    ).fetchone()[0]
    products = (
        [r[0] for r in con.execute(f'SELECT product_code FROM marts."{table}" ORDER BY product_code').fetchall()]
        if have
        else []
    )
    order = products + sorted(s for s in set(strata) if s not in products)
    return {s: COLORS[i % len(COLORS)] for i, s in enumerate(order)}


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=110, metadata={"Software": None}, format="png")


def write_figures(con, folder: Path, context: dict[str, Any], config: ReleaseConfig) -> list[dict[str, str]]:
    """Write the PNGs into `folder`; returns [{file, title, caption}] for the report."""
    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    sv = config.figure_stratum_variable
    dpm = config.days_per_month
    out: list[dict[str, str]] = []
    pub = outcomes.build_outcomes(con, config)
    for kind, endpoints, curves, all_summaries in (
        ("survival", config.km_endpoints, pub.km, pub.km_summary),
        ("cumulative_incidence", config.cif_endpoints, pub.cif, pub.cif_summary),
    ):
        if curves is None:
            continue
        for ep in endpoints:
            cs = curves.filter_endpoints([ep])
            if cs.is_empty():
                continue
            c = cs.curves
            summaries = [s for s in all_summaries if s.endpoint == ep]
            visible = {(s.stratum_variable, s.stratum) for s in summaries if not s.estimates_hidden}
            shown_sv = sv if not c.filter(c["stratum_variable"] == sv).is_empty() else "overall"
            grid = pub.at_risk(cs, config, stratum_variable=None if shown_sv == "overall" else shown_sv)
            # drawn: the overall curve, then each visible stratum of the figure's stratification
            keys = [("overall", "overall")] + [
                (shown_sv, st)
                for st in c.filter(c["stratum_variable"] == shown_sv)["stratum"].unique(maintain_order=True).to_list()
                if shown_sv != "overall"
            ]
            drawn = [k for k in keys if k in visible]
            not_drawn = [k[1] for k in keys if k not in visible]
            # x axis to the end of follow-up (HTA modellers want the tail), on the at-risk grid
            last = (c["time"].max() or 0) / dpm
            xmax = min(max(config.at_risk_months), max(12, math.ceil(last / 12) * 12))
            months = [m for m in config.at_risk_months if m <= xmax]
            rows = [r for r in grid if (r["stratum_variable"], r["stratum"]) in drawn]
            fig = plt.figure(figsize=(8.4, 5.2 + 0.22 * len(rows)))
            gs = fig.add_gridspec(
                2,
                1,
                height_ratios=[5.0, 0.9 + 0.28 * len(rows)],
                hspace=0.28,
                left=0.17,
                right=0.78,
                top=0.92,
                bottom=0.06,
            )
            ax = fig.add_subplot(gs[0])
            tab = fig.add_subplot(gs[1], sharex=ax)
            color = {}
            palette = stratum_colors(con, config, [k[1] for k in keys if k[0] != "overall"])
            for key in drawn:
                g = c.filter(
                    (c["stratum_variable"] == key[0]) & (c["stratum"] == key[1]) & pl.col("estimate").is_not_null()
                ).sort("time")
                g = g.with_columns(pl.col("lower").fill_null(float("nan")), pl.col("upper").fill_null(float("nan")))
                col = "#000000" if key[0] == "overall" else palette[key[1]]
                color[key] = col
                xs = [t / dpm for t in g["time"]]
                label = "All patients" if key[0] == "overall" else key[1]
                ax.step(
                    xs,
                    g["estimate"].to_list(),
                    where="post",
                    color=col,
                    label=label,
                    linewidth=1.2 if key[0] == "overall" else 1.5,
                    linestyle="--" if key[0] == "overall" else "-",
                )
                if key[0] != "overall" or len(drawn) == 1:
                    ax.fill_between(
                        xs, g["lower"].to_list(), g["upper"].to_list(), step="post", color=col, alpha=0.12, linewidth=0
                    )
            ax.set_xlim(0, xmax)
            # cumulative incidence: y axis fitted to the drawn curves and their CIs within the x range (a
            # suppressed stratum's wide CI must not stretch it), rounded up to 0.05
            dc = c.filter(
                pl.struct("stratum_variable", "stratum").map_elements(
                    lambda r: (r["stratum_variable"], r["stratum"]) in drawn, return_dtype=pl.Boolean
                )
                & (pl.col("time") <= xmax * dpm)
            )
            peak = max(
                [0.05]
                + [v for v in dc["upper"].to_list() + dc["estimate"].to_list() if v is not None and not math.isnan(v)]
            )  # 0.05 floor: curves flat at 0
            top = 1.0 if kind == "survival" else min(1.0, math.ceil(peak * 1.1 / 0.05) * 0.05)
            ax.set_ylim(0, top)
            ax.set_xticks(months)
            ax.set_ylabel("Probability" if kind == "survival" else "Cumulative incidence")
            ax.set_xlabel("Months since infusion")
            ax.set_title(f"{TITLES.get(ep, ep)} by {shown_sv} (data cut-off {context['cutoff']})")
            ax.grid(alpha=0.3)
            if drawn:
                ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
            else:
                ax.text(xmax / 2, top / 2, "all strata suppressed (small numbers)", ha="center", va="center")
            # number-at-risk table, on the same x axis
            tab.set_ylim(-0.6, max(1, len(rows)) - 0.4)
            for side in ("top", "right", "bottom", "left"):
                tab.spines[side].set_visible(False)
            tab.tick_params(axis="both", length=0, labelbottom=False, pad=16)
            tab.set_yticks(range(len(rows)))
            tab.set_yticklabels(
                ["All patients" if r["stratum_variable"] == "overall" else r["stratum"] for r in reversed(rows)],
                fontsize=7,
            )
            for lab, r in zip(tab.get_yticklabels(), reversed(rows)):
                lab.set_color(color.get((r["stratum_variable"], r["stratum"]), "#000000"))
            tab.set_title("Number at risk", loc="left", fontsize=8, fontweight="bold")
            for i, r in enumerate(rows):
                yy = len(rows) - 1 - i
                for mth in months:
                    v, hid = r["values"][mth]
                    tab.text(mth, yy, config.marker if hid else str(v), ha="center", va="center", fontsize=7)
            name = f"{'km' if kind == 'survival' else 'cif'}_{ep.lower()}_by_{shown_sv.lower()}.png"
            _save(fig, folder / name)
            plt.close(fig)
            caption = (
                f"{'Kaplan-Meier' if kind == 'survival' else 'Aalen-Johansen cumulative incidence'} "
                f"with 95% CI band; numbers at risk below ({config.marker} = suppressed)."
            )
            if not_drawn:
                caption += f" Not drawn (suppressed small groups): {', '.join(not_drawn)}."
            out.append(
                {
                    "file": f"figures/{name}",
                    "title": f"{TITLES.get(ep, ep)} by {shown_sv}",
                    "caption": caption,
                    "path": str(folder / name),
                }
            )
    return out
