"""Rows of the HTA workbook's "Late effects" sheet, suppressed (kocartr.release.suppression).

From the release database's late-effect tables (analyses/late_effects.py): landmark prevalences, infection rates
(days 31-180 and all windows, all organisms), the 12-month cumulative incidence of B-cell recovery and of the first
severe infection, pregnancy outcomes and DAOH-100. Within one endpoint and time point the strata of a stratum
variable sum to the overall row, so counts are suppressed as one table (complementary suppression against the
overall row); an estimate derived from a hidden count is hidden too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kocartr.release.suppression import suppress_event_table, suppress_table, suppress_vector
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
    kind: str = "text"  # text, count, pct, dec
    hidden: bool = False


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


def _event_rows(rows: list[dict], key: tuple[str, ...], threshold: int) -> list[tuple[dict, bool, bool]]:
    """(row, n hidden, events hidden): per group of `key`, each stratum variable's levels against the overall row
    (overall first); the overall row's flags are the union over stratum variables."""
    out: list[tuple[dict, bool, bool]] = []
    for grp in _groups(rows, key).values():
        o = next((r for r in grp if r["stratum_variable"] == "overall"), None)
        by_var = _groups([r for r in grp if r["stratum_variable"] != "overall"], ("stratum_variable",))
        strata: list[tuple[dict, bool, bool]] = []
        o_n = o_e = False
        for levels in by_var.values():
            per, oh = suppress_event_table(
                [(r["n"], r["events"]) for r in levels], (o["n"], o["events"]) if o else None, threshold
            )
            strata += [(r, h[0], h[1]) for r, h in zip(levels, per)]
            o_n, o_e = o_n or oh[0], o_e or oh[1]
        if o is not None:
            if not by_var:
                o_n, o_e = suppress_event_table([], (o["n"], o["events"]), threshold)[1]
            out.append((o, o_n, o_e))
        out += strata
    return out


def _estimate_cells(r: dict, est: str, hidden: bool, kind: str = "pct") -> list[Cell]:
    return [
        Cell(r.get(est), kind, hidden),
        Cell(r.get("lower_95"), kind, hidden),
        Cell(r.get("upper_95"), kind, hidden),
    ]


def landmark_rows(con: Any, threshold: int) -> list[list[Cell]]:
    rows = _table(con, "landmark_prevalence")
    out = []
    for r, nh, eh in _event_rows(rows, ("endpoint", "landmark_day"), threshold):
        h = nh or eh
        out.append(
            [
                Cell("landmark_prevalence"),
                Cell(r["endpoint"]),
                Cell(r["stratum_variable"]),
                Cell(r["stratum"]),
                Cell(f"day {r['landmark_day']}"),
                Cell(f"value < {r['threshold']:g}" if r["threshold"] is not None else "reported Y"),
                Cell(r["n"], "count", nh),
                Cell(r["events"], "count", eh),
                *_estimate_cells(r, "proportion", h),
            ]
        )
    return out


def infection_rows(con: Any, threshold: int) -> list[list[Cell]]:
    rows = _table(con, "infection_rates")
    out = []
    for (window, org), grp in _groups(rows, ("time_window", "organism_class")).items():
        overall = next((r for r in grp if r["stratum_variable"] == "overall"), None)
        hidden: dict[int, bool] = {}
        for _, levels in _groups([r for r in grp if r["stratum_variable"] != "overall"], ("stratum_variable",)).items():
            flags, total_h = suppress_vector(
                [r["events"] for r in levels], overall["events"] if overall else None, threshold
            )
            hidden.update({id(r): f for r, f in zip(levels, flags)})
            if overall is not None:
                hidden[id(overall)] = hidden.get(id(overall), False) or total_h
        if overall is not None and id(overall) not in hidden:
            hidden[id(overall)] = suppress_vector([overall["events"]], None, threshold, total_shown=False)[0][0]
        for r in grp:
            h = hidden.get(id(r), False)
            out.append(
                [
                    Cell("infection_rates"),
                    Cell(r["endpoint"]),
                    Cell(r["stratum_variable"]),
                    Cell(r["stratum"]),
                    Cell(window),
                    Cell(f"organism {org}; per 100 person-years ({r['person_years']:.1f} PY)"),
                    Cell(None),  # patients = the OS group size, published (suppressed) on the OS sheet
                    Cell(r["events"], "count", h),
                    *_estimate_cells(r, "rate_per_100py", h, "dec"),
                ]
            )
    return out


def cif_rows(con: Any, threshold: int, months: float = 12.0) -> list[list[Cell]]:
    rows = [
        r
        for r in _table(con, "late_cumulative_incidence", "row_type = 'landmark'")
        if abs(r["time_months"] - months) < 1e-6
    ]
    out = []
    for r, nh, eh in _event_rows(rows, ("endpoint",), threshold):
        out.append(
            [
                Cell("late_cumulative_incidence"),
                Cell(r["endpoint"]),
                Cell(r["stratum_variable"]),
                Cell(r["stratum"]),
                Cell(f"{months:g} months"),
                Cell(f"competing: {r['competing_event']}"),
                Cell(r["n"], "count", nh),
                Cell(r["events"], "count", eh),
                *_estimate_cells(r, "estimate", nh or eh),
            ]
        )
    return out


def pregnancy_rows(con: Any, threshold: int) -> list[list[Cell]]:
    rows = [r for r in _table(con, "pregnancy_outcomes") if r["count"] is not None]
    out = []
    for (subject,), grp in _groups(rows, ("subject",)).items():
        outcomes = sorted({r["outcome"] for r in grp} - {"ANY"})
        cell = {(r["stratum_variable"], r["stratum"], r["outcome"]): r["count"] for r in grp}
        hidden: set[tuple] = set()
        for var in sorted({r["stratum_variable"] for r in grp} - {"overall"}):
            levels = sorted({r["stratum"] for r in grp if r["stratum_variable"] == var})
            res = suppress_table(
                [[cell[(var, lv, o)] for o in outcomes] for lv in levels],
                threshold,
                row_totals=[cell[(var, lv, "ANY")] for lv in levels],
                col_totals=[cell[("overall", "overall", o)] for o in outcomes],
                grand_total=cell[("overall", "overall", "ANY")],
            )
            for i, lv in enumerate(levels):
                hidden |= {(var, lv, o) for j, o in enumerate(outcomes) if res.cells[i][j]}
                hidden |= {(var, lv, "ANY")} if res.row_totals[i] else set()
            hidden |= {("overall", "overall", o) for j, o in enumerate(outcomes) if res.col_totals[j]}
            hidden |= {("overall", "overall", "ANY")} if res.grand_total else set()
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
                    Cell("pregnancy_outcomes"),
                    Cell(r["endpoint"]),
                    Cell(r["stratum_variable"]),
                    Cell(r["stratum"]),
                    Cell(""),
                    Cell(f"{subject}: {r['outcome']}"),
                    Cell(None),
                    Cell(r["count"], "count", k in hidden),
                    Cell(None),
                    Cell(None),
                    Cell(None),
                ]
            )
    return out


def daoh_rows(con: Any, threshold: int) -> list[list[Cell]]:
    rows = [r for r in _table(con, "daoh") if r["n"] is not None]
    out = []
    for r, nh, eh in _event_rows([{**r, "events": r["n_died"]} for r in rows], ("endpoint",), threshold):
        h = nh or eh
        out.append(
            [
                Cell("daoh"),
                Cell(r["endpoint"]),
                Cell(r["stratum_variable"]),
                Cell(r["stratum"]),
                Cell(f"days 1-{r['window_days']}"),
                Cell("median (Q1, Q3) days; events = deaths in the window"),
                Cell(r["n"], "count", nh),
                Cell(r["n_died"], "count", eh),
                Cell(r["median"], "dec", h),
                Cell(r["q1"], "dec", h),
                Cell(r["q3"], "dec", h),
            ]
        )
    return out


def late_effect_rows(con: Any, threshold: int) -> list[list[Cell]]:
    """Every row of the sheet, in table order; empty when the release has no late-effect table."""
    return (
        landmark_rows(con, threshold)
        + infection_rows(con, threshold)
        + cif_rows(con, threshold)
        + pregnancy_rows(con, threshold)
        + daoh_rows(con, threshold)
    )
