"""Reconcile a pipeline run's adam.adtte (and adam.adrs when present) with the generator's endpoint truth.

The truth (ground_truth/endpoint_truth.parquet, response_truth.parquet) is encoding-free; the ADaM encoding lives
in ONE place here (`adtte_encoding`), so that a change of convention (CNSR, competing-event variable, pre-entry
flag) is one edit. Patients with an injected row defect are left out (their rows are quarantined by design).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

# Truth status -> ADaM (dbt_project/models/adam/endpoints.md): CNSR 0 = event, 1 = censored; a competing event
# has CNSR NULL and CMPEVFL = 'Y' (its own variable, so a naive Kaplan-Meier on CNSR cannot treat it as censored).
STATUS_TO_CNSR = {"event": 0, "censored": 1, "competing": None}
COMPETING_VAR: str | None = "CMPEVFL"
PRE_ENTRY_VAR = "PREENTFL"  # compared only when adam.adtte has it ('Y' = event before registry entry)


def adtte_encoding(truth: pl.DataFrame) -> pl.DataFrame:
    """Truth rows in the ADTTE encoding: CNSR (and the competing variable / pre-entry flag when used)."""
    cnsr = pl.col("status").replace_strict(STATUS_TO_CNSR, return_dtype=pl.Int64)
    cols = [cnsr.alias("CNSR")]
    if COMPETING_VAR:
        cols.append(
            pl.when(pl.col("status") == "competing").then(pl.lit("Y")).otherwise(pl.lit("N")).alias(COMPETING_VAR)
        )
    cols.append(pl.when(pl.col("pre_entry")).then(pl.lit("Y")).otherwise(pl.lit("N")).alias(PRE_ENTRY_VAR))
    return truth.with_columns(cols)


def truth_keys(truth: pl.DataFrame, key: bytes) -> pl.DataFrame:
    """Add the registry patient key (HMAC of site and patient id, as ingestion computes it)."""
    from kocartr.ingest.privacy import patient_keys

    keys = patient_keys(key, truth["site_code"], truth["patient_id"])
    return truth.join(keys, on=["site_code", "patient_id"], how="left")


def _read(warehouse: Path, table: str) -> pl.DataFrame | None:
    import duckdb

    from kocartr.warehouse import table_exists

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.sql(f"select * from {table}").pl() if table_exists(con, table) else None
    finally:
        con.close()


def adtte_mismatches(warehouse: Path, truth_dir: Path, key: bytes) -> tuple[pl.DataFrame, int]:
    """(one row per truth / ADTTE row that differ, number of rows compared) over patients without a defect.

    A row differs when it is missing on either side, or its STARTDT, AVAL, CNSR, ENTRYT (competing variable,
    pre-entry flag when ADTTE has them) differ. `kind` names the first difference.
    """
    truth = truth_keys(pl.read_parquet(Path(truth_dir) / "endpoint_truth.parquet"), key)
    bad = set(truth.filter(pl.col("has_defect"))["patient_key"].to_list())
    truth = adtte_encoding(truth.filter(~pl.col("has_defect")))
    adtte = _read(Path(warehouse), "adam.adtte")
    if adtte is None:
        raise LookupError("adam.adtte is missing from the warehouse")
    adtte = adtte.filter(~pl.col("USUBJID").is_in(list(bad)))
    keep = ["USUBJID", "PARAMCD", "STARTDT", "AVAL", "CNSR", "ENTRYT"] + [
        c for c in (COMPETING_VAR, PRE_ENTRY_VAR) if c and c in adtte.columns
    ]
    pipe = adtte.select(keep).with_columns(
        pl.col("AVAL").cast(pl.Int64), pl.col("CNSR").cast(pl.Int64), pl.col("ENTRYT").cast(pl.Int64)
    )
    t = truth.select(
        pl.col("patient_key").alias("USUBJID"),
        pl.col("paramcd").alias("PARAMCD"),
        pl.col("startdt").alias("STARTDT"),
        pl.col("aval_days").alias("AVAL"),
        "CNSR",
        pl.col("entry_days").alias("ENTRYT"),
        *[c for c in keep[6:]],
        "site_code",
        "patient_id",
    )
    j = t.join(pipe, on=["USUBJID", "PARAMCD"], how="full", suffix="_adtte", coalesce=True)
    checks = [
        ("missing_in_adtte", pl.col("AVAL_adtte").is_null() & pl.col("AVAL").is_not_null()),
        ("missing_in_truth", pl.col("AVAL").is_null()),
    ]
    for c in ["STARTDT", "CNSR", "AVAL", *keep[5:]]:  # ENTRYT, then the optional variables
        checks.append((f"{c}_differs", pl.col(c).ne_missing(pl.col(f"{c}_adtte"))))
    kind = pl.lit(None, pl.Utf8)
    for name, cond in reversed(checks):
        kind = pl.when(cond).then(pl.lit(name)).otherwise(kind)
    out = j.with_columns(kind.alias("kind")).filter(pl.col("kind").is_not_null())
    return out.sort("kind", "PARAMCD", "USUBJID"), j.height


def summary(mismatches: pl.DataFrame) -> pl.DataFrame:
    """Counts by parameter and kind of difference, with the truth -> ADTTE (CNSR) transition."""
    return (
        mismatches.with_columns(
            (
                pl.col("CNSR").cast(pl.Utf8).fill_null("-") + "->" + pl.col("CNSR_adtte").cast(pl.Utf8).fill_null("-")
            ).alias("cnsr_truth_to_adtte")
        )
        .group_by("PARAMCD", "kind", "cnsr_truth_to_adtte")
        .len()
        .sort("PARAMCD", "kind", "len")
    )


# ADRS encoding (adam.adrs): PARAMCD 'BOR', one row per patient and response window (AVISIT D90, D180, ...), the
# best overall response code in AVALC, 'NE' when no qualifying assessment.
ADRS_PARAMCD = "BOR"
ADRS_WINDOWS = ("D90", "D180")


def adrs_encoding(truth: pl.DataFrame) -> pl.DataFrame:
    """Response truth as (patient_key, AVISIT, AVALC) rows, 'NE' when no qualifying assessment."""
    return pl.concat(
        [
            truth.select(
                "patient_key",
                pl.lit(w).alias("AVISIT"),
                pl.col(f"best_response_{w.lower()}").fill_null("NE").alias("AVALC"),
            )
            for w in ADRS_WINDOWS
        ]
    )


def adrs_mismatches(warehouse: Path, truth_dir: Path, key: bytes) -> tuple[pl.DataFrame, int] | None:
    """Best overall response by window, truth vs adam.adrs (None when the warehouse has no ADRS)."""
    adrs = _read(Path(warehouse), "adam.adrs")
    if adrs is None:
        return None
    truth = truth_keys(pl.read_parquet(Path(truth_dir) / "response_truth.parquet"), key)
    bad = truth.filter(pl.col("has_defect"))["patient_key"].to_list()
    t = adrs_encoding(truth.filter(~pl.col("has_defect")))
    pipe = adrs.filter(
        (pl.col("PARAMCD") == ADRS_PARAMCD) & pl.col("AVISIT").is_in(list(ADRS_WINDOWS)) & ~pl.col("USUBJID").is_in(bad)
    ).select(pl.col("USUBJID").alias("patient_key"), "AVISIT", pl.col("AVALC").fill_null("NE"))
    j = t.join(pipe, on=["patient_key", "AVISIT"], how="full", suffix="_adrs", coalesce=True)
    differ = j.filter(pl.col("AVALC").fill_null("NE") != pl.col("AVALC_adrs").fill_null("NE"))
    return differ, j.height
