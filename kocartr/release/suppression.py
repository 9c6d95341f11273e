"""Small-cell suppression for published tables of patient counts, audited against differencing.

Rule (threshold from data/config/release.yaml, default 5; see the citation there):
1. Primary suppression: every count in [1, threshold - 1] is hidden (0 is shown: it discloses no patient).
   Totals are counts too: a total in that range is hidden as well.
2. Complementary suppression: a table is a set of linear constraints "cells of a line sum to its total"
   (each row with its row total, each column with its column total). A constraint with exactly one hidden entry
   lets a reader recompute it, so another entry of the same constraint is hidden, chosen by least information loss
   (Hundepool et al., Statistical Disclosure Control, Wiley 2012: secondary cell suppression minimizing a cost
   function, as tau-ARGUS does): a non-zero entry in preference to a zero, then the pattern (the entry with the
   complements it forces in turn) that hides the fewest costly entries (by default the margins) and then the least
   total count, a cell before its line's total. Where counts belong to one published result (a stratum's N and
   events: hiding either hides its estimates), each result newly hidden is charged once, so complements go to
   strata already hidden, the smallest first. Two greedy orders are tried (with and without the look-ahead); in
   each, complements the final pattern does not need are shown again (largest first, each removal re-audited: the
   classical clean-up of redundant suppressions), and the cheaper pattern is kept. The DISGRP x PRODUCT table
   (`suppress_strata`) is solved keeping margins first and keeping cells first, and the pattern hiding the least
   total count is published.
3. Disclosure audit (`audit`): "two hidden per line" is not enough when totals and zeros are published (total 19,
   visible 7 + 5 + 5, two hidden cells that a reader knows are >= 1 because zeros are shown: both must be 1).
   For every hidden entry the audit computes the smallest and largest value consistent with everything published
   (the table's linear constraints, the visible entries, non-negativity, and >= 1 for a hidden non-zero count,
   since zeros are shown), by linear programming (HiGHS). An entry is disclosed when that
   interval holds fewer than `threshold` integers (the reader must not be able to narrow a hidden count to fewer
   possible values than the threshold). While the audit fails, one more visible entry is hidden: the cheapest (as
   in 2) that resolves the disclosed entry, among the entries of every line holding a hidden entry (its own lines
   and the linked ones: in the DISGRP x PRODUCT table a hidden group is also bounded through its products, so a
   product margin may protect it at less loss than another group), and the audit is repeated; `suppress` never returns
   a pattern that fails it and raises DisclosureError when no pattern can pass (nothing left to hide). This is
   the interval (linear-programming) attack of statistical disclosure control (Hundepool et al., Statistical
   Disclosure Control, Wiley 2012: "audit" of a suppression pattern). Tables published together
   share hidden group sizes (kocartr.release.outcomes), so a size hidden in one is not shown by another.
All functions are pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_THRESHOLD = 5


class DisclosureError(ValueError):
    """A table's suppression pattern lets a reader recover a hidden count: the table must not be published."""


def _new_highs():
    """A silent HiGHS model. The first construction in a process prints HiGHS's banner to file descriptor 1 from C++
    before any option can be set (highspy 1.15): that one is sent to /dev/null so the terminal shows the run only."""
    import os
    import sys

    import highspy

    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        lp = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    lp.setOptionValue("output_flag", False)
    return lp


def _model(
    entries: Mapping[Hashable, int | None], hidden: set[Hashable], constraints: Sequence[Sequence[Hashable]]
) -> tuple[list[Hashable], Callable[[int, float], tuple[float | None, list[float] | None]]]:
    """The hidden entries (sorted) and `optimum(i, sense)`: the min (sense 1) or -max (sense -1) of entry i over
    every table consistent with what is published, with the optimal table found (None, None when there is no
    optimum: unbounded). One HiGHS model (the solver scipy's linprog calls) whose objective alone changes, so that
    each solve starts from the previous optimal basis (a few pivots) instead of building and presolving a new
    problem (~1 ms each through linprog; a release solves ~20,000). An optimum's value is unique, so the bounds are
    the ones any exact LP solver returns."""
    import highspy
    import numpy as np

    keys = sorted(hidden, key=repr)
    index = {k: i for i, k in enumerate(keys)}
    lp = _new_highs()
    # a reader knows a hidden count is >= 1 when zeros are shown (a zero is never hidden for being small)
    lower = np.array([1.0 if (entries.get(k) or 0) >= 1 else 0.0 for k in keys])
    lp.addVars(len(keys), lower, np.full(len(keys), highspy.kHighsInf))
    for line in constraints:  # cells - total = what the visible entries of the line leave
        if not any(k in hidden for k in line):
            continue
        coef: dict[int, float] = {}
        b = 0.0
        for k in line:
            sign = -1.0 if k == line[-1] else 1.0
            if k in hidden:
                coef[index[k]] = coef.get(index[k], 0.0) + sign
            else:
                b -= sign * (entries[k] or 0)
        cols = sorted(coef)
        lp.addRow(b, b, len(cols), np.array(cols, dtype=np.int32), np.array([coef[i] for i in cols]))
    every = np.arange(len(keys), dtype=np.int32)
    optimal = highspy.HighsModelStatus.kOptimal

    def optimum(i: int, sense: float) -> tuple[float | None, list[float] | None]:
        cost = np.zeros(len(keys))
        cost[i] = sense
        lp.changeColsCost(len(keys), every, cost)
        lp.run()
        if lp.getModelStatus() != optimal:  # only an optimum is taken from a warm start; the rest is re-solved cold
            lp.clearSolver()
            lp.run()
        if lp.getModelStatus() != optimal:
            return None, None
        return lp.getInfo().objective_function_value, list(lp.getSolution().col_value)

    return keys, optimum


def _interval(lo: float | None, neg_hi: float | None) -> tuple[float, float]:
    # no maximum: unbounded, fully protected
    return (lo if lo is not None else 0.0, -neg_hi if neg_hi is not None else float("inf"))


def _narrowed(
    entries: Mapping[Hashable, int | None],
    hidden: set[Hashable],
    constraints: Sequence[Sequence[Hashable]],
    threshold: int,
) -> dict[Hashable, tuple[float, float]]:
    """The hidden entries whose (min, max) over every consistent table holds fewer than `threshold` integers, with
    those bounds, solving only the programs that can change the answer rather than both programs of every entry:
    every optimal table found is a table consistent with what is published, so an entry that two of them give values
    at least `threshold - 1` apart is not narrowed, and its own programs are skipped; an entry not shown anyway
    (None) is never reported. Most hidden entries of a release are protected, and the first solves already show it
    for most of them."""
    keys, optimum = _model(entries, hidden, constraints)
    seen_lo = [float("inf")] * len(keys)
    seen_hi = [float("-inf")] * len(keys)
    out: dict[Hashable, tuple[float, float]] = {}
    for i, k in enumerate(keys):
        if entries.get(k) is None:
            continue
        found: list[float | None] = []
        for sense in (1.0, -1.0):
            # a margin over the solver's feasibility tolerance: a near miss is solved, never assumed
            if seen_hi[i] - seen_lo[i] + 1 >= threshold + 1e-3:
                break
            value, table = optimum(i, sense)
            found.append(value)
            for j, x in enumerate(table or ()):
                seen_lo[j], seen_hi[j] = min(seen_lo[j], x), max(seen_hi[j], x)
        else:
            b = _interval(*found)
            if b[1] - b[0] + 1 < threshold - 1e-9:
                out[k] = b
    return out


def audit(
    entries: Mapping[Hashable, int | None],
    hidden: Iterable[Hashable],
    constraints: Iterable[Sequence[Hashable]],
    threshold: int = DEFAULT_THRESHOLD,
) -> dict[Hashable, tuple]:
    """The hidden entries a reader can recover or narrow down: {key: (min, max)} for every hidden entry whose
    feasible interval holds fewer than `threshold` integers (empty = the pattern passes). Single differences (a line
    with one hidden entry) are the special case min == max."""
    hidden = frozenset(hidden)
    if not hidden:
        return {}
    entry_items = tuple(sorted(entries.items(), key=repr))
    return dict(_narrowed_cached(entry_items, hidden, tuple(tuple(c) for c in constraints), threshold))


@lru_cache(maxsize=4096)
def _narrowed_cached(
    entries: tuple, hidden: frozenset, constraints: tuple, threshold: int
) -> dict[Hashable, tuple[float, float]]:
    """_narrowed memoized: a release suppresses the same small tables repeatedly while shared sizes settle."""
    return _narrowed(dict(entries), set(hidden), constraints, threshold)


def is_small(value: int | float | None, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """True for a count that primary suppression hides: 1 <= value <= threshold - 1."""
    return value is not None and value == value and 1 <= value < threshold


def suppress(
    entries: Mapping[Hashable, int | None],
    constraints: Iterable[Sequence[Hashable]],
    threshold: int = DEFAULT_THRESHOLD,
    pre_hidden: Iterable[Hashable] = (),
    published: Iterable[Hashable] = (),
    unpublished: Iterable[Hashable] = (),
    costly: Iterable[Hashable] | None = None,
    strata: Mapping[Hashable, tuple[Hashable, float]] | None = None,
) -> set[Hashable]:
    """The keys to hide. `entries` maps a key (cell or total) to its count (None = not shown anyway, treated as
    hidden); each constraint lists keys that are linked by one additive equation, cells first, total last.
    `pre_hidden`: keys hidden already for another reason (e.g. the same count hidden in another table, so that
    tables published together stay consistent). `published`: keys shown by another table, which hiding here
    would not protect (never chosen as complements). `unpublished`: keys no table shows (hidden from the start) that
    are no secret unless small: a line whose only hidden entry is one of them needs no complement (its value
    follows from published counts; the audit still checks every count). `costly`: the entries a reader needs most,
    hidden only when no pattern without them passes (default: every line's total, the margins). `strata`: key ->
    (stratum, weight) for counts that belong to one published result (a stratum's N and events: hiding either
    hides its estimates), so a pattern is charged the weight of each stratum it newly hides and nothing more for
    another count of a stratum already hidden. Raises DisclosureError when no pattern passes the audit."""
    lines = [tuple(c) for c in constraints]
    heavy = {line[-1] for line in lines} if costly is None else set(costly)
    t = _Table(entries, lines, threshold, set(published), set(unpublished), heavy, dict(strata or {}))
    fixed = {k for k, v in entries.items() if v is None or is_small(v, threshold)} | set(pre_hidden)
    patterns = []
    for lookahead in (True, False):  # two greedy orders, each pruned; the cheaper pattern is published
        hidden = t.close(set(fixed), lookahead)
        while disclosed := t.disclosed(hidden):
            k = min(disclosed, key=repr)
            hidden = t.widen(hidden, k, disclosed[k])
        hidden = t.prune(hidden, fixed)
        patterns.append((t.loss(hidden - fixed, fixed), sorted(map(repr, hidden)), hidden))
    return min(patterns, key=lambda p: (p[0], p[1]))[2]


@dataclass
class _Table:
    """One table's constraints and the secondary-suppression steps (closure, audit widening, pruning).

    Complements are chosen by least information loss (the cost of a pattern: margins hidden, then total count
    hidden): each candidate is scored by the counts it hides together with the
    further complements it forces (a one-step look-ahead), so a large cell is hidden only when every cheaper
    pattern would hide more. A final pass restores every complement the pattern does not need (the classical
    removal of redundant suppressions), checked by the same audit."""

    entries: Mapping[Hashable, int | None]
    constraints: list[tuple[Hashable, ...]]
    threshold: int
    published: set[Hashable]
    unpublished: set[Hashable]
    heavy: set[Hashable]
    strata: dict[Hashable, tuple[Hashable, float]]

    def __post_init__(self) -> None:
        self.big = 1 + 2 * sum(self.value(k) for k in self.entries)
        self.lines_of: dict[Hashable, list[int]] = {}
        for n, line in enumerate(self.constraints):
            for k in line:
                self.lines_of.setdefault(k, []).append(n)

    def value(self, k: Hashable) -> int:
        return self.entries.get(k) or 0

    def loss(self, keys: Iterable[Hashable], hidden: Iterable[Hashable] = ()) -> float:
        """Information lost by hiding `keys` besides `hidden`: their counts, a costly entry (by default a margin: a
        group's or product's size, the headline a reader looks for) above any number of others; with `strata`, each
        stratum newly hidden (its weight) above all counts."""
        keys = set(keys)
        counts = sum(self.value(k) + (self.big if k in self.heavy else 0) for k in keys)
        if not self.strata:
            return counts
        gone = {self.strata[k][0] for k in hidden if k in self.strata}
        new = {self.strata[k] for k in keys if k in self.strata and self.strata[k][0] not in gone}
        return sum(w for _, w in new) * self.big * self.big + counts

    def secret(self, k: Hashable) -> bool:
        """A hidden count a reader must not recover (an unpublished count is no secret unless small)."""
        return k not in self.unpublished or is_small(self.entries.get(k), self.threshold)

    def single(self, hidden: set[Hashable]) -> list[int]:
        """Lines whose only hidden entry is a secret: a reader recomputes it from the line's other entries."""
        out = []
        for n, line in enumerate(self.constraints):
            inside = [k for k in line if k in hidden]
            if len(inside) == 1 and self.secret(inside[0]):
                out.append(n)
        return out

    def open_line(self, hidden: set[Hashable]) -> int | None:
        """The first single-hidden line that has an entry left to hide (the others are the audit's to refuse)."""
        return next((n for n in self.single(hidden) if self.candidates(n, hidden)), None)

    def candidates(self, n: int, hidden: set[Hashable]) -> list[Hashable]:
        return [k for k in self.constraints[n] if k not in hidden and k not in self.published]

    def close(self, hidden: set[Hashable], lookahead: bool) -> set[Hashable]:
        """Add complements until no line has exactly one (secret) hidden entry."""
        hidden = set(hidden)
        while (n := self.open_line(hidden)) is not None:
            pool = self.candidates(n, hidden)
            hidden.add(min(pool, key=lambda k: self.cost(k, n, hidden, lookahead)))
        return hidden

    def cost(self, k: Hashable, n: int, hidden: set[Hashable], lookahead: bool) -> tuple:
        """Non-zero entries first (a hidden zero protects little), then the least value hidden with the complements
        it forces (look-ahead), then cells before a line's total, fewer newly opened lines, smaller, first."""
        total = k == self.constraints[n][-1]
        opened = sum(1 for m in self.lines_of[k] if m != n and not any(x in hidden for x in self.constraints[m]))
        loss = self.loss(self.close(hidden | {k}, False) - hidden, hidden) if lookahead else 0
        return (self.value(k) == 0, loss, total, opened, self.value(k), self.constraints[n].index(k))

    def disclosed(self, hidden: set[Hashable]) -> dict[Hashable, tuple]:
        found = audit(self.entries, hidden, self.constraints, self.threshold)
        return {k: b for k, b in found.items() if self.secret(k)}

    def widen(self, hidden: set[Hashable], k: Hashable, interval: tuple) -> set[Hashable]:
        """Hide one more entry so that `k` is no longer narrowed: the cheapest pattern (with its forced complements)
        that resolves it, among the entries of every line that holds a hidden entry. Not only `k`'s own lines: the
        reader's bound on `k` runs through the hidden entries of linked lines (a disease group's count through its
        products' counts), so an entry there can protect `k` at less loss (Hundepool et al. 2012: the complement
        is the least-cost one among all entries whose hiding makes the pattern pass the audit)."""
        free = hidden | self.published
        pool = [x for line in self.constraints if any(y in hidden for y in line) for x in line if x not in free]
        if not pool:
            raise DisclosureError(
                f"hidden count {k!r} can be narrowed to {interval} and nothing is left to hide on its lines"
            )
        options = []
        for x in dict.fromkeys(pool):
            h2 = self.close(hidden | {x}, True)
            resolved = k not in self.disclosed(h2)
            loss = self.loss(h2 - hidden, hidden)
            options.append(((not resolved, self.value(x) == 0, loss, repr(x)), h2))
        return min(options, key=lambda o: o[0])[1]

    def prune(self, hidden: set[Hashable], fixed: set[Hashable]) -> set[Hashable]:
        """Show again each complement (largest first) whose hiding the pattern does not need: no line left with a
        single hidden secret and the audit still passes."""
        for x in sorted(hidden - fixed, key=lambda y: (-self.loss([y], hidden - {y}), repr(y))):
            trial = hidden - {x}
            if not self.single(trial) and not self.disclosed(trial):
                hidden = trial
        return hidden


def suppress_vector(
    values: Sequence[int | None],
    total: int | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    total_shown: bool = True,
    pre_hidden: Sequence[bool] | None = None,
    total_pre_hidden: bool = False,
) -> tuple[list[bool], bool]:
    """One group of counts and (optionally) its published total. Returns (hidden flags, total hidden)."""
    keys = list(range(len(values)))
    entries: dict[Hashable, int | None] = dict(zip(keys, values))
    constraints: list[Sequence[Hashable]] = []
    if total_shown:
        entries["total"] = sum(v or 0 for v in values) if total is None else total
        constraints.append(keys + ["total"])
    pre = [k for k, h in zip(keys, pre_hidden or []) if h] + (["total"] if total_pre_hidden and total_shown else [])
    hidden = suppress(entries, constraints, threshold, pre)
    return [k in hidden for k in keys], ("total" in hidden)


@dataclass(frozen=True)
class TableSuppression:
    cells: list[list[bool]]
    row_totals: list[bool]
    col_totals: list[bool]
    grand_total: bool


def suppress_table(
    table: Sequence[Sequence[int | None]],
    threshold: int = DEFAULT_THRESHOLD,
    row_totals: Sequence[int | None] | None = None,
    col_totals: Sequence[int | None] | None = None,
    grand_total: int | None = None,
    rows_pre_hidden: Sequence[bool] | None = None,
    grand_pre_hidden: bool = False,
    cells_pre_hidden: Sequence[Sequence[bool]] | None = None,
    cols_pre_hidden: Sequence[bool] | None = None,
    by_row: bool = False,
) -> TableSuppression:
    """A two-way table whose row totals, column totals and grand total are published (computed from the cells
    when not given). Returns which cells and totals to hide. `by_row`: each row is one published result (a
    stratum: N with its events) and the column totals with the grand total the overall one; complements are then
    chosen to hide as few results as possible, the smallest first, the overall last (suppress's `strata`)."""
    r = len(table)
    c = len(table[0]) if r else 0
    rt: list[int | None] = list(row_totals) if row_totals is not None else [sum(v or 0 for v in row) for row in table]
    ct: list[int | None] = (
        list(col_totals) if col_totals is not None else [sum(table[i][j] or 0 for i in range(r)) for j in range(c)]
    )
    gt = grand_total if grand_total is not None else sum(v or 0 for v in rt)
    entries: dict[Hashable, int | None] = {("c", i, j): table[i][j] for i in range(r) for j in range(c)}
    entries.update({("r", i): rt[i] for i in range(r)})
    entries.update({("k", j): ct[j] for j in range(c)})
    entries["g"] = gt
    constraints: list[list[Hashable]] = [[("c", i, j) for j in range(c)] + [("r", i)] for i in range(r)]
    constraints += [[("c", i, j) for i in range(r)] + [("k", j)] for j in range(c)]
    constraints.append([("r", i) for i in range(r)] + ["g"])
    constraints.append([("k", j) for j in range(c)] + ["g"])
    pre: list[Hashable] = [*(("r", i) for i, h in enumerate(rows_pre_hidden or []) if h)]
    pre += ["g"] if grand_pre_hidden else []
    pre += [("k", j) for j, h in enumerate(cols_pre_hidden or []) if h]
    pre += [("c", i, j) for i, row in enumerate(cells_pre_hidden or []) for j, h in enumerate(row) if h]
    strata: dict[Hashable, tuple[Hashable, float]] = {}
    if by_row:
        strata = {("c", i, j): (("row", i), rt[i] or 0) for i in range(r) for j in range(c)}
        strata |= {("r", i): (("row", i), rt[i] or 0) for i in range(r)}
        strata |= {k: ("overall", 1 + 2 * (gt or 0)) for k in [*(("k", j) for j in range(c)), "g"]}
    hidden = suppress(entries, constraints, threshold, pre, strata=strata)
    return TableSuppression(
        cells=[[("c", i, j) in hidden for j in range(c)] for i in range(r)],
        row_totals=[("r", i) in hidden for i in range(r)],
        col_totals=[("k", j) in hidden for j in range(c)],
        grand_total="g" in hidden,
    )


def suppress_event_table(
    groups: Sequence[tuple[int | None, int | None]],
    overall: tuple[int | None, int | None] | None,
    threshold: int = DEFAULT_THRESHOLD,
    n_pre_hidden: Sequence[bool] | None = None,
    overall_n_pre_hidden: bool = False,
    e_pre_hidden: Sequence[bool] | None = None,
    overall_e_pre_hidden: bool = False,
) -> tuple[list[tuple[bool, bool]], tuple[bool, bool]]:
    """The common outcome-table shape: per stratum (N patients, n with the event), plus the overall row.

    Seen as a table with columns [with event, without event] (row total N) whose column totals are the overall
    row: hiding only `n` when N is shown would still disclose N - n, and hiding one stratum lets the overall row
    reveal it. `e_pre_hidden` / `overall_e_pre_hidden`: event counts hidden already (e.g. by the joint
    disease group x product decision). Returns ((N hidden, n hidden) per stratum, (N hidden, n hidden) overall)."""
    cells = [[n, (N - n) if N is not None and n is not None else None] for N, n in groups]
    if overall is None:
        overall = (sum(g[0] or 0 for g in groups), sum(g[1] or 0 for g in groups))
    oN, on = overall
    ct = [on, (oN - on) if oN is not None and on is not None else None]
    if not groups:
        res = suppress_table(
            [[ct[0], ct[1]]],
            threshold,
            row_totals=[oN],
            rows_pre_hidden=[overall_n_pre_hidden],
            cells_pre_hidden=[[overall_e_pre_hidden, False]],
            by_row=True,
        )
        return [], (res.row_totals[0], res.cells[0][0])
    res = suppress_table(
        cells,
        threshold,
        row_totals=[g[0] for g in groups],
        col_totals=ct,
        grand_total=oN,
        rows_pre_hidden=n_pre_hidden,
        grand_pre_hidden=overall_n_pre_hidden,
        cells_pre_hidden=[[h, False] for h in (e_pre_hidden or [False] * len(groups))],
        cols_pre_hidden=[overall_e_pre_hidden, False],
        by_row=True,
    )
    # every constraint has 0 or >= 2 hidden entries, so a visible n is never recomputable from hidden ones
    per = [(res.row_totals[i], res.cells[i][0]) for i in range(len(groups))]
    return per, (res.grand_total, res.col_totals[0])


# ---------------------------------------------------------------------------------------------------------
# strata published together: overall, PRODUCT, DISGRP and DISGRP/PRODUCT

OVERALL = ("overall", "overall")
NESTED = "DISGRP/PRODUCT"


def nested_key(group: str, product: str) -> tuple[str, str]:
    """The (stratum_variable, stratum) of one disease group x product cell, as the analysis tables name it."""
    return (NESTED, f"{group}/{product}")


def strata_table(
    cells: Mapping[tuple[str, str], int | None],
    groups: Mapping[str, int | None] | None = None,
    products: Mapping[str, int | None] | None = None,
    overall: int | None = None,
) -> tuple[dict[Hashable, int | None], list[list[Hashable]]]:
    """The DISGRP x PRODUCT two-way table as entries and constraints keyed by (stratum_variable, stratum).

    `cells` {(group, product): count}: a product absent from a group is a structural zero (a reader knows which
    products treat which disease), a None count is unknown (not published). Margins are the DISGRP and PRODUCT
    counts and the overall count (summed from the cells when not given). Because products sit inside disease
    groups, a group's count minus its visible products' counts is its hidden product's count: the margins must
    be suppressed as one table, not each stratification on its own."""
    gs = sorted({g for g, _ in cells} | set(groups or {}))
    ps = sorted({p for _, p in cells} | set(products or {}))
    entries: dict[Hashable, int | None] = {nested_key(g, p): cells.get((g, p), 0) for g in gs for p in ps}

    def total(keys: list[tuple[str, str]]) -> int | None:
        vals = [cells.get(k, 0) for k in keys]
        return None if any(v is None for v in vals) else sum(v or 0 for v in vals)

    for g in gs:
        entries[("DISGRP", g)] = (groups or {}).get(g, total([(g, p) for p in ps]))
    for p in ps:
        entries[("PRODUCT", p)] = (products or {}).get(p, total([(g, p) for g in gs]))
    entries[OVERALL] = overall if overall is not None else total([(g, p) for g in gs for p in ps])
    lines: list[list[Hashable]] = [[*(nested_key(g, p) for p in ps), ("DISGRP", g)] for g in gs]
    lines.extend([*(nested_key(g, p) for g in gs), ("PRODUCT", p)] for p in ps)
    lines.append([*(("DISGRP", g) for g in gs), OVERALL])
    lines.append([*(("PRODUCT", p) for p in ps), OVERALL])
    return entries, lines


def suppress_strata(
    cells: Mapping[tuple[str, str], int | None],
    threshold: int = DEFAULT_THRESHOLD,
    groups: Mapping[str, int | None] | None = None,
    products: Mapping[str, int | None] | None = None,
    overall: int | None = None,
    pre_hidden: Iterable[Hashable] = (),
    cells_published: bool = True,
    cells_first: bool = False,
    lost: Iterable[Hashable] | None = None,
) -> set[tuple]:
    """The (stratum_variable, stratum) keys to hide among overall, PRODUCT, DISGRP and DISGRP/PRODUCT, decided
    jointly (strata_table, suppress + audit). `cells_published=False`: the DISGRP/PRODUCT counts are not shown
    (they are hidden from the start, and the audit still checks that the margins do not narrow them).
    Complements are chosen keeping margins first and, separately, keeping cells first; the pattern hiding the
    least total count is published. `cells_first`: the DISGRP/PRODUCT cells are the headline (response rates,
    reported per disease group and product since the criteria differ by disease): only the cells-first order.
    `lost`: strata whose result (estimates) another table hides already: complements are taken there first (each
    stratum is charged once, by its count, a headline entry above the rest); None: count by count."""
    entries, lines = strata_table(cells, groups, products, overall)
    structural = {k for k in entries if isinstance(k, tuple) and k[0] == NESTED} - {nested_key(g, p) for g, p in cells}
    pre = (set(pre_hidden) & set(entries)) - structural
    unpublished = {nested_key(g, p) for g, p in cells} if not cells_published else set()
    # a structural zero is known to every reader: never a complement
    nested: set[Hashable] = {k for k in entries if isinstance(k, tuple) and k[0] == NESTED and k not in structural}
    # two cost orders (margins kept first, cells kept first; the overall always last); unless the cells are the
    # table's headline, the pattern hiding the least total count is published (Hundepool et al.: cell value cost)
    margins = {line[-1] for line in lines}
    orders = [nested | {OVERALL}] if cells_first else [margins, nested | {OVERALL}]
    patterns: list[tuple[int, int, set[Hashable]]] = []
    for costly in orders:
        strata: dict[Hashable, tuple[Hashable, float]] = {}
        if lost is not None:
            big = 1 + sum(v or 0 for v in entries.values())
            gone = set(lost)
            strata = {k: (k, 0 if k in gone else (v or 0) + (big if k in costly else 0)) for k, v in entries.items()}
        hidden = suppress(
            entries,
            lines,
            threshold,
            pre | unpublished,
            published=structural,
            unpublished=unpublished,
            costly=costly,
            strata=strata,
        )
        patterns.append((sum(entries.get(k) or 0 for k in hidden - pre), len(patterns), hidden))
    return {k for k in min(patterns)[2] if isinstance(k, tuple)}  # every key of strata_table is a tuple
