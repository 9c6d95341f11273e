"""A toxicity form row pending in quarantine (an open site query) means the toxicity occurred with its details
unknown: an event for any grade, not evaluable for the measures its content would decide; a row corrected in a later
month counts as accepted, a duplicate_record row is no pending information. Real ingest on a tmp warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from analyses import outcomes
from kocartr.ingest import ingest, patient_key
from tests.ingest.helpers import KEY, clean_rows, csv_text, write

CUTOFF = dt.date(2026, 5, 31)
RRN_AS_ID = "900101-1234567"  # shaped like a resident registration number: must never be keyed


def _submit(root: Path) -> None:
    april = clean_rows("crs", 4, month="2026-04")
    april[1]["fever"] = ""  # P00002: required field blank -> quarantined, never corrected
    april[2]["patient_id"] = RRN_AS_ID  # P00003's row: defect in the patient id itself -> no patient key
    april[3]["onset_date"] = ""  # P00004: quarantined in April ...
    april.append(dict(april[0]))  # P00001's record id twice: duplicate_record, the first row is kept (accepted)
    write(root, "S01/2026-04/crs.csv", csv_text(april))
    may = clean_rows("crs", 1, month="2026-05", start=4)  # ... and corrected (same record id) in May
    write(root, "S01/2026-05/crs.csv", csv_text(may))


def _pending(tmp_path: Path, month: str) -> tuple[outcomes.Pending, list[tuple]]:
    root = tmp_path / "submissions"
    _submit(root)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        ingest(con, root, KEY)
        pend = outcomes.read_pending(con, month, {"CRS": ("crs",)})["CRS"]
        keys = con.sql(
            "select distinct source_file, source_row, patient_key from audit.quarantine order by 1, 2"
        ).fetchall()
    finally:
        con.close()
    return pend, keys


def test_quarantined_rows_carry_the_patient_key_unless_the_patient_id_is_defective(tmp_path: Path) -> None:
    pend, keys = _pending(tmp_path, "2026-05")
    assert keys == [
        ("S01/2026-04/crs.csv", 3, patient_key(KEY, "S01", "P00002")),
        ("S01/2026-04/crs.csv", 4, None),
        ("S01/2026-04/crs.csv", 5, patient_key(KEY, "S01", "P00004")),
        ("S01/2026-04/crs.csv", 6, patient_key(KEY, "S01", "P00001")),
    ]
    # May: P00004's row was corrected, so only P00002 is pending; the RRN row is counted apart, unkeyed; P00001's
    # duplicate row is no pending information (its record was accepted from row 2), though its site query is open
    assert pend.keys == frozenset({patient_key(KEY, "S01", "P00002")}) and pend.unkeyed == 1


def test_pending_follows_the_registry_month(tmp_path: Path) -> None:
    pend, _ = _pending(tmp_path, "2026-04")  # April: the correction was not submitted yet
    assert pend.keys == frozenset(patient_key(KEY, "S01", p) for p in ("P00002", "P00004"))


def test_a_patient_with_a_pending_crs_row_had_crs(tmp_path: Path) -> None:
    pend, _ = _pending(tmp_path, "2026-05")
    k = {p: patient_key(KEY, "S01", p) for p in ("P00001", "P00002", "P00004", "P00005")}
    adsl = pl.DataFrame(
        dict(
            USUBJID=list(k.values()),
            INFFL=["Y"] * 4,
            PRODUCT=["AXI_CEL", "AXI_CEL", "AXI_CEL", "TISA_CEL"],
            TRTSDT=[CUTOFF - dt.timedelta(days=100)] * 4,
        )
    )
    # CRS accepted for P00001 and for P00004 (its corrected row); P00002's CRS row is pending; P00005 had none
    adae = (
        pl.DataFrame(
            dict(USUBJID=[k["P00001"], k["P00004"]], AECAT=["CRS", "CRS"], ATOXGR=[2, 1], ASTDY=[3, 4], ADURN=[5, 6])
        )
        .with_columns(pl.lit("N").alias(c) for c in ("AETOCI", "AESTER", "AEICU"))
        .with_columns(ICUDAYS=pl.lit(0))
    )
    out = outcomes.proportions(adae, adsl, CUTOFF, {"CRS": 45}, {"CRS": pend})

    def row(ep: str, stratum: str) -> dict:
        return out.filter(
            (pl.col("endpoint") == ep) & (pl.col("stratum") == stratum) & (pl.col("measure") == "any_grade")
        ).row(0, named=True)

    # a crs row exists only when CRS occurred: P00002 (pending) has CRS, P00001's duplicate changes nothing
    crs = row("CRS", "overall")
    assert (crs["n"], crs["n_not_evaluable"], crs["events"]) == (4, 0, 3)
    assert (
        "1 with their crs form row pending in quarantine (open site query) counted as having" in crs["note"]
        and "1 pending rows with a defective" in crs["note"]
    )
    axi = row("CRS", "AXI_CEL")
    assert (axi["n"], axi["n_not_evaluable"], axi["events"]) == (3, 0, 3)
    assert (row("CRS", "TISA_CEL")["n_not_evaluable"], row("CRS", "TISA_CEL")["n"]) == (0, 1)
    icans = row("ICANS", "overall")  # no pending ICANS row: everyone evaluable
    assert (icans["n"], icans["n_not_evaluable"]) == (4, 0)
    # without the pending rows, P00002 counts as CRS-free: the bias this rule removes
    before = outcomes.proportions(adae, adsl, CUTOFF, {"CRS": 45})
    b = before.filter(
        (pl.col("endpoint") == "CRS") & (pl.col("stratum") == "overall") & (pl.col("measure") == "any_grade")
    ).row(0, named=True)
    assert (b["n"], b["events"]) == (4, 2)


def _crs(grade: list[int], toci: list[str], ster: list[str], keys: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        dict(USUBJID=keys, AECAT=["CRS"] * len(keys), ATOXGR=grade, ASTDY=[2] * len(keys), ADURN=[5] * len(keys))
    ).with_columns(AETOCI=pl.Series(toci), AESTER=pl.Series(ster), AEICU=pl.lit("N"), ICUDAYS=pl.lit(0))


def test_a_pending_row_settles_any_grade_and_leaves_what_its_content_would_decide_unknown() -> None:
    # A: pending, no accepted row; B: pending beside an accepted grade-3 row with tocilizumab; C: accepted grade 2;
    # D: no CRS; E: pending but infused 10 days before the cut-off (reporting lag first)
    adsl = pl.DataFrame(
        dict(
            USUBJID=list("ABCDE"),
            INFFL=["Y"] * 5,
            PRODUCT=["AXI_CEL"] * 5,
            TRTSDT=[CUTOFF - dt.timedelta(days=d) for d in (100, 100, 100, 100, 10)],
        )
    )
    adae = _crs([3, 2], ["Y", "N"], ["N", "N"], ["B", "C"])
    pend = {"CRS": outcomes.Pending(("crs",), frozenset("ABE"))}
    out = outcomes.proportions(adae, adsl, CUTOFF, {"CRS": 45}, pend).filter(
        (pl.col("endpoint") == "CRS") & (pl.col("stratum") == "overall")
    )
    got = {r["measure"]: (r["n"], r["n_not_evaluable"], r["events"]) for r in out.iter_rows(named=True)}
    assert got["any_grade"] == (4, 1, 3)  # A and B count as events, E is lag
    assert got["max_grade_0"] == (4, 1, 1)
    assert got["grade_ge3"] == (3, 2, 1)  # A unknown; B's accepted grade 3 settles it (yes)
    assert got["max_grade_1"] == (3, 2, 0) and got["max_grade_2"] == (3, 2, 1)  # B: max >= 3 settles "no"
    assert got["max_grade_3"] == (2, 3, 0)  # B's pending row might be grade 4
    assert got["max_grade_unknown"] == (3, 2, 0)
    assert got["tocilizumab"] == (3, 2, 1) and got["steroids"] == (2, 3, 0)  # B's tocilizumab settles it
    assert got["onset_day"] == (2, 3, 1)  # C only: a pending row may hold the first episode
    note = out.filter(pl.col("measure") == "grade_ge3")["note"][0]
    assert "1 with their crs form row pending in quarantine not evaluable for this measure" in note
    # the same patients without the pending rows: A counted CRS-free, grade >= 3 over all four
    before = outcomes.proportions(adae, adsl, CUTOFF, {"CRS": 45}).filter(
        (pl.col("endpoint") == "CRS") & (pl.col("stratum") == "overall") & (pl.col("measure") == "any_grade")
    )
    assert (before["n"][0], before["events"][0]) == (4, 2)


def test_pending_forms_come_from_configuration() -> None:
    forms = outcomes.load_pending_forms()
    assert forms["CRS"] == ("crs",) and forms["ICANS"] == ("icans",) and forms["ICAHT_EARLY"] == ()


def test_the_release_flow_counts_the_any_grade_denominator(tmp_path: Path) -> None:
    # "Evaluable for CRS and ICANS" in the release's patient flow = the any-grade n: a patient with a pending row
    # is in both (A, B), a patient in the reporting lag in neither (E)
    from kocartr.release.report_tables import _flow_counts

    infused = [CUTOFF - dt.timedelta(days=d) for d in (100, 100, 100, 100, 10)]
    adsl = pl.DataFrame(dict(USUBJID=list("ABCDE"), INFFL=["Y"] * 5, PRODUCT=["AXI_CEL"] * 5, TRTSDT=infused))
    pend = outcomes.Pending(("crs",), frozenset("ABE"))
    out = outcomes.proportions(_crs([3], ["N"], ["N"], ["B"]), adsl, CUTOFF, {"CRS": 45, "ICANS": 45}, {"CRS": pend})
    any_n = out.filter(
        pl.col("endpoint").is_in(["CRS", "ICANS"])
        & (pl.col("stratum") == "overall")
        & (pl.col("measure") == "any_grade")
    )
    con = duckdb.connect(str(tmp_path / "r.duckdb"))
    try:
        dim = pl.DataFrame(  # noqa: F841 (read by DuckDB below)
            dict(cart_order_date=infused, is_infused=[True] * 5, first_infusion_date=infused, disease_group=["L"] * 5)
        )
        con.execute("CREATE SCHEMA marts; CREATE TABLE marts.dim_patient AS SELECT * FROM dim")
        flow = _flow_counts(con, 45, CUTOFF)
    finally:
        con.close()
    assert flow is not None
    assert (
        dict(zip(any_n["endpoint"], any_n["n"]))
        == {"CRS": 4, "ICANS": 4}
        == {e: sum(bool(p["evaluable"]) for p in flow) for e in ("CRS", "ICANS")}
    )
