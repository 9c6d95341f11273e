"""Stratum sizes published by disease group and by product are suppressed as one DISGRP x PRODUCT table."""

from __future__ import annotations

from kocartr.release.outcomes import Rate, suppress_summaries
from kocartr.release.suppression import audit, nested_key, strata_table, suppress_strata

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
    """The outcome tables' own suppression (overall, DISGRP, PRODUCT rows; structure from Table 1's cells)."""
    for nested, cells in ((False, CELLS), (True, None)):
        items = _items(nested)
        suppress_summaries(items, 5, {}, cells)
        hidden = _published_hidden(items)
        entries, lines = strata_table(CELLS)
        if not nested:  # the cells are not published by this table: unknown to a reader
            hidden |= {nested_key(g, p) for g, p in CELLS}
        assert ("PRODUCT", "ANBAL") in hidden
        assert audit(entries, hidden, lines) == {}, nested
