"""Stratum sizes published by disease group and by product are suppressed as one DISGRP x PRODUCT table."""

from __future__ import annotations

from kocartr.release.outcomes import Rate, suppress_summaries
from kocartr.release.suppression import OVERALL, audit, nested_key, strata_table, suppress_strata

# large B-cell lymphoma 96 = axi-cel 70 + tisa-cel 24 + anbal-cel 2; myeloma 54 = cilta-cel 30 + ide-cel 24
CELLS = {("LBCL", "AXI"): 70, ("LBCL", "TISA"): 24, ("LBCL", "ANBAL"): 2, ("MM", "CILTA"): 30, ("MM", "IDE"): 24}


def _items(nested: bool) -> list[Rate]:
    def r(sv: str, st: str, n: int) -> Rate:
        return Rate("OS", sv, st, "KM", n, n // 2, None, None, None)

    out = [r("overall", "overall", 150), r("DISGRP", "LBCL", 96), r("DISGRP", "MM", 54)]
    out += [r("PRODUCT", p, sum(v for (_, q), v in CELLS.items() if q == p)) for p in ("ANBAL", "AXI", "CILTA", "IDE")]
    out.append(r("PRODUCT", "TISA", 24))
    if nested:
        out += [r("DISGRP/PRODUCT", f"{g}/{p}", n) for (g, p), n in CELLS.items()]
    return out


def _published_hidden(items: list[Rate]) -> set:
    return {(s.stratum_variable, s.stratum) for s in items if s.n_hidden}


def test_subtraction_attack_is_caught_by_the_audit():
    entries, lines = strata_table(CELLS)
    # per-stratification suppression: anbal-cel hidden with a complement in the product row, groups shown
    hidden = {("PRODUCT", "ANBAL"), ("PRODUCT", "IDE"), ("DISGRP/PRODUCT", "LBCL/ANBAL")}
    assert audit(entries, hidden, lines)[("PRODUCT", "ANBAL")] == (2.0, 2.0)


def test_joint_suppression_passes_the_audit():
    entries, lines = strata_table(CELLS)
    hidden = suppress_strata(CELLS)
    assert ("PRODUCT", "ANBAL") in hidden and ("DISGRP/PRODUCT", "LBCL/ANBAL") in hidden
    assert audit(entries, hidden, lines) == {}


def test_published_sizes_do_not_reveal_anbal_cel_by_subtraction():
    """The outcome tables' own suppression: with DISGRP/PRODUCT rows (response), and without them, the cells then
    being Table 1's product columns (the sizes dict holds their hidden flags)."""
    for nested, cells in ((False, CELLS), (True, None)):
        items, sizes = _items(nested), {}
        suppress_summaries(items, 5, sizes, cells)
        hidden = _published_hidden(items)
        if not nested:
            hidden |= {k for k, v in sizes.items() if v and k[0] == "DISGRP/PRODUCT"}
        entries, lines = strata_table(CELLS)
        assert ("PRODUCT", "ANBAL") in hidden and ("DISGRP/PRODUCT", "LBCL/ANBAL") in hidden
        assert audit(entries, hidden, lines) == {}, nested


def _audit_group(items: list, what: str, cells: dict, sizes_hidden: dict) -> dict:
    """Audit one endpoint's published DISGRP, PRODUCT and overall counts (`what`: 'n' or 'events') as the
    DISGRP x PRODUCT table a reader can set up: the cells as published (DISGRP/PRODUCT rows, or Table 1's product
    columns when the population is the infused patients), else unknown."""
    by = {(s.stratum_variable, s.stratum): s for s in items}
    nested = {tuple(k[1].split("/", 1)): s for k, s in by.items() if k[0] == "DISGRP/PRODUCT"}
    margins = {k: s for k, s in by.items() if k[0] in ("DISGRP", "PRODUCT", "overall")}
    if nested:
        vals = {gp: getattr(s, what) for gp, s in nested.items()}
        hidden_cells = {nested_key(*gp) for gp, s in nested.items() if getattr(s, f"{what}_hidden")}
    elif what == "n" and all(
        s.n == sum(v for gp, v in cells.items() if k == ("overall", "overall") or gp[k[0] == "PRODUCT"] == k[1])
        for k, s in margins.items()
    ):
        vals = dict(cells)
        hidden_cells = {nested_key(*gp) for gp in cells if sizes_hidden.get(nested_key(*gp))}
    else:
        vals = {gp: None for gp in cells}
        hidden_cells = {nested_key(*gp) for gp in cells}
    entries, lines = strata_table(
        vals,
        groups={k[1]: getattr(s, what) for k, s in margins.items() if k[0] == "DISGRP"},
        products={k[1]: getattr(s, what) for k, s in margins.items() if k[0] == "PRODUCT"},
        overall=getattr(by[("overall", "overall")], what) if ("overall", "overall") in by else None,
    )
    hidden = hidden_cells | {k for k, s in margins.items() if getattr(s, f"{what}_hidden")}
    hidden |= {k for k, v in entries.items() if v is None}
    return audit(entries, hidden, lines)


def test_pipeline_release_sizes_and_events_pass_the_joint_audit(published):
    """Every published outcome table of the pipeline-built release: no disease group's published size and its
    products' published sizes (or event counts) let a hidden count be derived."""
    import duckdb

    from kocartr.release.config import load_release_config
    from kocartr.release.outcomes import build_outcomes

    con = duckdb.connect(str(published / "kocartr_release.duckdb"), read_only=True)
    try:
        pub = build_outcomes(con, load_release_config())
    finally:
        con.close()
    assert pub.cells and len({g for g, _ in pub.cells}) >= 2
    tables = [pub.km_summary, pub.cif_summary, pub.rates, pub.followup, *pub.by_measure.values()]
    checked = 0
    for items in tables:
        by_ep: dict[str, list] = {}
        for s in items:
            by_ep.setdefault(s.endpoint, []).append(s)
        for ep, group in by_ep.items():
            if not {"DISGRP", "PRODUCT"} <= {s.stratum_variable for s in group}:
                continue
            for what in ("n", "events"):
                assert _audit_group(group, what, pub.cells, pub.sizes_hidden) == {}, (ep, what)
                checked += 1
    assert checked >= 10
    # the stratum sizes as one table (Table 1's cells with the outcome tables' margins)
    entries, lines = strata_table(pub.cells)
    assert audit(entries, {k for k in entries if pub.sizes_hidden.get(k)}, lines) == {}


# the pipeline fixture's infused patients: small trial-product cells in four disease groups beside large LBCL cells
SMALL = {
    ("ALL", "TISA"): 11,
    ("ALL", "TRIAL"): 1,
    ("INDOLENT", "TRIAL"): 2,
    ("LBCL", "AXI"): 47,
    ("LBCL", "TISA"): 37,
    ("MCL", "TRIAL"): 3,
    ("MM", "CILTA"): 18,
    ("MM", "TRIAL"): 1,
}
SMALL_CELLS = {k for k, v in SMALL.items() if v < 5}


def test_least_loss_complements_publish_the_large_cells_and_the_attack_still_fails():
    """The first-found complement rule hid axi-cel's 47 LBCL patients, the axi-cel total and tisa-cel's 37 LBCL
    patients. Complements by least loss (two cost orders, redundant complements shown again, the pattern hiding
    the least total count kept) publish the LBCL group, axi-cel and both LBCL cells, and still no hidden count can
    be recovered or narrowed below the threshold."""
    entries, lines = strata_table(SMALL)
    hidden = suppress_strata(SMALL)
    assert audit(entries, hidden, lines) == {}
    assert {nested_key(*k) for k in SMALL_CELLS} <= hidden
    shown = {("DISGRP", "LBCL"), ("PRODUCT", "AXI"), nested_key("LBCL", "AXI"), nested_key("LBCL", "TISA"), OVERALL}
    assert not hidden & shown
    assert sum(entries[k] for k in hidden) < 120  # the first-found rule hid 209 (patients counted per entry)
    # the subtraction attack on the result: every line holds zero or at least two hidden entries
    assert all(sum(k in hidden for k in line) != 1 for line in lines)


# the shipped sample's infused patients: a disease group missing for 5 patients spread over three products
SAMPLE = {
    ("(missing)", "ANBAL"): 1,
    ("(missing)", "AXI"): 2,
    ("(missing)", "TISA"): 2,
    ("ALL", "TISA"): 38,
    ("INDOLENT", "TRIAL"): 3,
    ("LBCL", "ANBAL"): 3,
    ("LBCL", "AXI"): 122,
    ("LBCL", "TISA"): 89,
    ("LBCL", "TRIAL"): 2,
    ("MCL", "TRIAL"): 8,
    ("MM", "CILTA"): 61,
    ("MM", "TRIAL"): 6,
    ("OTHER", "TRIAL"): 5,
}


def test_response_cells_first_hides_margins_instead_of_large_cells():
    """A product column with a small cell (2 axi-cel patients of unknown disease) needs the large cell or the
    product total hidden. Sizes keep the product totals (the LBCL cells go); response rates, reported per disease
    group and product, keep the LBCL cells and hide margins instead: the same protection (the audit passes)."""
    entries, lines = strata_table(SAMPLE)
    default, first = suppress_strata(SAMPLE), suppress_strata(SAMPLE, cells_first=True)
    lbcl = {nested_key("LBCL", "AXI"), nested_key("LBCL", "TISA")}
    products = {("PRODUCT", "AXI"), ("PRODUCT", "TISA")}
    assert audit(entries, default, lines) == {} and audit(entries, first, lines) == {}
    assert lbcl <= default and not products & default
    assert not lbcl & first and products <= first and OVERALL not in first


# the shipped sample's NRM deaths by disease group and product (after the publication recoding): each product
# but tisa-cel treats one disease group, so a group's count and its product's count are the same number
NRM = {
    ("ALL", "TISA"): 2,
    ("LBCL", "AXI"): 6,
    ("LBCL", "TISA"): 5,
    ("MM", "CILTA"): 5,
    ("OTHER", "OTHER_PRODUCTS"): 1,
}


def test_cheaper_complement_in_the_linked_margin_is_chosen():
    """Event counts per cell are not published; the per-stratification passes have hidden myeloma and cilta-cel
    (5 each) beside ALL's 2 and other's 1. Then myeloma + other = 6 (products line) and ALL + myeloma + other =
    19 - 11 (groups line): ALL = 2. On ALL's own lines only LBCL's 11 deaths (or the overall) can protect it; axi-cel's
    6, on the linked product line, protects it too (LBCL's deaths then no longer tell its tisa-cel share) at less
    loss, and the pattern passes the audit."""
    pre = [("DISGRP", "MM"), ("PRODUCT", "CILTA")]
    hidden = suppress_strata(NRM, pre_hidden=pre, cells_published=False)
    assert ("PRODUCT", "AXI") in hidden and ("DISGRP", "LBCL") not in hidden and OVERALL not in hidden
    assert {("DISGRP", "ALL"), ("DISGRP", "OTHER"), ("PRODUCT", "OTHER_PRODUCTS")} <= hidden
    entries, lines = strata_table(NRM)
    shown = {k: (None if k[0] == "DISGRP/PRODUCT" else v) for k, v in entries.items()}  # cells: not published
    assert audit(shown, hidden | {k for k, v in shown.items() if v is None}, lines) == {}
    # the same-line complement (LBCL) would hide more: 11 deaths against 6
    same_line = hidden - {("PRODUCT", "AXI")} | {("DISGRP", "LBCL")}
    assert audit(shown, same_line | {k for k, v in shown.items() if v is None}, lines) == {}
    assert sum(shown[k] or 0 for k in hidden) < sum(shown[k] or 0 for k in same_line)
