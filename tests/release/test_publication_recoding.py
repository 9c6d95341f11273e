"""The release's side of the table redesign: report rate tables are suppressed as the report shows them (response
by disease group x product, no margins), a table without an overall row is protected row by row, and the
pipeline-built release shows the published categories (no group below the plan's minimum on its own row) with
every published response row passing the disclosure audit."""

from __future__ import annotations

import polars as pl

from kocartr.release.outcomes import Rate, published_proportions, suppress_summaries
from kocartr.release.suppression import audit, is_small


def _rate(sv: str, st: str, n: int, k: int, ep: str = "RESPONSE_D90/orr") -> Rate:
    return Rate(ep, sv, st, "CP", n, k, None, None, None)


def test_rows_without_an_overall_row_are_protected_each_on_its_own():
    """41 evaluable, 37 responders: the 4 non-responders are a small count, so the responders go, and nothing
    else: with no published total, no other row is needed as a complement."""
    items = [_rate("DISGRP/PRODUCT", "ALL/TISA_CEL", 41, 37), _rate("DISGRP/PRODUCT", "LBCL/AXI_CEL", 114, 77)]
    sizes: dict = {}
    suppress_summaries(items, 5, sizes, cells_first=True)
    assert [(i.n_hidden, i.events_hidden) for i in items] == [(False, True), (False, False)]
    assert not any(len(k) == 2 for k, v in sizes.items() if v)  # no stratum size hidden for other tables


def test_with_a_published_total_the_same_rows_need_a_complement():
    items = [_rate("overall", "overall", 155, 114)]
    items += [_rate("DISGRP/PRODUCT", "ALL/TISA_CEL", 41, 37), _rate("DISGRP/PRODUCT", "LBCL/AXI_CEL", 114, 77)]
    suppress_summaries(items, 5, {})
    assert items[2].events_hidden or items[0].events_hidden  # the total would give the hidden row back


def test_only_the_report_rates_of_the_plan_are_suppressed_as_published():
    from analyses.plan import load_plan

    props = pl.DataFrame(
        {
            "endpoint": ["RESPONSE_D90", "RESPONSE_D90", "RESPONSE_D90", "CRS", "CRS", "CRS"],
            "measure": ["orr", "orr", "not_evaluable", "grade_ge3", "grade_ge3", "max_grade_2"],
            "stratum_variable": ["DISGRP/PRODUCT", "DISGRP", "DISGRP/PRODUCT", "overall", "PRODUCT", "PRODUCT"],
        }
    )
    kept = published_proportions(props, load_plan().report_rates)
    assert kept.rows() == [("RESPONSE_D90", "orr", "DISGRP/PRODUCT"), ("CRS", "grade_ge3", "overall")] + [
        ("CRS", "grade_ge3", "PRODUCT")
    ]


def test_pipeline_release_publishes_the_recoded_categories_and_its_response_rows_pass_the_audit(published):
    import duckdb

    from analyses.plan import load_plan
    from kocartr.release.config import load_release_config
    from kocartr.release.outcomes import build_outcomes, read_recoding

    rec = load_plan().recoding
    assert rec is not None
    pooled = {v.code for v in rec.variables.values()}
    config = load_release_config()
    con = duckdb.connect(str(published / "kocartr_release.duckdb"), read_only=True)
    try:
        pub = build_outcomes(con, config)
        recoded = read_recoding(con)
    finally:
        con.close()
    assert recoded, "the small generated set has categories below the minimum"
    # Table 1's cells and every margin: a group, product or cell below the minimum only under a pooled code
    rows: dict[str, int] = {}
    for (g, p), n in pub.cells.items():
        for key in (g, p, f"{g}/{p}"):
            rows[key] = rows.get(key, 0) + n
    small = [k for k, n in rows.items() if n < rec.min_stratum_size and not set(k.split("/")) & pooled]
    assert small == []
    # every published response row (no margins): N, responders and non-responders as one line
    checked = 0
    for (ep, _), items in pub.by_measure.items():
        if not ep.startswith("RESPONSE"):
            continue
        assert {i.stratum_variable for i in items} == {"DISGRP/PRODUCT"}
        for i in items:
            entries = {"k": i.events, "rest": i.n - i.events, "n": i.n}
            hidden = {"k", "rest"} if i.events_hidden or i.n_hidden else set()
            hidden |= {"n"} if i.n_hidden else set()
            assert not any(is_small(v, 5) for k, v in entries.items() if k not in hidden), (ep, i.stratum)
            assert audit(entries, hidden, [["k", "rest", "n"]]) == {}, (ep, i.stratum)
            checked += 1
    assert checked >= 4
