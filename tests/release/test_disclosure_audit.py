"""Disclosure audit: a suppressed count must not be recoverable from published margins and zeros."""

from __future__ import annotations

import random

import pytest

from kocartr.release.suppression import (
    DisclosureError,
    audit,
    suppress,
    suppress_event_table,
    suppress_table,
    suppress_vector,
)

# NRM deaths by site as the report showed them: total 19, S01-S03 = 7, 5, 5, S04 and S05 hidden, zeros shown.
NRM = {"S01": 7, "S02": 5, "S03": 5, "S04": 1, "S05": 1, "S06": 0, "total": 19}
NRM_LINES = [["S01", "S02", "S03", "S04", "S05", "S06", "total"]]


def test_nrm_by_site_leak_is_caught_by_the_audit():
    # the old "two hidden per line" pattern: both hidden cells are recovered exactly (= 1)
    assert audit(NRM, {"S04", "S05"}, NRM_LINES) == {"S04": (1.0, 1.0), "S05": (1.0, 1.0)}


def test_single_difference_is_caught():
    assert audit({"a": 3, "b": 9, "t": 12}, {"a"}, [["a", "b", "t"]]) == {"a": (3.0, 3.0)}


def test_suppression_of_nrm_by_site_passes_the_audit():
    hidden = suppress(NRM, NRM_LINES)
    assert {"S04", "S05"} <= hidden and "S06" not in hidden  # zeros stay shown
    assert audit(NRM, hidden, NRM_LINES) == {}
    flags, total_hidden = suppress_vector([7, 5, 5, 1, 1, 0], 19)
    assert flags[3] and flags[4] and not flags[5]
    entries = dict(zip(["S01", "S02", "S03", "S04", "S05", "S06"], [7, 5, 5, 1, 1, 0]), total=19)
    shown = {k for k, h in zip(["S01", "S02", "S03", "S04", "S05", "S06"], flags) if h} | (
        {"total"} if total_hidden else set()
    )
    assert audit(entries, shown, NRM_LINES) == {}


def test_event_table_by_site_passes_the_audit():
    """The report's outcome-by-site shape: per site (N, events) with the overall row published."""
    groups = [(40, 7), (30, 5), (25, 5), (9, 1), (8, 1)]
    per, (oh_n, oh_e) = suppress_event_table(groups, None)
    entries, lines, hidden = {}, [], set()
    for i, ((n, e), (hn, he)) in enumerate(zip(groups, per)):
        entries.update({("e", i): e, ("ne", i): n - e, ("n", i): n})
        lines.append([("e", i), ("ne", i), ("n", i)])
        hidden |= {("n", i)} if hn else set()
        hidden |= {("e", i), ("ne", i)} if he or hn else set()  # events hidden: its complement is unknown too
    entries.update({"E": 19, "NE": sum(n - e for n, e in groups), "N": sum(n for n, _ in groups)})
    lines += [
        [("e", i) for i in range(5)] + ["E"],
        [("ne", i) for i in range(5)] + ["NE"],
        [("n", i) for i in range(5)] + ["N"],
        ["E", "NE", "N"],
    ]
    hidden |= ({"N"} if oh_n else set()) | ({"E", "NE"} if oh_e or oh_n else set())
    assert audit(entries, hidden, lines) == {}


def test_random_two_way_tables_pass_the_audit():
    rng = random.Random(7)
    for _ in range(40):
        r, c = rng.randint(1, 4), rng.randint(2, 4)
        t = [[rng.choice([0, 1, 2, 3, 6, 9, 20]) for _ in range(c)] for _ in range(r)]
        res = suppress_table(t)
        entries = {("c", i, j): t[i][j] for i in range(r) for j in range(c)}
        entries.update({("r", i): sum(t[i]) for i in range(r)})
        entries.update({("k", j): sum(t[i][j] for i in range(r)) for j in range(c)})
        entries["g"] = sum(map(sum, t))
        lines = [[("c", i, j) for j in range(c)] + [("r", i)] for i in range(r)]
        lines += [[("c", i, j) for i in range(r)] + [("k", j)] for j in range(c)]
        lines += [[("r", i) for i in range(r)] + ["g"], [("k", j) for j in range(c)] + ["g"]]
        hidden = {("c", i, j) for i in range(r) for j in range(c) if res.cells[i][j]}
        hidden |= {("r", i) for i in range(r) if res.row_totals[i]}
        hidden |= {("k", j) for j in range(c) if res.col_totals[j]} | ({"g"} if res.grand_total else set())
        assert audit(entries, hidden, lines) == {}, t


def test_a_table_that_cannot_be_protected_is_refused():
    # the other cell and the total are published by a related table, so hiding them here protects nothing
    with pytest.raises(DisclosureError, match="narrowed"):
        suppress({"a": 2, "b": 7, "t": 9}, [["a", "b", "t"]], published=("b", "t"))
    assert suppress({"a": 2, "b": 7, "t": 9}, [["a", "b", "t"]], published=("t",)) == {"a", "b"}


def test_audit_reports_what_the_full_bounds_report():
    # the audit skips the programs of entries that found tables already show to be wide; on random two-way tables
    # and random hidden sets (many of them narrowed), it reports exactly the entries, and bounds, that solving both
    # programs of every hidden entry reports
    from kocartr.release.suppression import _interval, _model

    def full_bounds(entries, hidden, lines):  # both programs of every hidden entry
        keys, optimum = _model(entries, hidden, lines)
        return {k: _interval(optimum(i, 1.0)[0], optimum(i, -1.0)[0]) for i, k in enumerate(keys)}

    rng = random.Random(11)
    narrowed = 0
    for _ in range(60):
        r, c = rng.randint(1, 4), rng.randint(2, 4)
        t = [[rng.choice([0, 1, 2, 3, 6, 9, 20]) for _ in range(c)] for _ in range(r)]
        entries: dict = {("c", i, j): t[i][j] for i in range(r) for j in range(c)}
        entries.update({("r", i): sum(t[i]) for i in range(r)})
        entries.update({("k", j): sum(t[i][j] for i in range(r)) for j in range(c)})
        entries["g"] = sum(map(sum, t))
        if rng.random() < 0.3:
            entries[("c", 0, 0)] = None  # not shown anyway: hidden, never reported
        lines = [[("c", i, j) for j in range(c)] + [("r", i)] for i in range(r)]
        lines += [[("c", i, j) for i in range(r)] + [("k", j)] for j in range(c)]
        lines += [[("r", i) for i in range(r)] + ["g"], [("k", j) for j in range(c)] + ["g"]]
        hidden = {k for k in entries if entries[k] is None or rng.random() < 0.4}
        if not hidden:
            continue
        for threshold in (3, 5, 11):
            full = full_bounds(entries, hidden, lines)
            want = {k: b for k, b in full.items() if entries[k] is not None and b[1] - b[0] + 1 < threshold - 1e-9}
            got = audit(entries, hidden, lines, threshold)
            assert got == want and list(got) == list(want), (t, hidden, threshold)
            narrowed += bool(want)
    assert narrowed > 20  # the comparison covers narrowed patterns, not only passing ones
