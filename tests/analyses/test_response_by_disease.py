"""Response rates are also given by disease group and by product within disease group (criteria differ by
disease: Lugano, IMWG, ALL MRD), so a product used in two diseases is never only pooled."""

import datetime as dt

import polars as pl

from analyses import outcomes


def test_response_rates_by_disease_group_and_product_within_it() -> None:
    adrs = pl.DataFrame(
        dict(
            USUBJID=["A", "B", "C", "D"],
            PARAMCD=["BOR"] * 4,
            AVISIT=["D90"] * 4,
            AVALC=["CR", "PR", "CR", "SD"],
            CRFL=["Y", "N", "Y", "N"],
            RSPFL=["Y", "Y", "Y", "N"],
            WINDCMFL=["Y"] * 4,
            PRODUCT=["TISA_CEL", "TISA_CEL", "TISA_CEL", "AXI_CEL"],
            DISGRP=["ALL", "LBCL", "ALL", "LBCL"],
        )
    )
    out = outcomes.response_rates(adrs, dt.date(2026, 10, 31)).filter(pl.col("measure") == "cr_rate")
    got = {(r["stratum_variable"], r["stratum"]): (r["events"], r["n"]) for r in out.to_dicts()}
    assert got[("PRODUCT", "TISA_CEL")] == (2, 3)
    assert got[("DISGRP", "ALL")] == (2, 2) and got[("DISGRP", "LBCL")] == (0, 2)
    assert got[("DISGRP/PRODUCT", "ALL/TISA_CEL")] == (2, 2) and got[("DISGRP/PRODUCT", "LBCL/TISA_CEL")] == (0, 1)
