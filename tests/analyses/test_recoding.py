"""Categories recoded for publication (analyses/recoding.py, the analysis plan's `publication_recoding`): the
rules happen as declared, no disease group, product or disease group x product row below the minimum reaches an
analysis table on its own, and overall rows are the same as without any recoding."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from analyses import outcomes
from analyses.plan import MISSING, PooledVariable, PublicationRecoding, load_plan
from analyses.recoding import apply_recoding, recoding_map

CUTOFF = dt.date(2026, 10, 31)
GP, PP = "OTHER_UNKNOWN", "OTHER_PRODUCTS"


def _rec(minimum: int = 10) -> PublicationRecoding:
    from analyses.plan import Label

    return PublicationRecoding(
        minimum,
        ("DISGRP", "PRODUCT"),
        {
            "DISGRP": PooledVariable("DISGRP", GP, Label("Other / unknown", "기타 / 미상"), ("OTHER",)),
            "PRODUCT": PooledVariable("PRODUCT", PP, Label("Other (pooled)", "기타 (통합)")),
        },
    )


def _adsl(cells: dict[tuple[str | None, str | None], int], not_infused: int = 0) -> pl.DataFrame:
    """One infused patient per count of each (DISGRP, PRODUCT) cell, then `not_infused` ordered LBCL patients."""
    rows = [(g, p, "Y") for (g, p), n in cells.items() for _ in range(n)] + [("LBCL", "AXI_CEL", "N")] * not_infused
    return pl.DataFrame(
        {
            "USUBJID": [f"P{i:03d}" for i in range(len(rows))],
            "DISGRP": [r[0] for r in rows],
            "PRODUCT": [r[1] for r in rows],
            "INFFL": [r[2] for r in rows],
        },
        schema={"USUBJID": pl.Utf8, "DISGRP": pl.Utf8, "PRODUCT": pl.Utf8, "INFFL": pl.Utf8},
    )


def _published(mapping: pl.DataFrame) -> dict[tuple[str, str], tuple[str, str]]:
    return {(r["DISGRP"], r["PRODUCT"]): (r["DISGRP_PUB"], r["PRODUCT_PUB"]) for r in mapping.to_dicts()}


def test_a_two_patient_disease_group_is_pooled_with_a_missing_one_and_not_split_by_product():
    cells = {("LBCL", "AXI_CEL"): 12, ("LBCL", "TISA_CEL"): 11, ("MCL", "TISA_CEL"): 2, (None, "AXI_CEL"): 9}
    m = recoding_map(_adsl(cells), _rec())
    pub = _published(m)
    assert pub[("MCL", "TISA_CEL")] == (GP, PP)  # 2 patients: the group goes, and the pooled group has no products
    assert pub[(MISSING, "AXI_CEL")] == (GP, PP)  # missing disease group, whatever its product
    assert pub[("LBCL", "AXI_CEL")] == ("LBCL", "AXI_CEL") and pub[("LBCL", "TISA_CEL")] == ("LBCL", "TISA_CEL")
    rules = {(r["DISGRP"], r["PRODUCT"]): r["rule"] for r in m.to_dicts()}
    assert "below 10" in rules[("MCL", "TISA_CEL")] and rules[("LBCL", "AXI_CEL")] == ""
    assert m.filter(pl.col("recoded")).height == 2


def test_small_cells_keep_their_group_when_pooled_products_reach_the_minimum():
    """Rule 3 in order: a small cell first loses only its product (within its group); only a pooled-product cell
    still below the minimum moves to the pooled group."""
    cells = {
        ("LBCL", "AXI_CEL"): 30,
        ("LBCL", "ANBAL_CEL"): 6,  # small product (6 < 10) ...
        ("LBCL", "LISO_CEL"): 5,  # ... and another: together 11, they stay LBCL under the pooled product
        ("MM", "CILTA_CEL"): 20,
        ("MM", "AXI_CEL"): 3,  # a 3-patient cell of a large product: alone under MM's pooled product, so it moves
    }
    pub = _published(recoding_map(_adsl(cells), _rec()))
    assert pub[("LBCL", "ANBAL_CEL")] == pub[("LBCL", "LISO_CEL")] == ("LBCL", PP)
    assert pub[("MM", "AXI_CEL")] == (GP, PP)
    assert pub[("LBCL", "AXI_CEL")] == ("LBCL", "AXI_CEL") and pub[("MM", "CILTA_CEL")] == ("MM", "CILTA_CEL")


def test_sizes_count_infused_patients_only_and_every_adsl_pair_is_mapped():
    adsl = _adsl({("LBCL", "AXI_CEL"): 10, ("LBCL", "TISA_CEL"): 10}, not_infused=5)
    ordered_only = pl.DataFrame({"USUBJID": ["X"], "DISGRP": ["MM"], "PRODUCT": ["IDE_CEL"], "INFFL": ["N"]})
    pub = _published(recoding_map(pl.concat([adsl, ordered_only]), _rec()))
    assert pub[("LBCL", "AXI_CEL")] == ("LBCL", "AXI_CEL")  # 10 infused (+5 only ordered): at the minimum, kept
    assert pub[("MM", "IDE_CEL")] == (GP, PP)  # no infused patient: pooled for the ITT tables too


def test_apply_recoding_relabels_only_the_strata():
    adsl = _adsl({("LBCL", "AXI_CEL"): 12, ("MCL", "TISA_CEL"): 2, (None, None): 1})
    out = apply_recoding(adsl, recoding_map(adsl, _rec()))
    assert out.columns == adsl.columns and out["USUBJID"].to_list() == adsl["USUBJID"].to_list()
    assert out.filter(pl.col("USUBJID") == "P012")["DISGRP"].item() == GP  # MCL
    assert out.filter(pl.col("USUBJID") == "P014")[["DISGRP", "PRODUCT"]].row(0) == (GP, PP)  # both missing


def test_the_plan_declares_the_rule_and_its_minimum_is_twice_the_suppression_threshold():
    from kocartr.release.config import load_release_config

    rec = load_plan().recoding
    assert rec is not None and rec.nested == ("DISGRP", "PRODUCT")
    assert rec.min_stratum_size >= 2 * load_release_config().threshold
    codes = _dictionary_codes()
    for var, code_list in (("DISGRP", "disease_group"), ("PRODUCT", "product")):
        assert rec.variables[var].code not in codes[code_list]  # a pooled category is never a recorded one


def _dictionary_codes() -> dict[str, set[str]]:
    import yaml

    from kocartr.paths import DICTIONARY_FILE

    d = yaml.safe_load(DICTIONARY_FILE.read_text(encoding="utf-8"))
    lists = d["code_lists"]
    return {k: {str(c["code"]) for c in lists[k]["codes"]} for k in ("disease_group", "product")}


# --- build_all: the recoding as every analysis table sees it -------------------------------------------------


def _adam(cells: dict[tuple[str | None, str], int]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    adsl = _adsl(cells).with_columns(TRTSDT=pl.lit(dt.date(2025, 1, 1)), REGLATFL=pl.lit("N"))
    n = adsl.height
    adtte = adsl.select("USUBJID", "DISGRP", "PRODUCT").with_columns(
        INFNUM=pl.lit(1),
        PARAMCD=pl.lit("OS"),
        AVAL=pl.Series([30.0 + 17 * i % 400 for i in range(n)]),
        CNSR=pl.Series([i % 3 == 0 for i in range(n)]).cast(pl.Int64),
        CMPEVFL=pl.lit("N"),
        ENTRYT=pl.lit(0.0),
    )
    adae = pl.DataFrame(
        {
            "USUBJID": adsl["USUBJID"][::4],
            "AECAT": ["CRS"] * len(adsl["USUBJID"][::4]),
            "ATOXGR": [str(1 + i % 4) for i in range(len(adsl["USUBJID"][::4]))],
        }
    ).with_columns(ASTDY=pl.lit(3.0), ADURN=pl.lit(4.0))
    return adsl, adtte, adae


CELLS = {("LBCL", "AXI_CEL"): 25, ("LBCL", "TISA_CEL"): 14, ("LBCL", "TRIAL"): 2, ("MM", "CILTA_CEL"): 12}
CELLS |= {("MCL", "TRIAL"): 3, (None, "AXI_CEL"): 1, ("ALL", "TISA_CEL"): 4}


@pytest.fixture(scope="module")
def tables(monkey_module) -> dict[str, pl.DataFrame]:
    from analyses import late_effects

    monkey_module.setattr(late_effects, "build_late", lambda *a, **k: {})  # late effects have their own tests
    adsl, adtte, adae = _adam(CELLS)
    return outcomes.build_all(adtte, adsl, adae, CUTOFF, min_days={})


@pytest.fixture(scope="module")
def monkey_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_no_stratum_below_the_minimum_is_published_as_its_own_row(tables):
    rec = load_plan().recoding
    assert rec is not None
    pooled = {v.code for v in rec.variables.values()}
    adsl, _, _ = _adam(CELLS)
    published = apply_recoding(adsl, tables["publication_recoding"]).filter(pl.col("INFFL") == "Y")
    sizes = {
        "DISGRP": published.group_by("DISGRP").len(),
        "PRODUCT": published.group_by("PRODUCT").len(),
        "DISGRP/PRODUCT": published.group_by(pl.concat_str("DISGRP", pl.lit("/"), "PRODUCT").alias("x")).len(),
    }
    for name in ("survival_estimates", "proportions", "median_followup"):
        strata = tables[name].filter(pl.col("stratum_variable").is_in(list(sizes)))
        assert strata.height, name
        for sv, st in strata.select("stratum_variable", "stratum").unique().iter_rows():
            n = dict(sizes[sv].iter_rows()).get(st, 0)
            assert n >= rec.min_stratum_size or set(st.split("/")) & pooled, (name, sv, st, n)
    raw = {g for g, _ in CELLS if g is not None} | {p for _, p in CELLS}
    shown = set(tables["survival_estimates"]["stratum"].to_list())
    assert {"MCL", "TRIAL", MISSING} & shown == set() and {"LBCL", "AXI_CEL", "CILTA_CEL"} <= shown & raw
    assert shown & {"ALL"} == set()  # 4 patients: pooled


def test_overall_rows_are_those_of_the_unrecoded_data(tables):
    adsl, adtte, adae = _adam(CELLS)
    raw = {
        "survival_estimates": outcomes.survival_estimates(adtte, CUTOFF),
        "proportions": outcomes.proportions(adae, adsl, CUTOFF, {}),
        "median_followup": outcomes.median_followup(adtte, CUTOFF),
    }
    for name, frame in raw.items():
        a = frame.filter(pl.col("stratum_variable") == "overall").drop("note", strict=False)
        b = tables[name].filter(pl.col("stratum_variable") == "overall").drop("note", strict=False)
        assert a.height > 0 and a.equals(b.select(a.columns)), name
