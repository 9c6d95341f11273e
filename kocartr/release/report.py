"""The static HTML report of a release: one self-contained file (figures embedded as data: URIs, inline CSS, no
script, no network), with the outcome tables (suppressed like the workbook), the data-quality scorecard per site
(from the quality-gate summary) and follow-up completeness per site (suppressed).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from kocartr.release import outcomes
from kocartr.release.config import ReleaseConfig
from kocartr.release.suppression import suppress_event_table

CSS = """
body{font-family:"Noto Sans CJK KR","Noto Sans",Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em;border-bottom:2px solid #1f4e79}h2{font-size:1.25em;color:#1f4e79;margin-top:1.6em}
table{border-collapse:collapse;margin:0.6em 0;font-size:0.86em}
th,td{border:1px solid #bbb;padding:3px 7px;text-align:right}th{background:#ddebf7}
td.l,th.l{text-align:left}.meta td{text-align:left}.note{color:#555;font-size:0.85em}
figure{margin:1em 0}figcaption{font-size:0.85em;color:#444}img{max-width:100%;border:1px solid #ddd}
code{font-size:0.9em}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _table(headers: list[str], rows: Iterable[list[Any]], left: int = 1) -> str:
    out = ["<table><thead><tr>"]
    out += [f'<th class="{"l" if j < left else ""}">{_e(h)}</th>' for j, h in enumerate(headers)]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append(
            "<tr>" + "".join(f'<td class="{"l" if j < left else ""}">{_e(v)}</td>' for j, v in enumerate(r)) + "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f}%"


def _ci(lo: float | None, hi: float | None) -> str:
    return "" if lo is None and hi is None else f"{_pct(lo)} - {_pct(hi)}"


def _est_ci(e: float | None, lo: float | None, hi: float | None) -> str:
    """'80.0% (70.1% - 88.2%)'; the estimate alone when it has no CI (e.g. 100% before the first event), never
    an empty '()'."""
    if e is None:
        return ""
    ci = _ci(lo, hi)
    return f"{_pct(e)} ({ci})" if ci else _pct(e)


def _scorecard_cell(column: str, v: Any) -> str:
    """Scorecard values as a reader wants them: rates (floats, 0-1) as percentages, lists of failing checks as
    a comma-separated list, counts as they are."""
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v) or "none"
    if isinstance(v, (float, Decimal)) and 0 <= v <= 1 and not column.endswith(("_checks", "_failed")):
        return _pct(float(v))  # DuckDB DECIMAL rates arrive as Decimal
    return "" if v is None else str(v)


def _months(v: float | None, dpm: float) -> str:
    return "NR" if v is None else f"{v / dpm:.1f}"


def followup_completeness(con, config: ReleaseConfig, cutoff: str) -> tuple[list[str], list[list[Any]]] | None:
    table = config.mart("followup_schedule")
    have = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = "
            "'marts' AND table_name = ?",
            [table],
        ).fetchall()
    ]
    ws, cd = config.col(have, "window_start", required=False), config.col(have, "contact_date", required=False)
    if "site_code" not in have or ws is None or cd is None:
        return None
    due = f"{ws} <= CAST(? AS DATE)" + (" AND visit_state <> 'ENDED_BY_DEATH'" if "visit_state" in have else "")
    rows = con.execute(
        f"""SELECT site_code, count(*) FILTER (WHERE {due}) AS due,
                                  count(*) FILTER (WHERE {due} AND {cd} IS NOT NULL) AS done
                           FROM marts."{table}" GROUP BY ALL ORDER BY ALL""",
        [cutoff, cutoff],
    ).fetchall()
    overall = (sum(r[1] for r in rows), sum(r[2] for r in rows))
    per, (oh_n, oh_e) = suppress_event_table([(r[1], r[2]) for r in rows], overall, config.threshold)
    m = config.marker
    out = []
    for (site, due, done), (hn, he) in zip(list(rows) + [("All sites", *overall)], per + [(oh_n, oh_e)]):
        out.append(
            [
                site,
                m if hn else due,
                m if he else done,
                m if (hn or he) else (f"{100 * done / due:.1f}%" if due else ""),
            ]
        )
    return ["Site", "Visits due", "Visits with a contact", "Completeness"], out


def write_report(
    con, path: Path, context: dict[str, Any], config: ReleaseConfig, figures: list[dict[str, str]]
) -> None:
    cut = context["cutoff"]
    dpm = config.days_per_month
    m = config.marker
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Ko-CARTR release {cut}</title><style>{CSS}</style></head><body>",
        f"<h1>Ko-CARTR release report &mdash; data cut-off {cut}</h1>",
        _table(
            ["Item", "Value"],
            [
                ["Data cut-off", cut],
                ["Manifest hash (tables_sha256)", context["tables_sha256"]],
                ["Data dictionary version", context["dictionary_version"]],
                ["Code version (kocartr)", context.get("package_version", "")],
                [
                    "Small-cell suppression",
                    f"counts 1-{config.threshold - 1} hidden with complementary suppression"
                    f" ({m}), audited by linear programming: no hidden count can be narrowed"
                    f" to fewer than {config.threshold} values from published totals and zeros",
                ],
            ],
            left=2,
        ).replace("<table>", '<table class="meta">'),
    ]
    # figures
    parts.append("<h2>Figures</h2>")
    if not figures:
        parts.append('<p class="note">No analysis curves in this release.</p>')
    for f in figures:
        data = base64.b64encode(Path(f["path"]).read_bytes()).decode()
        parts.append(
            f'<figure><img alt="{_e(f["title"])}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(f['title'])}. {_e(f['caption'])}</figcaption></figure>"
        )
    # outcome tables
    parts.append("<h2>Survival (Kaplan-Meier)</h2>")
    pub = outcomes.build_outcomes(con, config)
    if pub.km is not None:
        rows = []
        for s in pub.km_summary:
            h = s.estimates_hidden
            row = [
                s.endpoint,
                s.stratum_variable,
                s.stratum,
                m if s.n_hidden else s.n,
                m if s.events_hidden else s.events,
                m if h else f"{_months(s.median[0], dpm)} ({_months(s.median[1], dpm)} - {_months(s.median[2], dpm)})",
            ]
            for mth in config.landmarks_months:
                e, lo, hi = s.landmarks[mth]
                row.append(m if h else _est_ci(e, lo, hi))
            rows.append(row)
        parts.append(
            _table(
                ["Endpoint", "Stratified by", "Stratum", "N", "Events", "Median, months (95% CI)"]
                + [f"{x} months (95% CI)" for x in config.landmarks_months],
                rows,
                left=3,
            )
        )
    else:
        parts.append('<p class="note">Not available.</p>')
    parts.append("<h2>CRS and ICANS grade &ge; 3</h2>")
    if pub.rates:
        rows = []
        for r in pub.rates:
            h = r.n_hidden or r.events_hidden
            rows.append(
                [
                    r.endpoint,
                    r.stratum_variable,
                    r.stratum,
                    m if r.n_hidden else r.n,
                    m if r.events_hidden else r.events,
                    m if h else _pct(r.estimate),
                    m if h else _ci(r.lower, r.upper),
                ]
            )
        parts.append(
            _table(["Endpoint", "Stratified by", "Stratum", "N", "Events", "Proportion", "95% CI"], rows, left=3)
        )
    parts.append("<h2>Cumulative incidence (NRM, secondary malignancy)</h2>")
    if pub.cif is not None:
        rows = []
        for s in pub.cif_summary:
            h = s.estimates_hidden
            row = [
                s.endpoint,
                s.stratum_variable,
                s.stratum,
                m if s.n_hidden else s.n,
                m if s.events_hidden else s.events,
            ]
            for mth in config.landmarks_months:
                e, lo, hi = s.landmarks[mth]
                row.append(m if h else _est_ci(e, lo, hi))
            rows.append(row)
        parts.append(
            _table(
                ["Endpoint", "Stratified by", "Stratum", "N", "Events"]
                + [f"{x} months (95% CI)" for x in config.landmarks_months],
                rows,
                left=3,
            )
        )
    # data quality
    parts.append("<h2>Data quality per site (scorecard)</h2>")
    qs = context.get("quality_summary") or {}
    sites = context.get("scorecard") or qs.get("sites") or qs.get("scorecard")
    if sites:
        cols = list(sites[0].keys())
        parts.append(_table(cols, [[_scorecard_cell(c, s.get(c)) for c in cols] for s in sites]))
        parts.append(
            '<p class="note">Latest month on or before the cut-off per site (audit.dq_scorecard, '
            "expectations/scorecard.py): completeness of key variables, follow-up timeliness, quarantine "
            "rate, plausibility checks (rates as percentages), and the checks failing at the site (its own failing share over the "
            "rule's threshold, even when the check passes for all sites together).</p>"
        )
    else:
        parts.append(
            '<p class="note">No per-site scorecard: neither audit.dq_scorecard in the warehouse nor '
            'quality_summary["sites"].</p>'
        )
    other = {k: v for k, v in qs.items() if k not in ("sites", "scorecard")}
    if other:
        parts.append(_table(["Quality gate", "Value"], [[k, v] for k, v in sorted(other.items())]))
    parts.append("<h2>Follow-up completeness per site</h2>")
    fc = followup_completeness(con, config, cut)
    if fc is None:
        parts.append('<p class="note">Follow-up schedule not available.</p>')
    else:
        parts.append(_table(fc[0], fc[1]))
        parts.append(
            '<p class="note">Scheduled visits (day 100, month 6, then yearly) whose window opened by the '
            "cut-off, and how many have a reported contact.</p>"
        )
    parts.append(
        f'<p class="note">Ko-CARTR &middot; release {cut} &middot; see README.md and manifest.json '
        "in this folder.</p></body></html>\n"
    )
    path.write_text("".join(parts), encoding="utf-8")
