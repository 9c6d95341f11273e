"""A toxicity form row pending in quarantine (an open site query) leaves its patient out of that toxicity's
denominator, counted beside n; a row corrected in a later month counts again. Real ingest on a tmp warehouse."""

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
    ]
    # May: P00004's row was corrected, so only P00002 is pending; the RRN row is counted apart, unkeyed
    assert pend.keys == frozenset({patient_key(KEY, "S01", "P00002")}) and pend.unkeyed == 1


def test_pending_follows_the_registry_month(tmp_path: Path) -> None:
    pend, _ = _pending(tmp_path, "2026-04")  # April: the correction was not submitted yet
    assert pend.keys == frozenset(patient_key(KEY, "S01", p) for p in ("P00002", "P00004"))


def test_a_patient_with_a_pending_crs_row_is_not_evaluable_yet_and_counted(tmp_path: Path) -> None:
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

    crs = row("CRS", "overall")
    assert (crs["n"], crs["n_not_evaluable"], crs["events"]) == (3, 1, 2)
    assert (
        "1 with their crs form row pending in quarantine" in crs["note"]
        and "1 pending rows with a defective" in crs["note"]
    )
    axi = row("CRS", "AXI_CEL")
    assert (axi["n"], axi["n_not_evaluable"], axi["events"]) == (2, 1, 2)
    assert (row("CRS", "TISA_CEL")["n_not_evaluable"], row("CRS", "TISA_CEL")["n"]) == (0, 1)
    icans = row("ICANS", "overall")  # no pending ICANS row: everyone evaluable
    assert (icans["n"], icans["n_not_evaluable"]) == (4, 0)
    # without the pending rows, P00002 counts as CRS-free: the bias this rule removes
    before = outcomes.proportions(adae, adsl, CUTOFF, {"CRS": 45})
    b = before.filter(
        (pl.col("endpoint") == "CRS") & (pl.col("stratum") == "overall") & (pl.col("measure") == "any_grade")
    ).row(0, named=True)
    assert (b["n"], b["events"]) == (4, 2)


def test_pending_forms_come_from_configuration() -> None:
    forms = outcomes.load_pending_forms()
    assert forms["CRS"] == ("crs",) and forms["ICANS"] == ("icans",) and forms["ICAHT_EARLY"] == ()
