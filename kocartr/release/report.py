"""The HTML report of a release: one self-contained file (figures and a Korean font subset embedded as data: URIs,
inline CSS, no script, no network), in English and Korean.

Rendered with Jinja2 templates (kocartr/release/templates/report.html.j2, labels.yaml). Jinja2 rather than
great-tables: the report is mostly structure (flow diagram, bilingual headings, figures, notes) around plain tables
with suppressed cells, which a template expresses directly with autoescaping; Jinja2 is already installed (a
Dagster dependency), whereas great-tables would add a package (and its pandas/polars styling layer) for tables we
style with a few lines of CSS. The language switch is CSS only (`#ko` / `#en` in the address; both by default).

Sections: patient flow, Table 1, median follow-up, survival and cumulative incidence (tables by disease group and
product, figures), response rates, CRS/ICANS/ICAHT, late effects, secondary malignancy SIR, methods, data
quality per site, follow-up completeness.
Products are shown by their names (marts.dim_product); every patient count is suppressed (marker from release.yaml).
"""

from __future__ import annotations

import base64
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from analyses.plan import Label
from kocartr.release import outcomes
from kocartr.release.config import ReleaseConfig
from kocartr.release.report_tables import (
    Table,
    Text,
    code_text,
    columns,
    median_followup,
    patient_flow,
    pooled_label,
    pooled_names,
    table_one,
)
from kocartr.release.suppression import suppress_event_table

TEMPLATES = Path(__file__).parent / "templates"
SHOWN_STRATA = ("DISGRP", "PRODUCT")  # no pooled row across disease groups


@lru_cache(maxsize=1)
def load_labels() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((TEMPLATES / "labels.yaml").read_text(encoding="utf-8"))


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


def product_names(con, config: ReleaseConfig) -> dict[str, str]:
    """product_code -> display name from marts.dim_product (product_label), the code where no label."""
    table = config.mart("product")
    pooled = {c: t.en for c, t in pooled_names("PRODUCT").items()}
    if "product_label" not in columns(con, "marts", table):
        return pooled
    sql = f'SELECT product_code, product_label FROM marts."{table}"'
    return {**pooled, **{c: (lbl or c) for c, lbl in con.execute(sql).fetchall()}}


def stratum_name(sv: str, stratum: str, names: dict[str, str]) -> Any:
    if sv == "DISGRP":
        return code_text(load_labels(), "disease_group", stratum)
    if sv == "PRODUCT":
        return pooled_label("PRODUCT", stratum) or names.get(stratum, stratum)
    return stratum


def _lab(key: str) -> Text:
    return Text(**load_labels()[key])


def _endpoint(ep: str) -> Text:
    """Endpoint / toxicity / late-effect names from the analysis plan, else the report's labels (response windows)."""
    from analyses.plan import load_plan

    plan = load_plan()
    if plan.has_label(ep):
        lbl = plan.label(ep)
        return Text(lbl.en, lbl.ko)
    entry = load_labels().get(f"ep_{ep}")
    return Text(**entry) if entry else Text(ep, ep)


def survival_table(pub: outcomes.PublishedOutcomes, config: ReleaseConfig, names: dict, kind: str) -> Table | None:
    summaries = pub.km_summary if kind == "km" else pub.cif_summary
    if (pub.km if kind == "km" else pub.cif) is None:
        return None
    m, dpm = config.marker, config.days_per_month
    rows = []
    for s in summaries:
        if s.stratum_variable not in SHOWN_STRATA:
            continue
        h = s.estimates_hidden
        row = [
            _endpoint(s.endpoint),
            _lab(f"by_{s.stratum_variable}"),
            stratum_name(s.stratum_variable, s.stratum, names),
            m if s.n_hidden else str(s.n),
            m if s.events_hidden else str(s.events),
        ]
        if kind == "km":
            md = s.median
            row.append(m if h else f"{_months(md[0], dpm)} ({_months(md[1], dpm)} - {_months(md[2], dpm)})")
        row += [m if h else _est_ci(*s.landmarks[x]) for x in config.landmarks_months]
        rows.append(row)
    headers = [_lab(k) for k in ("endpoint", "stratified_by", "stratum", "n", "events")]
    headers += [_lab("median_months")] if kind == "km" else []
    headers += [_lab("at_months").format(m=x) for x in config.landmarks_months]
    return Table(headers, rows, 3)


def _rate_rows(pub, endpoint: str, measures: list[str], sv: str, m: str) -> list:
    """Per stratum of `sv`: N evaluable, then 'k (p%) [CI]' per measure; counts as suppressed by build_outcomes
    (all strata of the measure jointly, sizes shared with the other published tables)."""
    by_measure = {
        meas: {i.stratum: i for i in pub.by_measure.get((endpoint, meas), []) if i.stratum_variable == sv}
        for meas in measures
    }
    out = []
    for stratum in sorted(by_measure[measures[0]]):
        first = by_measure[measures[0]][stratum]
        cells: list[Any] = [stratum, m if first.n_hidden else str(first.n)]
        for meas in measures:
            r = by_measure[meas].get(stratum)
            if r is None or r.n_hidden or r.events_hidden:
                cells.append(m)
            else:
                ci = f" [{_ci(r.lower, r.upper)}]" if r.lower is not None else ""
                cells.append(f"{r.events} ({_pct(r.estimate)}){ci}")
        out.append(cells)
    return out


def rate_tables(con, config: ReleaseConfig, names: dict, pub, endpoints: list[str], measures: list[str]):
    """One table per endpoint. Rows by disease group and product where the table has them (response: the
    criteria differ by disease), else by product with the disease group(s) of its patients (adam.adsl)."""
    props = outcomes.read_proportions(con, config)
    if props is None:
        return []
    groups = _product_groups(con)
    labels = load_labels()
    out = []
    for ep in endpoints:
        nested = not props.filter(
            (props["endpoint"] == ep) & (props["stratum_variable"] == "DISGRP/PRODUCT")
        ).is_empty()
        sv = "DISGRP/PRODUCT" if nested else "PRODUCT"
        rows = _rate_rows(pub, ep, measures, sv, config.marker)
        if not rows:
            continue
        for r in rows:
            grp, _, code = r[0].rpartition("/") if nested else ("", "", r[0])
            gs = [code_text(labels, "disease_group", grp)] if nested else groups.get(code, [])
            r[0:1] = [Text(", ".join(g.en for g in gs), ", ".join(g.ko for g in gs)), names.get(code, code)]
        rows.sort(key=lambda r: (r[0].en, str(r[1])))
        headers = [_lab("disease_group"), _lab("product"), _lab("evaluable")] + [_lab(x) for x in measures]
        out.append(Table(headers, rows, 2, caption=_endpoint(ep)))
    return out


def _rate_spec(config: ReleaseConfig, table: str) -> tuple[list[str], list[str]]:
    """Endpoints and measures of one of the report's rate tables (analysis plan `publish.report_rates`)."""
    spec = next((t for t in config.plan.report_rates if t.table == table), None)
    return (list(spec.endpoints), list(spec.measures)) if spec else ([], [])


def _min_size(config: ReleaseConfig) -> int | str:
    rec = config.plan.recoding
    return rec.min_stratum_size if rec else "-"


def recoding_table(con, names: dict[str, str]) -> Table | None:
    """The categories published under a pooled one (analysis.publication_recoding), with the rule; no counts."""
    rows = outcomes.read_recoding(con)
    if not rows:
        return None
    labels = load_labels()
    body = [
        [
            code_text(labels, "disease_group", r["DISGRP"]),
            names.get(r["PRODUCT"], r["PRODUCT"]),
            code_text(labels, "disease_group", r["DISGRP_PUB"]),
            pooled_label("PRODUCT", r["PRODUCT_PUB"]) or names.get(r["PRODUCT_PUB"], r["PRODUCT_PUB"]),
            r["rule"],
        ]
        for r in rows
    ]
    headers = [_lab(k) for k in ("recode_group", "recode_product", "recode_group_pub", "recode_product_pub")]
    return Table([*headers, _lab("recode_rule")], body, 4)


def _product_groups(con) -> dict[str, list[Text]]:
    if not {"PRODUCT", "DISGRP", "INFFL"} <= columns(con, "adam", "adsl"):
        return {}
    out: dict[str, list[Text]] = {}
    src = outcomes.published_adsl(con)
    for prod, grp in con.execute(
        f"SELECT DISTINCT a.PRODUCT, a.DISGRP FROM {src} WHERE a.INFFL = 'Y' AND a.PRODUCT IS NOT NULL ORDER BY ALL"
    ).fetchall():
        out.setdefault(prod, []).append(code_text(load_labels(), "disease_group", grp or "(not reported)"))
    return out


def followup_completeness(con, config: ReleaseConfig, cutoff: str) -> tuple[list[str], list[list[Any]]] | None:
    table = config.mart("followup_schedule")
    have = columns(con, "marts", table)
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


def quality_tables(context: dict[str, Any]) -> tuple[Table | None, Table | None]:
    qs = context.get("quality_summary") or {}
    sites = context.get("scorecard") or qs.get("sites") or qs.get("scorecard")
    score = None
    if sites:
        cols = list(sites[0].keys())
        score = Table(cols, [[_scorecard_cell(c, s.get(c)) for c in cols] for s in sites])
    other = {k: v for k, v in qs.items() if k not in ("sites", "scorecard")}
    gate = Table(["Quality gate", "Value"], [[k, str(v)] for k, v in sorted(other.items())]) if other else None
    return score, gate


def _figures(figures: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for f in figures:
        data = base64.b64encode(Path(f["path"]).read_bytes()).decode()
        out.append({**f, "src": f"data:image/png;base64,{data}"})
    return out


def _min_days() -> int:
    from analyses.outcomes import load_evaluability

    ev = load_evaluability()
    return max(ev.get("CRS", 0), ev.get("ICANS", 0))


# ---------------------------------------------------------------------------------------------------------
# late effects and secondary-malignancy SIR: the workbook's rows and suppression (late_effects_sheet, sir_sheet)


def _cell_text(c: Any, marker: str) -> Any:
    """A workbook Cell as report text: the marker when hidden, counts as integers, estimates rounded, a plan Label
    (the late effects' Detail) in both languages."""
    if c.hidden:
        return marker
    if c.value is None:
        return ""
    if isinstance(c.value, Label):
        return Text(c.value.en, c.value.ko)
    fmt = {"count": lambda v: str(int(v)), "pct": _pct, "dec": lambda v: f"{v:.1f}", "dec2": lambda v: f"{v:.2f}"}
    return fmt.get(c.kind, str)(c.value)


def _bi_header(h: str) -> Text:
    en, _, ko = h.partition(" / ")
    return Text(en, ko or en)


def _keys_text(row: list, names: dict[str, str]) -> list[Any]:
    """Endpoint, stratified by, stratum (cells 1-3 of a workbook row) as the report names them."""
    labels = load_labels()
    sv, stratum = row[2].value, row[3].value
    by = Text(**labels[f"by_{sv}"]) if f"by_{sv}" in labels else sv
    shown = Text(**labels["by_overall"]) if sv == "overall" else stratum_name(sv, stratum, names)
    ep = _endpoint(row[1].value)
    return [ep.en if ep.en == ep.ko else ep, by, shown]  # an unlabelled code once, not 'X / X'


def late_effects_tables(
    con, config: ReleaseConfig, names: dict[str, str], pub: outcomes.PublishedOutcomes | None = None
) -> list[Table]:
    """One table per late-effect analysis table, overall and by product, from the HTA workbook's Late effects rows
    (kocartr.release.late_effects_sheet: the same rows and the same suppression, with the release's joint decision
    on stratum sizes `pub` as the workbook has it; no second suppression here)."""
    from kocartr.release.late_effects_sheet import HEADERS, late_effect_rows

    by_table: dict[str, list[list[Any]]] = {}
    for row in late_effect_rows(con, config.threshold, pub):
        if row[2].value not in ("overall", "PRODUCT"):
            continue
        cells = _keys_text(row, names) + [_cell_text(c, config.marker) for c in row[4:]]
        by_table.setdefault(row[0].value, []).append(cells)
    headers = [_bi_header(h) for h in HEADERS[1:]]
    return [Table(headers, rows, 5, caption=_lab(f"late_{name}")) for name, rows in by_table.items()]


def sir_report_table(con, config: ReleaseConfig, names: dict[str, str]) -> dict[str, Any] | None:
    """analysis.sir overall and by product (kocartr.release.sir_sheet rows and suppression), with the reference
    rates' source and whether they are synthetic."""
    from kocartr.release.sir_sheet import HEADERS, is_synthetic, sir_rows

    rows = sir_rows(con, config.threshold)
    if not rows:
        return None
    sources = sorted({str(r[-1].value) for r in rows if r[-1].value})
    body = [_keys_text(r, names) + [_cell_text(c, config.marker) for c in r[4:-1]] for r in rows]
    source = "; ".join(sources)
    return {
        "table": Table([_bi_header(h) for h in HEADERS[1:-1]], body, 3),
        "synthetic": any(is_synthetic(x) for x in sources),
        "note": _lab("sir_note").format(max=config.threshold - 1, marker=config.marker, source=source),
    }


def report_context(
    con,
    context: dict[str, Any],
    config: ReleaseConfig,
    figures: list[dict[str, str]],
    pub: outcomes.PublishedOutcomes | None = None,
) -> dict:
    """Everything the template shows, suppressed. `pub`: outcomes.build_outcomes(con, config) when the caller has
    it already (built here otherwise)."""
    from datetime import date

    cut = context["cutoff"]
    names = product_names(con, config)
    pub = pub if pub is not None else outcomes.build_outcomes(con, config)
    labels = load_labels()
    fc = followup_completeness(con, config, cut)
    score, gate = quality_tables(context)
    min_days = _min_days()
    return {
        "L": {k: Text(**v) for k, v in labels.items() if isinstance(v, dict) and set(v) == {"en", "ko"}},
        "methods": [
            Text(**x).format(max=config.threshold - 1, marker=config.marker, min=_min_size(config))
            for x in labels["methods_items"]
        ],
        "pooled_note": Text(**labels["pooled_note"]).format(min=_min_size(config)),
        "cutoff": cut,
        "meta": context,
        "config": config,
        "max_hidden": config.threshold - 1,
        "flow": patient_flow(con, config, labels, date.fromisoformat(str(cut)), min_days),
        "min_days": min_days,
        "table_one": table_one(con, config, labels, names, pub.sizes_hidden),
        "followup": median_followup(con, config, labels, names, pub),
        "survival": survival_table(pub, config, names, "km"),
        "cif": survival_table(pub, config, names, "cif"),
        "figures": _figures(figures),
        "response": rate_tables(con, config, names, pub, *_rate_spec(config, "response")),
        "toxicity": rate_tables(con, config, names, pub, *_rate_spec(config, "toxicity")),
        "recoding": recoding_table(con, names),
        "scorecard": score,
        "gate": gate,
        "completeness": Table(fc[0], fc[1]) if fc else None,
        # with the release's decision: a size hidden jointly in the workbook must not be shown here
        "late_effects": late_effects_tables(con, config, names, pub),
        "sir": sir_report_table(con, config, names),
    }


def render(ctx: dict[str, Any]) -> str:
    import jinja2

    from kocartr.release.fonts import FONT_FAMILY, font_face_css

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.tests["text"] = lambda v: isinstance(v, Text)
    template = env.get_template("report.html.j2")
    body = template.render(**ctx, font_css="", font_family=FONT_FAMILY, font_embedded=False)
    css, embedded = font_face_css(body)  # subset to the characters the page uses
    return template.render(**ctx, font_css=css, font_family=FONT_FAMILY, font_embedded=embedded)


def write_report(
    con,
    path: Path,
    context: dict[str, Any],
    config: ReleaseConfig,
    figures: list[dict[str, str]],
    pub: outcomes.PublishedOutcomes | None = None,
) -> None:
    path.write_text(render(report_context(con, context, config, figures, pub)), encoding="utf-8")
