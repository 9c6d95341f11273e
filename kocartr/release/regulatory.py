"""Regulatory views built inside a release (schema `regulatory`), from the released marts and ADaM tables.

- `regulatory.mfds_ltfu_status`: MFDS long-term follow-up status per product and site (patients infused / under
  follow-up / lost / dead / through the 15 years, scheduled visits due, received, overdue and missed, serious
  adverse events, secondary malignancies). MFDS LTFU lasts 15 years from administration (Advanced Regenerative
  Bio Act, Art. 30; registry brief section 6).
- `regulatory.mfds_ltfu_by_year`: the same per product, site and year since infusion (visits by the year they
  fall in; deaths, losses (year of the last contact), serious AEs (year of onset), new malignancies (year of
  diagnosis)).
- `regulatory.expedited_report_candidates`: serious and unexpected events (ICH E2A: T-cell malignancy, CAR-positive
  tumour) listed per month, for the sponsor's / site's expedited reporting.
- `regulatory.hira_outcome_snapshots`: one row per infused patient and landmark (6 and 12 months): vital status
  and progression-free status at the landmark, best response by then; HIRA collects these per patient for
  reimbursed tisagenlecleucel (performance-based refund; registry brief section 4).
- `regulatory.cibmtr_export` (+ `regulatory.cibmtr_mapping`, the machine-readable mapping generated from the
  dictionary's `cibmtr` keys): long format, one row per patient, item, reporting period (100 days, 6 months,
  annual) and value, with its unit.
- `regulatory.rule_sources`: every follow-up window and grading rule the marts apply, with its citation and
  verification status (data/config seeds), so a regulator sees which are published and which are registry choices.

Seriousness counts ICH E2A (marts.fct_adverse_event.serious: reported serious, an E2A criterion named, or grade
4-5). Patient-level / exact counts for regulators: these are not published tables and are not suppressed.
Every view is a contract: a missing source table or column raises RegulatoryViewError naming the view, the table
and the columns (a release is never published with a view silently missing).
"""

from __future__ import annotations

import csv
from datetime import date

from kocartr.dictionary import Dictionary, Field
from kocartr.paths import CONFIG_DIR
from kocartr.release.config import ReleaseConfig
from kocartr.release.publish import ReleaseError


class RegulatoryViewError(ReleaseError):
    """A regulatory view cannot be built from the release's tables (a contract broken upstream): the release is
    not published (`kocartr release` prints the message and exits 1)."""


def _columns(con, schema: str, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ? ORDER BY column_index",
            [schema, table],
        ).fetchall()
    ]


def _require(con, view: str, schema: str, table: str, cols: list[str]) -> list[str]:
    """The table's columns; raises when the table or one of `cols` is missing."""
    have = _columns(con, schema, table)
    if not have:
        raise RegulatoryViewError(
            f"regulatory view {view}: source table {schema}.{table} is missing "
            "(names in data/config/release.yaml `names`)"
        )
    missing = [c for c in cols if c not in have]
    if missing:
        raise RegulatoryViewError(f"regulatory view {view}: {schema}.{table} lacks column(s) {missing}")
    return have


def _year(days_sql: str) -> str:
    """Year since infusion of a day count (day 0-364 = year 1), as fct_followup_schedule.followup_year."""
    return f"CAST(greatest(1, floor(({days_sql}) / 365) + 1) AS INTEGER)"


def _sources(con, config: ReleaseConfig, view: str) -> dict[str, str]:
    """Check every source of the MFDS views; returns the mart names."""
    t = {k: config.mart(k) for k in ("followup_schedule", "adverse_event", "secondary_malignancy")}
    _require(
        con, view, "adam", "adsl", ["USUBJID", "SITEID", "PRODUCT", "TRTSDT", "INFFL", "DTHDT", "LTFUFL", "LSTCNTDT"]
    )
    _require(
        con, view, "marts", t["followup_schedule"], ["patient_key", "followup_year", "window_start_date", "visit_state"]
    )
    _require(con, view, "marts", t["adverse_event"], ["patient_key", "serious", "onset_date"])
    _require(con, view, "marts", t["secondary_malignancy"], ["patient_key", "diagnosis_date", "serious"])
    return t


def _mfds_parts(t: dict[str, str], years: int) -> str:
    """CTEs shared by both MFDS views: infused patients (p), visits (v), serious AEs (s), new malignancies (m),
    each with product, site and year since infusion."""
    return f"""
        p AS (SELECT USUBJID, SITEID AS site_code, PRODUCT AS product, TRTSDT, DTHDT, LSTCNTDT,
                     DTHDT IS NOT NULL AND DTHDT <= $cut AS dead, coalesce(LTFUFL, 'N') = 'Y' AS lost,
                     TRTSDT + INTERVAL {years} YEAR <= $cut AS completed
              FROM adam.adsl WHERE INFFL = 'Y'),
        v AS (SELECT p.product, p.site_code, s.followup_year AS yr,
                     s.window_start_date <= $cut AND s.visit_state <> 'ENDED_BY_DEATH' AS due,
                     s.visit_state = 'RECEIVED' AS received, s.visit_state = 'OVERDUE' AS overdue,
                     s.visit_state = 'MISSED' AS missed
              FROM marts.{t["followup_schedule"]} s JOIN p ON p.USUBJID = s.patient_key),
        s AS (SELECT p.product, p.site_code, e.patient_key, {_year("e.onset_date - p.TRTSDT")} AS yr
              FROM marts.{t["adverse_event"]} e JOIN p ON p.USUBJID = e.patient_key WHERE e.serious = 'Y'),
        m AS (SELECT p.product, p.site_code, {_year("m.diagnosis_date - p.TRTSDT")} AS yr,
                     m.serious = 'Y' AS serious
              FROM marts.{t["secondary_malignancy"]} m JOIN p ON p.USUBJID = m.patient_key)"""


def build_mfds_ltfu_status(con, cutoff: date, config: ReleaseConfig) -> None:
    view = "mfds_ltfu_status"
    t = _sources(con, config, view)
    years = int(config.regulatory.get("ltfu_years", 15))
    con.execute(
        f"""
        CREATE TABLE regulatory.{view} AS
        WITH {_mfds_parts(t, years)},
             base AS (SELECT product, site_code, count(*) AS patients_infused,
                             count(*) FILTER (WHERE NOT dead AND NOT lost AND NOT completed) AS patients_under_followup,
                             count(*) FILTER (WHERE dead) AS deaths,
                             count(*) FILTER (WHERE lost AND NOT dead) AS lost_to_followup,
                             count(*) FILTER (WHERE completed AND NOT dead) AS completed_ltfu
                      FROM p GROUP BY ALL),
             vv AS (SELECT product, site_code, count(*) FILTER (WHERE due) AS visits_due,
                           count(*) FILTER (WHERE due AND received) AS visits_received,
                           count(*) FILTER (WHERE overdue) AS visits_overdue,
                           count(*) FILTER (WHERE missed) AS visits_missed
                    FROM v GROUP BY ALL),
             ss AS (SELECT product, site_code, count(*) AS serious_adverse_events,
                           count(DISTINCT patient_key) AS patients_with_sae FROM s GROUP BY ALL),
             mm AS (SELECT product, site_code, count(*) AS secondary_malignancies,
                           count(*) FILTER (WHERE serious) AS serious_secondary_malignancies FROM m GROUP BY ALL)
        SELECT base.*, coalesce(visits_due, 0) AS visits_due, coalesce(visits_received, 0) AS visits_received,
               coalesce(visits_overdue, 0) AS visits_overdue, coalesce(visits_missed, 0) AS visits_missed,
               coalesce(serious_adverse_events, 0) AS serious_adverse_events,
               coalesce(patients_with_sae, 0) AS patients_with_sae,
               coalesce(secondary_malignancies, 0) AS secondary_malignancies,
               coalesce(serious_secondary_malignancies, 0) AS serious_secondary_malignancies,
               $cut AS data_cutoff
        FROM base LEFT JOIN vv USING (product, site_code) LEFT JOIN ss USING (product, site_code)
        LEFT JOIN mm USING (product, site_code)
        ORDER BY ALL""",
        {"cut": cutoff},
    )


def build_mfds_ltfu_by_year(con, cutoff: date, config: ReleaseConfig) -> None:
    view = "mfds_ltfu_by_year"
    t = _sources(con, config, view)
    years = int(config.regulatory.get("ltfu_years", 15))
    con.execute(
        f"""
        CREATE TABLE regulatory.{view} AS
        WITH {_mfds_parts(t, years)},
             grid AS (SELECT DISTINCT product, site_code, y.yr FROM p CROSS JOIN range(1, {years} + 1) y(yr)),
             cur AS (SELECT product, site_code, {_year("$cut - TRTSDT")} AS yr, count(*) AS n FROM p
                     WHERE NOT dead AND NOT lost AND NOT completed GROUP BY ALL),
             ended AS (SELECT product, site_code,
                              {_year("coalesce(CASE WHEN dead THEN DTHDT END, LSTCNTDT, TRTSDT) - TRTSDT")} AS yr,
                              count(*) FILTER (WHERE dead) AS deaths,
                              count(*) FILTER (WHERE lost AND NOT dead) AS lost_to_followup
                       FROM p WHERE dead OR lost GROUP BY ALL),
             vv AS (SELECT product, site_code, yr, count(*) FILTER (WHERE due) AS visits_due,
                           count(*) FILTER (WHERE due AND received) AS visits_received,
                           count(*) FILTER (WHERE overdue) AS visits_overdue,
                           count(*) FILTER (WHERE missed) AS visits_missed FROM v GROUP BY ALL),
             ss AS (SELECT product, site_code, yr, count(*) AS serious_adverse_events,
                           count(DISTINCT patient_key) AS patients_with_sae FROM s GROUP BY ALL),
             mm AS (SELECT product, site_code, yr, count(*) AS secondary_malignancies FROM m GROUP BY ALL)
        SELECT g.product, g.site_code, g.yr AS year_since_infusion,
               coalesce(cur.n, 0) AS patients_under_followup, coalesce(visits_due, 0) AS visits_due,
               coalesce(visits_received, 0) AS visits_received, coalesce(visits_overdue, 0) AS visits_overdue,
               coalesce(visits_missed, 0) AS visits_missed, coalesce(deaths, 0) AS deaths,
               coalesce(lost_to_followup, 0) AS lost_to_followup,
               coalesce(serious_adverse_events, 0) AS serious_adverse_events,
               coalesce(patients_with_sae, 0) AS patients_with_sae,
               coalesce(secondary_malignancies, 0) AS secondary_malignancies, $cut AS data_cutoff
        FROM grid g LEFT JOIN cur USING (product, site_code, yr) LEFT JOIN ended USING (product, site_code, yr)
        LEFT JOIN vv USING (product, site_code, yr) LEFT JOIN ss USING (product, site_code, yr)
        LEFT JOIN mm USING (product, site_code, yr)
        ORDER BY ALL""",
        {"cut": cutoff},
    )


def build_expedited_candidates(con, config: ReleaseConfig) -> None:
    """Serious and unexpected events (ICH E2A expedited-report candidates), one row per event, by month."""
    view = "expedited_report_candidates"
    spm = config.mart("secondary_malignancy")
    _require(
        con,
        view,
        "marts",
        spm,
        [
            "patient_key",
            "site_code",
            "diagnosis_date",
            "category",
            "serious",
            "seriousness_criteria",
            "is_unexpected",
            "is_t_cell",
            "car_transgene_detected",
            "spm_key",
        ],
    )
    _require(con, view, "adam", "adsl", ["USUBJID", "PRODUCT"])
    con.execute(f"""
        CREATE TABLE regulatory.{view} AS
        SELECT strftime(m.diagnosis_date, '%Y-%m') AS event_month, m.patient_key, m.site_code, a.PRODUCT AS product,
               'secondary_malignancy' AS source_form, m.spm_key AS event_key, m.category AS event_term,
               m.diagnosis_date AS event_date, m.seriousness_criteria,
               concat_ws('; ', CASE WHEN m.is_t_cell THEN 'T-cell malignancy' END,
                         CASE WHEN m.car_transgene_detected = 'Y' THEN 'CAR transgene detected in the tumour' END,
                         CASE WHEN NOT m.is_t_cell AND coalesce(m.car_transgene_detected, 'N') <> 'Y'
                              THEN 'category not in the product information' END) AS unexpected_because
        FROM marts.{spm} m LEFT JOIN adam.adsl a ON a.USUBJID = m.patient_key
        WHERE m.serious = 'Y' AND m.is_unexpected
        ORDER BY ALL""")


def build_hira_snapshots(con, cutoff: date, config: ReleaseConfig, dictionary=None) -> str | None:
    view = "hira_outcome_snapshots"
    adsl = set(_require(con, view, "adam", "adsl", ["USUBJID", "SITEID", "PRODUCT", "TRTSDT"]))
    _require(con, view, "adam", "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    reg = config.regulatory
    landmarks = [int(m) for m in reg.get("hira_landmarks_months", [6, 12])]
    window = int(reg.get("hira_window_days", 30))
    dpm = config.days_per_month
    lm_values = ", ".join(f"({m}, {round(m * dpm)})" for m in landmarks)
    disgrp = "a.DISGRP" if "DISGRP" in adsl else "NULL::VARCHAR"
    inf = "a.INFFL = 'Y'" if "INFFL" in adsl else "a.TRTSDT IS NOT NULL"
    # best response: adam.adrs (the one best-response definition, int_best_response): the latest configured response
    # window that ends on or before the landmark (6 months = 183 days -> D180; 12 months -> D365)
    _require(con, view, "adam", "adrs", ["USUBJID", "PARAMCD", "AVISITN", "AVALC"])
    con.execute(
        f"""
        CREATE TABLE regulatory.hira_outcome_snapshots AS
        WITH lm(months, days) AS (VALUES {lm_values}),
             os AS (SELECT USUBJID, min(AVAL) AS aval, min(CNSR) AS cnsr FROM adam.adtte WHERE PARAMCD = 'OS'
                    GROUP BY ALL),
             pfs AS (SELECT USUBJID, min(AVAL) AS aval, min(CNSR) AS cnsr FROM adam.adtte WHERE PARAMCD = 'PFS'
                     GROUP BY ALL),
             br AS (SELECT l.months, r.USUBJID, arg_max(r.AVALC, r.AVISITN) AS best_response
                    FROM adam.adrs r CROSS JOIN lm l
                    WHERE r.PARAMCD = 'BOR' AND r.AVISITN <= l.days GROUP BY ALL)
        SELECT a.USUBJID AS patient_key, a.SITEID AS site_code, a.PRODUCT AS product, {disgrp} AS disease_group,
               a.TRTSDT AS infusion_date, l.months AS landmark_months,
               a.TRTSDT + CAST(l.days AS INTEGER) AS landmark_date,
               CASE WHEN a.TRTSDT + CAST(l.days + {window} AS INTEGER) <= $cut THEN 'DUE' ELSE 'NOT_YET_DUE' END
                   AS snapshot_status,
               CASE WHEN os.aval >= l.days THEN 'ALIVE' WHEN os.cnsr = 0 AND os.aval < l.days THEN 'DEAD'
                    ELSE 'UNKNOWN' END AS vital_status,
               CASE WHEN pfs.aval >= l.days THEN 'Y' WHEN pfs.cnsr = 0 AND pfs.aval < l.days THEN 'N'
                    ELSE 'UNKNOWN' END AS progression_free,
               br.best_response,
               $cut AS data_cutoff
        FROM adam.adsl a CROSS JOIN lm l
        LEFT JOIN os ON os.USUBJID = a.USUBJID LEFT JOIN pfs ON pfs.USUBJID = a.USUBJID
        LEFT JOIN br ON br.USUBJID = a.USUBJID AND br.months = l.months
        WHERE {inf}
        ORDER BY ALL""",
        {"cut": cutoff},
    )
    return None


def _period_bounds() -> tuple[int, int]:
    """Last day of the 100-day and 6-month reporting periods: the D100 and M6 target days of the follow-up track
    (data/config/followup_schedule.csv; CIBMTR 4100)."""
    with (CONFIG_DIR / "followup_schedule.csv").open(encoding="utf-8") as fh:
        target = {r["timepoint"]: int(r["target_day"]) for r in csv.DictReader(fh)}
    return target["D100"], target["M6"]


def cibmtr_items(dictionary: Dictionary) -> list[tuple[str, Field]]:
    """(form, field) of every dictionary field with a CIBMTR item (free text never leaves the registry)."""
    return [
        (form_name, f)
        for form_name in sorted(dictionary.forms)
        for f in dictionary.form(form_name).fields
        if f.cibmtr and not f.is_free_text
    ]


def build_cibmtr_export(con, config: ReleaseConfig, dictionary: Dictionary) -> str:
    view = "cibmtr_export"
    d100, m6 = _period_bounds()
    patient_t = config.mart("patient")
    _require(con, view, "marts", patient_t, ["patient_key", "first_infusion_date"])
    rows, selects, missing = [], [], []
    for form_name, f in cibmtr_items(dictionary):
        table = config.cibmtr_sources.get(form_name)
        if table is None:
            missing.append(
                f"{form_name}.{f.name}: no source mart for form {form_name} (release.yaml names.cibmtr_sources)"
            )
            continue
        have = _columns(con, "marts", table)
        column = config.cibmtr_field_columns.get(f"{form_name}.{f.name}", f.name)
        unit_col = config.cibmtr_unit_columns.get(f"{form_name}.{f.name}")
        period = config.cibmtr_periods.get(form_name)
        needed = ["patient_key", column] + ([unit_col] if unit_col else []) + ([period] if period else [])
        lacking = [c for c in needed if c not in have]
        if lacking:
            missing.append(f"{form_name}.{f.name} ({f.cibmtr}): marts.{table} lacks {lacking}")
            continue
        unit = f's."{unit_col}"' if unit_col else (f"'{f.unit}'" if f.unit else "NULL::VARCHAR")
        if period == "reporting_period":  # the follow-up schedule carries its period and timepoint
            per, tp = "s.reporting_period", "s.timepoint"
        elif period:  # an event: the period its date falls in, counted from day 0
            day = f'(CAST(s."{period}" AS DATE) - p.first_infusion_date)'
            per = (
                f"CASE WHEN {day} IS NULL THEN NULL WHEN {day} <= {d100} THEN '100_DAYS' "
                f"WHEN {day} <= {m6} THEN '6_MONTHS' ELSE 'ANNUAL' END"
            )
            tp = (
                f"CASE WHEN {day} IS NULL THEN NULL WHEN {day} <= {d100} THEN 'D100' WHEN {day} <= {m6} "
                f"THEN 'M6' ELSE 'Y' || CAST(greatest(1, ceil({day} / 365)) AS INTEGER) END"
            )
        else:  # pre-infusion and product forms (4000, 4003, 4006, CRID): reported once
            per, tp = "'BASELINE'", "NULL::VARCHAR"
        where = config.cibmtr_filters.get(form_name)
        inf = "s.infusion_number" if "infusion_number" in have else "NULL::INTEGER"
        site = "s.site_code" if "site_code" in have else "NULL::VARCHAR"
        item_form = (f.cibmtr or "").split()[0]  # cibmtr_items yields only fields with a CIBMTR item
        rows.append(
            (
                form_name,
                f.name,
                f.cibmtr,
                item_form,
                f"marts.{table}",
                column,
                f"column {unit_col}" if unit_col else f.unit,
                period or "baseline",
            )
        )
        selects.append(
            f"SELECT s.patient_key, {site} AS site_code, CAST({inf} AS INTEGER) AS infusion_number, "
            f"'{item_form}' AS cibmtr_form, '{f.cibmtr}' AS cibmtr_item, {per} AS reporting_period, "
            f"{tp} AS timepoint, '{form_name}' AS source_form, '{f.name}' AS source_field, "
            f'CAST(s."{column}" AS VARCHAR) AS value, CAST({unit} AS VARCHAR) AS value_unit '
            f'FROM marts."{table}" s LEFT JOIN marts."{patient_t}" p ON p.patient_key = s.patient_key '
            f'WHERE s."{column}" IS NOT NULL' + (f" AND ({where})" if where else "")
        )
    if missing:
        raise RegulatoryViewError(
            f"regulatory view {view}: {len(missing)} dictionary CIBMTR item(s) have no source "
            "column:\n  " + "\n  ".join(missing)
        )
    con.execute(
        "CREATE TABLE regulatory.cibmtr_mapping (source_form VARCHAR, source_field VARCHAR, "
        "cibmtr_item VARCHAR, cibmtr_form VARCHAR, source_table VARCHAR, source_column VARCHAR, "
        "value_unit VARCHAR, reporting_period_from VARCHAR)"
    )
    con.executemany("INSERT INTO regulatory.cibmtr_mapping VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(f"CREATE TABLE regulatory.{view} AS SELECT * FROM ({' UNION ALL '.join(selects)}) ORDER BY ALL")
    n_exported = con.execute(
        f"SELECT count(DISTINCT source_form || '.' || source_field) FROM regulatory.{view}"
    ).fetchall()[0][0]
    return (
        f"{view}: {len(rows)} of {len(rows)} dictionary CIBMTR items mapped; {n_exported} carry values at this cut-off"
    )


RULE_SOURCE_FILES = {  # seed -> (rule id columns, what the seed defines)
    "followup_schedule.csv": (("timepoint",), "follow-up window"),
    "icaht_grading.csv": (("phase", "grade", "anc_max"), "ICAHT grade"),
    "ctcae_lab_grading.csv": (("ae_term", "ctcae_version", "grade"), "CTCAE lab grade"),
    "icans_score_grading.csv": (("score_type", "score_min"), "ICANS score band"),
    "recovery_rules.csv": (("analyte",), "blood-count recovery"),
    "clinical_thresholds.csv": (("rule_id",), "clinical threshold"),
}


def rule_sources() -> list[tuple[str, str, str, str, str]]:
    """(seed, kind, rule, citation, status) for every window and grading rule in data/config."""
    out = []
    for name, (keys, kind) in RULE_SOURCE_FILES.items():
        with (CONFIG_DIR / name).open(encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                rule = " ".join(f"{k}={r[k]}" for k in keys)
                if "description" in r and r["description"]:
                    rule += f": {r['description']}"
                out.append((name, kind, rule, r.get("citation", ""), r.get("status", "")))
    return out


def build_rule_sources(con) -> None:
    con.execute(
        "CREATE TABLE regulatory.rule_sources (seed VARCHAR, kind VARCHAR, rule VARCHAR, citation VARCHAR, "
        "status VARCHAR)"
    )
    con.executemany("INSERT INTO regulatory.rule_sources VALUES (?, ?, ?, ?, ?)", rule_sources())


def build_regulatory_views(con, cutoff: date, config: ReleaseConfig, dictionary) -> list[str]:
    """Create schema `regulatory` and its views in the (writable, being built) release database. Raises
    RegulatoryViewError when a source is missing; returns notes for the manifest (CIBMTR coverage)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS regulatory")
    build_mfds_ltfu_status(con, cutoff, config)
    build_mfds_ltfu_by_year(con, cutoff, config)
    build_expedited_candidates(con, config)
    build_hira_snapshots(con, cutoff, config, dictionary)
    build_rule_sources(con)
    return [build_cibmtr_export(con, config, dictionary)]
