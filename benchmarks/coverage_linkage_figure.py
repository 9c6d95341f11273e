"""Figure: OS at 24 months with and without national death linkage against the generating truth.

    .venv/bin/python benchmarks/coverage_linkage_figure.py [results/coverage-linkage.json]

Reads a coverage_study.py results file (which scores OS, censored as configured, and OS_LC, censored at last
contact) and writes benchmarks/results/coverage-linkage.png: per seed, both estimates with their 95% CI and the
params.json and design-matched truths.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = json.loads(path.read_text(encoding="utf-8"))["records"]
    rows = [r for r in recs if r["stratum"] == "overall" and r["quantity"].startswith("OS at 24 months")]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for i, r in enumerate(sorted(rows, key=lambda r: (r["seed"], r["quantity"]))):
        lc = "last contact" in r["quantity"]
        ax.errorbar(
            r["estimate"],
            i,
            xerr=[[r["estimate"] - r["lower_95"]], [r["upper_95"] - r["estimate"]]],
            fmt="o",
            color="tab:red" if lc else "tab:blue",
            label=("censored at last contact (OS_LC)" if lc else "censored where status known (OS, linkage)"),
        )
        ax.plot([r["truth"]], [i], "k|", markersize=14, label="truth (params.json)")
        if r.get("truth_matched") is not None:
            ax.plot([r["truth_matched"]], [i], "g|", markersize=14, label="truth (design-matched)")
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="lower left")
    ax.set_yticks(
        range(len(rows)), [f"seed {r['seed']}" for r in sorted(rows, key=lambda r: (r["seed"], r["quantity"]))]
    )
    ax.set_xlabel("OS at 24 months (Kaplan-Meier, 95% CI)")
    ax.set_title("National death linkage: OS at 24 months vs the generating truth", fontsize=9)
    fig.tight_layout()
    out = HERE / "results" / "coverage-linkage.png"
    fig.savefig(out, dpi=120)
    return out


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results" / "coverage-linkage.json"))
