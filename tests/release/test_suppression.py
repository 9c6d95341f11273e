"""Small-cell suppression, against hand-computed cases (threshold 5 unless stated)."""

import pytest

from kocartr.release.config import load_release_config
from kocartr.release.suppression import is_small, suppress_event_table, suppress_table, suppress_vector


def test_threshold_from_config_is_5():
    assert load_release_config().threshold == 5


def test_is_small():
    assert [is_small(v) for v in (0, 1, 4, 5, None)] == [False, True, True, False, False]
    assert is_small(9, threshold=10) and not is_small(10, threshold=10)


def test_vector_one_small_cell_gets_a_complement():
    # 3 is hidden; total 25 would reveal it, so the smallest non-zero other cell (10) goes too; zeros stay
    assert suppress_vector([10, 3, 12, 0], total=25) == ([True, True, False, False], False)


def test_vector_prefers_a_non_zero_complement():
    assert suppress_vector([3, 0, 8]) == ([True, False, True], False)


def test_vector_two_small_cells_need_no_complement():
    assert suppress_vector([5, 3, 4]) == ([False, True, True], False)


def test_vector_small_total_is_hidden_too():
    assert suppress_vector([2, 0, 0]) == ([True, False, False], True)


def test_vector_nothing_small():
    assert suppress_vector([0, 7, 9]) == ([False, False, False], False)
    assert suppress_vector([6, 0]) == ([False, False], False)


def test_vector_without_published_total_needs_no_complement():
    assert suppress_vector([10, 3, 12], total_shown=False) == ([False, True, False], False)


def test_vector_custom_threshold():
    assert suppress_vector([9, 12, 20], threshold=10) == ([True, True, False], False)


def test_two_by_two_with_one_small_cell_hides_all_four_cells():
    #        A   B | tot
    # r1    10   3 | 13
    # r2     8  20 | 28
    # tot   18  23 | 41      3 -> row r1 needs 10, column B needs 20, column A then needs 8
    res = suppress_table([[10, 3], [8, 20]])
    assert res.cells == [[True, True], [True, True]]
    assert res.row_totals == [False, False] and res.col_totals == [False, False] and not res.grand_total


def test_three_by_three_hides_a_rectangle():
    #        A   B   C | tot
    # r1    12   2  15 |  29
    # r2    20  14  30 |  64
    # r3     9  11  25 |  45
    # 2 -> row r1: 12 (smaller of 12/15, both open one line); column A: 9 (smaller of 20/9);
    # column B: 11 (row r3 already has a hidden cell, so no new line opens) -> the rectangle r1/r3 x A/B
    res = suppress_table([[12, 2, 15], [20, 14, 30], [9, 11, 25]])
    assert res.cells == [[True, True, False], [False, False, False], [True, True, False]]
    assert not any(res.row_totals) and not any(res.col_totals) and not res.grand_total


@pytest.mark.slow  # a few hundred random tables through the disclosure audit
def test_every_line_has_zero_or_at_least_two_hidden():
    import random

    rng = random.Random(3)
    for _ in range(200):
        r, c = rng.randint(1, 5), rng.randint(1, 4)
        t = [[rng.choice([0, 1, 2, 3, 4, 5, 8, 13, 40]) for _ in range(c)] for _ in range(r)]
        res = suppress_table(t)
        rt = [sum(row) for row in t]
        ct = [sum(t[i][j] for i in range(r)) for j in range(c)]
        for i in range(r):
            hidden = sum(res.cells[i]) + res.row_totals[i]
            assert hidden != 1, (t, res)
            for j in range(c):
                if 1 <= t[i][j] <= 4:
                    assert res.cells[i][j]
        for j in range(c):
            assert sum(res.cells[i][j] for i in range(r)) + res.col_totals[j] != 1, (t, res)
        assert sum(res.row_totals) + res.grand_total != 1
        assert sum(res.col_totals) + res.grand_total != 1
        for i, v in enumerate(rt):
            assert res.row_totals[i] or not (1 <= v <= 4)
        for j, v in enumerate(ct):
            assert res.col_totals[j] or not (1 <= v <= 4)


def test_event_table_hides_the_complement_of_a_small_event_count():
    # strata (N, events): (20, 3), (30, 12); overall (50, 15). Cells [events, no event]: [3, 17], [12, 18].
    # 3 -> its row needs 17; column "events" needs 12; column "no event" needs 18. N and overall stay.
    per, overall = suppress_event_table([(20, 3), (30, 12)], (50, 15))
    assert per == [(False, True), (False, True)]
    assert overall == (False, False)


def test_event_table_small_stratum_hides_another_stratum_size():
    # stratum sizes 2, 40, 30 with overall 72: N=2 is hidden, so another N must go (overall would reveal it)
    per, overall = suppress_event_table([(2, 1), (40, 10), (30, 9)], (72, 20))
    assert per[0] == (True, True)
    assert sum(1 for n_hidden, _ in per if n_hidden) >= 2
    assert overall == (False, False)


def test_event_table_overall_only():
    assert suppress_event_table([], (80, 3)) == ([], (False, True))
    assert suppress_event_table([], (3, 0)) == ([], (True, False))


def test_the_audit_solver_prints_nothing_to_the_terminal():
    """HiGHS prints a banner from C++ on its first model in a process; the run's terminal must show the run only."""
    import subprocess
    import sys

    code = "from kocartr.release.suppression import _new_highs; _new_highs(); _new_highs(); print('done')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "done\n", out.stdout
