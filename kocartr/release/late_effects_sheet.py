"""Rows of the HTA workbook's "Late effects" sheet, suppressed (kocartr.release.suppression).

From the release database's late-effect tables (analyses/late_effects.py): landmark prevalences, infection rates
(days 31-180 and all windows, all organisms), the 12-month cumulative incidence of B-cell recovery and of the first
severe infection, pregnancy outcomes and DAOH-100. Within one endpoint and time point the strata of a stratum
variable sum to the overall row, so counts are suppressed as one table (complementary suppression against the
overall row); an estimate derived from a hidden count is hidden too. The Detail column is English / Korean (a
plan Label): its phrases and analysis codes from the plan's `late_effect_details`, code-list codes by their
dictionary labels, never a raw code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kocartr.release.suppression import suppress_table, suppress_vector
from kocartr.release.workbook import H_EVENTS, H_N, bi

HEADERS = [
    bi("Table", "표"),
    bi("Endpoint", "평가변수"),
    bi("Stratified by", "층화 변수"),
    bi("Stratum", "층"),
    bi("Time point", "시점"),
    bi("Detail", "세부"),
    H_N,
    H_EVENTS,
    bi("Estimate", "추정치"),
    bi("95% CI lower", "95% 신뢰구간 하한"),
    bi("95% CI upper", "95% 신뢰구간 상한"),
]


@dataclass(frozen=True)
class Cell:
    value: Any
    kind: str = "text"  # text, count, pct, dec; a Detail cell's value is a plan Label (English / Korean)
    hidden: bool = False


def _name(code: str, code_list: str | None = None) -> Any:
    """A code's English / Korean name (plan Label): the plan's `late_effect_details` (ANY, competing events, a
    missing value), else the dictionary code list's label and label_ko; the code itself when neither names it."""
    from analyses.plan import MISSING, Label, load_plan
    from kocartr.dictionary import load_dictionary

    named = load_plan().late_effect_details.get("missing" if code == MISSING else code)
    if named is not None:
        return named
    cl = load_dictionary().code_lists.get(code_list) if code_list else None
    c = next((c for c in cl.codes if c.code == code), None) if cl is not None else None
    return Label(c.label, c.label_ko or c.label) if c is not None else Label(code, code)


def _detail(phrase: str, **values: Any) -> Cell:
    """A Detail cell: the plan's phrase filled in each language (a Label value takes its own language)."""
    from analyses.plan import Label, load_plan

    p = load_plan().late_effect_details[phrase]
    en = {k: v.en if isinstance(v, Label) else v for k, v in values.items()}
    ko = {k: v.ko if isinstance(v, Label) else v for k, v in values.items()}
    return Cell(Label(p.en.format(**en), p.ko.format(**ko)))


def _table(con: Any, name: str, where: str = "true") -> list[dict]:
    present = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'analysis' and table_name = ?", [name]
    ).fetchone()[0]
    if not present:
        return []
    cur = con.execute(f"select * from analysis.{name} where {where}")
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _groups(rows: list[dict], key: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in key), []).append(r)
    return out


@dataclass
class _Item:
    """One row's counts for outcomes.suppress_summaries."""

    endpoint: str
    stratum_variable: str
    stratum: str
    n: int | None
    events: int | None
    n_hidden: bool = False
    events_hidden: bool = False


def _seed(items: list[_Item], pub: Any) -> dict:
    """The release's joint size decision for the strata whose size here is the infused patients (the same count,
    so the same decision); other sizes (e.g. patients alive at a landmark) are decided on their own."""
    if pub is None or not pub.cells:
        return {}
    cells, out = pub.cells, {}
    for s in items:
        k = (s.stratum_variable, s.stratum)
        if k[0] == "overall":
            base = sum(cells.values())
        elif k[0] in ("DISGRP", "PRODUCT"):
            base = sum(v for gp, v in cells.items() if gp[k[0] == "PRODUCT"] == k[1])
        else:
            continue
        if s.n == base and pub.sizes_hidden.get(k):
            out[k] = True
    return out


def _event_rows(
    rows: list[dict], key: tuple[str, ...], threshold: int, pub: Any = None
) -> list[tuple[dict, bool, bool]]:
    """(row, n hidden, events hidden), overall first: per group of `key`, suppressed as the outcome tables are
    (outcomes.suppress_summaries: each stratification against the overall row, DISGRP and PRODUCT jointly as one
    DISGRP x PRODUCT table, sizes of the infused patients as the release's joint decision)."""
    from kocartr.release.outcomes import suppress_summaries

    out: list[tuple[dict, bool, bool]] = []
    for grp in _groups(rows, key).values():
        grp = sorted(grp, key=lambda r: r["stratum_variable"] != "overall")
        items = [_Item("late", r["stratum_variable"], str(r["stratum"]), r["n"], r["events"]) for r in grp]
        suppress_summaries(items, threshold, _seed(items, pub), pub.cells if pub is not None else None)
        out += [(r, i.n_hidden, i.events_hidden) for r, i in zip(grp, items)]
    return out


def _estimate_cells(r: dict, est: str, hidden: bool, kind: str = "pct") -> list[Cell]:
    return [
        Cell(r.get(est), kind, hidden),
        Cell(r.get("lower_95"), kind, hidden),
        Cell(r.get("upper_95"), kind, hidden),
    ]


def _head(table: str, r: dict[str, Any]) -> list[Cell]:
    """The first cells of every row: the analysis table, endpoint, stratum variable and stratum."""
    return [Cell(table), Cell(r["endpoint"]), Cell(r["stratum_variable"]), Cell(r["stratum"])]


def landmark_rows(con: Any, threshold: int, pub: Any = None) -> list[list[Cell]]:
    rows = _table(con, "landmark_prevalence")
    out = []
    for r, nh, eh in _event_rows(rows, ("endpoint", "landmark_day"), threshold, pub):
        h = nh or eh
        out.append(
            [
                *_head("landmark_prevalence", r),
                Cell(f"day {r['landmark_day']}"),
                _detail("below", value=f"{r['threshold']:g}")
                if r["threshold"] is not None
                else _detail("reported", value=_name("Y", "yes_no_unknown")),
                Cell(r["n"], "count", nh),
                Cell(r["events"], "count", eh),
                *_estimate_cells(r, "proportion", h),
            ]
        )
    return out


def infection_rows(con: Any, threshold: int, pub: Any = None) -> list[list[Cell]]:
    rows = _table(con, "infection_rates")
    out = []
    for (window, org), grp in _groups(rows, ("time_window", "organism_class")).items():
        # patients are not shown here (the OS group size): the event counts alone, DISGRP and PRODUCT jointly
        flagged = _event_rows([{**r, "n": None} for r in grp], ("endpoint",), threshold, pub)
        for r, _, h in flagged:
            out.append(
                [
                    *_head("infection_rates", r),
                    Cell(window),
                    _detail("infection", organism=_name(org, "organism_type"), py=f"{r['person_years']:.1f}"),
                    Cell(None),  # patients = the OS group size, published (suppressed) on the OS sheet
                    Cell(r["events"], "count", h),
                    *_estimate_cells(r, "rate_per_100py", h, "dec"),
                ]
            )
    return out


def cif_rows(con: Any, threshold: int, pub: Any = None, months: float = 12.0) -> list[list[Cell]]:
    rows = [
        r
        for r in _table(con, "late_cumulative_incidence", "row_type = 'landmark'")
        if abs(r["time_months"] - months) < 1e-6
    ]
    out = []
    for r, nh, eh in _event_rows(rows, ("endpoint",), threshold, pub):
        out.append(
            [
                *_head("late_cumulative_incidence", r),
                Cell(f"{months:g} months"),
                _detail("competing", event=_name(r["competing_event"])),
                Cell(r["n"], "count", nh),
                Cell(r["events"], "count", eh),
                *_estimate_cells(r, "estimate", nh or eh),
            ]
        )
    return out


def _pregnancy_hidden(cell: dict, outcomes: list[str], threshold: int, structure: dict | None) -> set[tuple]:
    """Hidden (stratum_variable, stratum, outcome): per stratum variable the strata x outcomes table with the
    overall row and 'ANY' as margins, then per outcome the DISGRP and PRODUCT counts as one DISGRP x PRODUCT table
    (cells unknown, `structure` = which products treat which disease), repeated until neither hides more."""
    from kocartr.release.suppression import suppress_strata

    svs = sorted({k[0] for k in cell} - {"overall"})
    levels_of = {v: sorted({k[1] for k in cell if k[0] == v}) for v in svs}
    o_all = ("overall", "overall")
    hidden: set[tuple] = set()
    for _ in range(20):
        before = set(hidden)
        for var in svs:
            levels = levels_of[var]
            res = suppress_table(
                [[cell[(var, lv, o)] for o in outcomes] for lv in levels],
                threshold,
                row_totals=[cell[(var, lv, "ANY")] for lv in levels],
                col_totals=[cell[(*o_all, o)] for o in outcomes],
                grand_total=cell[(*o_all, "ANY")],
                rows_pre_hidden=[(var, lv, "ANY") in hidden for lv in levels],
                grand_pre_hidden=(*o_all, "ANY") in hidden,
                cells_pre_hidden=[[(var, lv, o) in hidden for o in outcomes] for lv in levels],
                cols_pre_hidden=[(*o_all, o) in hidden for o in outcomes],
            )
            for i, lv in enumerate(levels):
                hidden |= {(var, lv, o) for j, o in enumerate(outcomes) if res.cells[i][j]}
                hidden |= {(var, lv, "ANY")} if res.row_totals[i] else set()
            hidden |= {(*o_all, o) for j, o in enumerate(outcomes) if res.col_totals[j]}
            hidden |= {(*o_all, "ANY")} if res.grand_total else set()
        if structure and {"DISGRP", "PRODUCT"} <= set(svs):
            for o in [*outcomes, "ANY"]:
                h = suppress_strata(
                    {gp: None for gp in structure},
                    threshold,
                    groups={lv: cell.get(("DISGRP", lv, o)) for lv in levels_of["DISGRP"]},
                    products={lv: cell.get(("PRODUCT", lv, o)) for lv in levels_of["PRODUCT"]},
                    overall=cell.get((*o_all, o)),
                    pre_hidden={k[:2] for k in hidden if k[2] == o},
                    cells_published=False,
                )
                hidden |= {(*k, o) for k in h if (*k, o) in cell}
        if hidden == before:
            break
    return hidden


def pregnancy_rows(con: Any, threshold: int, pub: Any = None) -> list[list[Cell]]:
    rows = [r for r in _table(con, "pregnancy_outcomes") if r["count"] is not None]
    out = []
    for (subject,), grp in _groups(rows, ("subject",)).items():
        outcomes = sorted({r["outcome"] for r in grp} - {"ANY"})
        cell = {(r["stratum_variable"], r["stratum"], r["outcome"]): r["count"] for r in grp}
        hidden = _pregnancy_hidden(cell, outcomes, threshold, pub.cells if pub is not None else None)
        if not any(r["stratum_variable"] != "overall" for r in grp):
            flags, total_h = suppress_vector(
                [cell[("overall", "overall", o)] for o in outcomes], cell[("overall", "overall", "ANY")], threshold
            )
            hidden |= {("overall", "overall", o) for o, f in zip(outcomes, flags) if f}
            hidden |= {("overall", "overall", "ANY")} if total_h else set()
        for r in grp:
            k = (r["stratum_variable"], r["stratum"], r["outcome"])
            out.append(
                [
                    *_head("pregnancy_outcomes", r),
                    Cell(""),
                    _detail(
                        "pregnancy",
                        subject=_name(subject, "pregnancy_subject"),
                        outcome=_name(r["outcome"], "pregnancy_outcome"),
                    ),
                    Cell(None),
                    Cell(r["count"], "count", k in hidden),
                    Cell(None),
                    Cell(None),
                    Cell(None),
                ]
            )
    return out


def daoh_rows(con: Any, threshold: int, pub: Any = None) -> list[list[Cell]]:
    """Two rows per stratum: median (Q1, Q3) and mean (95% CI: HTA cost-effectiveness models use means)."""
    rows = [r for r in _table(con, "daoh") if r["n"] is not None]
    out = []
    for r, nh, eh in _event_rows([{**r, "events": r["n_died"]} for r in rows], ("endpoint",), threshold, pub):
        h = nh  # DAOH statistics (and the mean's CI) summarise days, not the death count: hidden with the group size
        for phrase, est, lo, hi in (("daoh", "median", "q1", "q3"), ("daoh_mean", "mean", "lower_95", "upper_95")):
            out.append(
                [
                    *_head("daoh", r),
                    Cell(f"days 1-{r['window_days']}"),
                    _detail(phrase),
                    Cell(r["n"], "count", nh),
                    Cell(r["n_died"], "count", eh),
                    Cell(r[est], "dec", h),
                    Cell(r.get(lo), "dec", h),
                    Cell(r.get(hi), "dec", h),
                ]
            )
    return out


def late_effect_rows(con: Any, threshold: int, pub: Any = None) -> list[list[Cell]]:
    """Every row of the sheet, in table order; empty when the release has no late-effect table. `pub`
    (outcomes.PublishedOutcomes): the release's joint decision on stratum sizes and its DISGRP x PRODUCT cells."""
    return (
        landmark_rows(con, threshold, pub)
        + infection_rows(con, threshold, pub)
        + cif_rows(con, threshold, pub)
        + pregnancy_rows(con, threshold, pub)
        + daoh_rows(con, threshold, pub)
    )
