"""Report sections built from patient-level data of the release: the patient flow (marts.dim_patient), Table 1
(adam.adsl, by disease group then product) and median follow-up (analysis.median_followup). Every count goes
through kocartr.release.suppression; a cell shows the configured marker when hidden.

Cells are plain strings or `Text` (a label in English and Korean); the template renders both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from analyses.plan import MISSING
from kocartr.release.config import ReleaseConfig
from kocartr.release.suppression import is_small, nested_key, suppress_table, suppress_vector

NOT_REPORTED = "(not reported)"


@dataclass(frozen=True)
class Text:
    en: str
    ko: str

    def format(self, **kw: Any) -> Text:
        return Text(self.en.format(**kw), self.ko.format(**kw))


@dataclass
class Table:
    headers: list[Any]
    rows: list[list[Any]]
    left: int = 1
    group_rows: set[int] = field(default_factory=set)  # row indexes rendered as a sub-heading
    caption: Any = None


def columns(con, schema: str, table: str) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = ? "
            "AND table_name = ?",
            [schema, table],
        ).fetchall()
    }


def pct(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.1f}%)" if n else str(k)


def quartiles(values: list[Any]) -> tuple[float, float, float] | None:
    """Median and quartiles (Hyndman-Fan type 7, as analyses.rates)."""
    import numpy as np

    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return None
    q = np.quantile(v, [0.5, 0.25, 0.75])  # numpy's default 'linear' is type 7
    return float(q[0]), float(q[1]), float(q[2])


def median_iqr(values: list[Any], digits: int = 0) -> str:
    q = quartiles(values)
    return "" if q is None else f"{q[0]:.{digits}f} ({q[1]:.{digits}f}-{q[2]:.{digits}f})"


# ---------------------------------------------------------------------------------------------------------
# patient flow


@dataclass
class FlowStep:
    label: Text
    total: str
    by_group: list[tuple[Text, str]]
    exclusion: Text | None = None
    exclusion_total: str = ""
    reasons: list[tuple[Text, str]] = field(default_factory=list)


def _flow_counts(con, min_days: int, cutoff: date) -> list[dict[str, Any]] | None:
    have = columns(con, "marts", "dim_patient")
    need = {"cart_order_date", "is_infused", "first_infusion_date", "disease_group"}
    if not need <= have:
        return None
    leuk = "first_leukapheresis_date IS NOT NULL" if "first_leukapheresis_date" in have else "false"
    reason = "not_infused_reason" if "not_infused_reason" in have else "NULL"
    last = cutoff - timedelta(days=min_days)
    return [
        dict(zip(("group", "ordered", "apheresed", "infused", "evaluable", "reason"), r))
        for r in con.execute(
            f"""SELECT coalesce(disease_group, '(not reported)'), cart_order_date IS NOT NULL OR is_infused,
                       {leuk} OR is_infused, is_infused, is_infused AND first_infusion_date <= ?, {reason}
                FROM marts.dim_patient""",
            [last],
        ).fetchall()
    ]


def _shown(values: list[int], total: int, config: ReleaseConfig) -> tuple[list[str], str]:
    hidden, total_hidden = suppress_vector(values, total, config.threshold)
    m = config.marker
    return [m if h else str(v) for v, h in zip(values, hidden)], (m if total_hidden else str(total))


def patient_flow(con, config: ReleaseConfig, labels: dict, cutoff: date, min_days: int) -> list[FlowStep] | None:
    """Registration -> order -> apheresis -> infusion -> evaluable, per disease group, with reasons for leaving."""
    pts = _flow_counts(con, min_days, cutoff)
    if pts is None:
        return None
    groups = sorted({p["group"] for p in pts})
    glabel = [code_text(labels, "disease_group", g) for g in groups]
    stages = [
        ("flow_registered", lambda p: True, None),
        ("flow_ordered", lambda p: p["ordered"], "flow_no_order"),
        ("flow_apheresis", lambda p: p["apheresed"], "flow_no_apheresis"),
        ("flow_infused", lambda p: p["infused"], "flow_not_infused"),
        ("flow_evaluable", lambda p: p["evaluable"], "flow_not_evaluable"),
    ]
    steps: list[FlowStep] = []
    previous = pts
    for key, keep, out_key in stages:
        now = [p for p in previous if keep(p)]
        per, total = _shown([sum(1 for p in now if p["group"] == g) for g in groups], len(now), config)
        step = FlowStep(Text(**labels[key]), total, list(zip(glabel, per)))
        if out_key:
            left = [p for p in previous if not keep(p)]
            step.exclusion = Text(**labels[out_key]).format(days=min_days)
            if key in ("flow_apheresis", "flow_infused"):
                codes = sorted({p["reason"] or "" for p in left})
                shown, ex_total = _shown(
                    [sum(1 for p in left if (p["reason"] or "") == c) for c in codes], len(left), config
                )
                step.exclusion_total = ex_total
                step.reasons = [
                    (code_text(labels, "not_infused_reason", c) if c else Text(**labels["flow_pending"]), s)
                    for c, s in zip(codes, shown)
                ]
            else:
                step.exclusion_total = _shown([len(left)], len(left), config)[1]
        steps.append(step)
        previous = now
    return steps


POOLED_VARIABLE = {"disease_group": "DISGRP", "product": "PRODUCT"}  # code list -> stratifier the plan recodes


def pooled_names(variable: str) -> dict[str, Text]:
    """The pooled publication category of a stratifier, {code: names} (analysis plan `publication_recoding`: "Other /
    unknown", "Other (pooled)"); {} when the plan does not recode the variable. Every release lookup goes here."""
    from analyses.plan import load_plan

    rec = load_plan().recoding
    v = rec.variables.get(variable) if rec is not None else None
    return {v.code: Text(v.label.en, v.label.ko)} if v is not None else {}


def pooled_label(variable: str, code: str | None) -> Text | None:
    """Names of a pooled publication category, None for other codes."""
    return pooled_names(variable).get(str(code))


def code_text(labels: dict, code_list: str, code: str | None) -> Text:
    if code in (None, NOT_REPORTED, MISSING):
        return Text(**labels["t1_missing"])
    pooled = pooled_label(POOLED_VARIABLE[code_list], code) if code_list in POOLED_VARIABLE else None
    if pooled is not None:
        return pooled
    entry = labels.get("codes", {}).get(code_list, {}).get(code)
    return Text(**entry) if entry else Text(str(code), str(code))


# ---------------------------------------------------------------------------------------------------------
# Table 1


def _adsl(con) -> list[dict[str, Any]] | None:
    have = columns(con, "adam", "adsl")
    if not {"USUBJID", "INFFL", "PRODUCT", "DISGRP", "AGE"} <= have:
        return None
    optional = ["SEX", "ECOG", "PRIORLN", "PRIORHCT", "BRIDGFL", "HTXANC", "HTXHGB", "HTXPLT", "HTXCRP", "HTXFERR"]
    cols = ["USUBJID", "PRODUCT", "DISGRP", "AGE"] + [c for c in optional if c in have]
    status = ""
    if {"patient_key", "baseline_disease_status", "infusion_number"} <= columns(con, "marts", "fct_infusion"):
        status = """, (SELECT baseline_disease_status FROM marts.fct_infusion f WHERE f.patient_key = a.USUBJID
                       ORDER BY infusion_number LIMIT 1) AS STATUS"""
    from kocartr.release.outcomes import published_adsl

    q = f"SELECT {', '.join('a.' + c for c in cols)}{status} FROM {published_adsl(con)} WHERE a.INFFL = 'Y'"
    cur = con.execute(q)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _categorical(
    pats: list[list[dict]], var: str, levels: list[Any], sizes_hidden: list[bool], config, group_hidden: bool = False
) -> list[list[str]]:
    """Rows (one per level) x columns (one per product), counts with % of the column, suppressed as a two-way
    table whose margins (product N, level totals of the disease group) are published. A hidden group size hides
    the group column (its percentages would give the size back)."""
    cells = [[sum(1 for p in col if p.get(var) == lv) for lv in levels] for col in pats]
    res = suppress_table(cells, config.threshold, rows_pre_hidden=sizes_hidden, grand_pre_hidden=group_hidden)
    m = config.marker
    out = []
    for j, _lv in enumerate(levels):
        row = []
        for i, col in enumerate(pats + [sum(pats, [])]):
            if i < len(pats):
                k, h = cells[i][j], res.cells[i][j] or res.row_totals[i]
            else:
                k, h = sum(c[j] for c in cells), res.col_totals[j] or res.grand_total
            row.append(m if h else pct(k, len(col)))
        out.append(row)
    return out


def _continuous(pats: list[list[dict]], var: str, hidden: list[bool], m: str, digits: int = 0) -> list[str]:
    cols = pats + [sum(pats, [])]
    flags = hidden + [False]
    return [m if h else median_iqr([p.get(var) for p in col], digits) for col, h in zip(cols, flags)]


def table_one(con, config: ReleaseConfig, labels: dict, names: dict[str, str], sizes: dict) -> list[Table] | None:
    """One table per disease group: columns = products (display names) + the disease group."""
    pts = _adsl(con)
    if pts is None:
        return None
    L = lambda k: Text(**labels[k])  # noqa: E731
    m = config.marker
    out = []
    for grp in sorted({p["DISGRP"] or "(not reported)" for p in pts}):
        gp = [p for p in pts if (p["DISGRP"] or "(not reported)") == grp]
        products = sorted({p["PRODUCT"] for p in gp}, key=str)
        cols = [[p for p in gp if p["PRODUCT"] == pr] for pr in products]
        gtext = code_text(labels, "disease_group", grp)
        # the joint decision (outcomes.joint_sizes) on the product-within-group cells and the group size; the
        # vector pass only adds hiding should the counts differ from it
        key = grp if grp != NOT_REPORTED else MISSING
        g_hidden = bool(sizes.get(("DISGRP", key)))
        n_hidden, total_hidden = suppress_vector(
            [len(c) for c in cols],
            len(gp),
            config.threshold,
            pre_hidden=[bool(sizes.get(nested_key(key, str(pr)))) for pr in products],
            total_pre_hidden=g_hidden,
        )
        g_hidden |= total_hidden
        headers = [L("t1_characteristic")] + [names.get(str(pr), str(pr)) for pr in products]
        headers.append(
            Text(
                labels["t1_all_group"]["en"].format(group=gtext.en), labels["t1_all_group"]["ko"].format(group=gtext.ko)
            )
        )
        if is_small(len(gp), config.threshold):  # a disease group of 1-4 patients: nothing of it is shown
            out.append(Table(headers, [[L("t1_n")] + [m] * (len(cols) + 1)], 1, set(), gtext))
            continue
        rows: list[list[Any]] = [
            [L("t1_n")] + [m if h else str(len(c)) for c, h in zip(cols, n_hidden)] + [m if g_hidden else str(len(gp))]
        ]
        group_rows: set[int] = set()
        rows.append([L("t1_age")] + _continuous(cols, "AGE", n_hidden, m))
        for p in gp:
            p["AGE65"] = "Y" if (p.get("AGE") or 0) >= 65 else "N"
        rows.append([L("t1_age65")] + _categorical(cols, "AGE65", ["Y"], n_hidden, config, g_hidden)[0])
        for var, key, code_list, levels in _categorical_vars(gp):
            group_rows.add(len(rows))
            rows.append([L(key)] + [""] * (len(cols) + 1))
            for lv, r in zip(levels, _categorical(cols, var, levels, n_hidden, config, g_hidden)):
                rows.append([_level_text(labels, code_list, lv)] + r)
        if "PRIORLN" in gp[0]:
            rows.append([L("t1_prior_lines")] + _continuous(cols, "PRIORLN", n_hidden, m))
        htx = [v for v in ("HTXANC", "HTXHGB", "HTXPLT", "HTXCRP", "HTXFERR") if v in gp[0]]
        if htx:
            group_rows.add(len(rows))
            rows.append([L("t1_htx")] + [""] * (len(cols) + 1))
            for v in htx:
                rows.append([code_text(labels, "htx", v)] + _continuous(cols, v, n_hidden, m, 1))
        out.append(Table(headers, rows, 1, group_rows, gtext))
    return out


def _categorical_vars(gp: list[dict]) -> list[tuple[str, str, str, list[Any]]]:
    spec = [
        ("SEX", "t1_sex", "sex"),
        ("ECOG", "t1_ecog", ""),
        ("PRIORHCT", "t1_prior_hct", "hct_type"),
        ("BRIDGFL", "t1_bridging", "yes_no"),
        ("STATUS", "t1_status", "disease_status_baseline"),
    ]
    out = []
    for var, key, code_list in spec:
        if var not in gp[0]:
            continue
        levels = sorted({p[var] for p in gp if p[var] is not None}, key=str)
        if any(p[var] is None for p in gp):
            levels.append(None)
        out.append((var, key, code_list, levels))
    return out


def _level_text(labels: dict, code_list: str, level: Any) -> Text:
    if level is None:
        return Text(**labels["t1_missing"])
    if code_list == "yes_no":
        return Text(**labels["t1_yes" if level == "Y" else "t1_no"])
    return code_text(labels, code_list, level) if code_list else Text(f"ECOG {level}", f"ECOG {level}")


# ---------------------------------------------------------------------------------------------------------
# median follow-up


def _months(v: float | None) -> str:
    return "NR" if v is None else f"{v:.1f}"


def median_followup(con, config: ReleaseConfig, labels: dict, names: dict[str, str], pub: Any) -> Table | None:
    """By disease group and by product (no pooled row); n and the alive count as suppressed by build_outcomes
    (one joint decision with the outcome tables)."""
    if not columns(con, "analysis", "median_followup"):
        return None
    m = config.marker
    rows: list[list[Any]] = []
    for sv in ("DISGRP", "PRODUCT"):
        part = sorted((f for f in pub.followup if f.stratum_variable == sv), key=lambda f: f.stratum)
        for f in part:
            r, hn, he = f.row, f.n_hidden, f.events_hidden
            name = code_text(labels, "disease_group", f.stratum) if sv == "DISGRP" else names.get(f.stratum, f.stratum)
            hide = hn or he
            rows.append(
                [
                    Text(**labels[f"by_{sv}"]),
                    name,
                    m if hn else str(r["n"]),
                    m if he else str(r["n_alive"]),
                    m if hide else f"{_months(r['median_months'])} ({_months(r['lower_95'])}-{_months(r['upper_95'])})",
                    m if hide else f"{_months(r['q1_months'])}-{_months(r['q3_months'])}",
                    m if hide else _months(r["max_months"]),
                ]
            )
    headers = [Text(**labels[k]) for k in ("stratified_by", "fu_group", "n", "fu_alive", "fu_median", "fu_iqr")]
    return Table(headers + [Text(**labels["fu_longest"])], rows, 2)
