"""Regulatory views built inside a release (schema `regulatory`), from the released marts and ADaM tables.

- `regulatory.mfds_ltfu_status`: MFDS long-term follow-up status per product (patients infused / under follow-up,
  scheduled visits due, completed and overdue, serious adverse events, secondary malignancies). MFDS LTFU lasts
  15 years from administration (Advanced Regenerative Bio Act, Art. 30; registry brief section 6).
- `regulatory.hira_outcome_snapshots`: one row per infused patient and landmark (6 and 12 months): vital status
  and progression-free status at the landmark, best response by then; HIRA collects these per patient for
  reimbursed tisagenlecleucel (performance-based refund; registry brief section 4).
- `regulatory.cibmtr_export` (+ `regulatory.cibmtr_mapping`): long format, one row per patient, dictionary field
  and value, labelled with the CIBMTR form and item the dictionary names in its `cibmtr` key.

Patient-level / exact counts for regulators: these are not published tables and are not suppressed.
Every builder is tolerant: a view whose source tables or columns are missing is skipped and a note says why.
"""

from __future__ import annotations

from datetime import date

from kocartr.release.config import ReleaseConfig


def _columns(con, schema: str, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, table]).fetchall()]


def _need(con, schema: str, table: str, cols: list[str]) -> str | None:
    have = _columns(con, schema, table)
    if not have:
        return f"{schema}.{table} missing"
    missing = [c for c in cols if c not in have]
    return f"{schema}.{table} lacks {missing}" if missing else None


def build_mfds_ltfu_status(con, cutoff: date, config: ReleaseConfig) -> str | None:
    why = _need(con, "adam", "adsl", ["USUBJID", "PRODUCT", "TRTSDT"])
    if why:
        return why
    adsl = set(_columns(con, "adam", "adsl"))
    years = int(config.regulatory.get("ltfu_years", 15))
    dead = "DTHDT IS NOT NULL" if "DTHDT" in adsl else "FALSE"
    lost = "coalesce(LTFUFL, 'N') = 'Y'" if "LTFUFL" in adsl else "FALSE"
    inf = "INFFL = 'Y'" if "INFFL" in adsl else "TRTSDT IS NOT NULL"
    sched_t = config.mart("followup_schedule")
    sched_cols = _columns(con, "marts", sched_t)
    ws, we, cd = (config.col(sched_cols, k, required=False) for k in ("window_start", "window_end", "contact_date"))
    sched_ok = "patient_key" in sched_cols and None not in (ws, we, cd)
    if "visit_state" in sched_cols:  # dbt's own state: RECEIVED, ENDED_BY_DEATH, NOT_YET_DUE, OVERDUE, MISSED
        due = f"s.{ws} <= $cut AND s.visit_state <> 'ENDED_BY_DEATH'"
        overdue = "s.visit_state IN ('OVERDUE', 'MISSED')"
        done = "s.visit_state = 'RECEIVED'"
    else:
        # as dbt's visit_state: a visit without contact whose window ends after death is not due
        due = f"s.{ws} <= $cut AND NOT (s.{cd} IS NULL AND a.DTHDT IS NOT NULL AND a.DTHDT <= s.{we})"
        overdue = f"s.{we} < $cut AND s.{cd} IS NULL AND (a.DTHDT IS NULL OR a.DTHDT > s.{we})"
        done = f"s.{cd} IS NOT NULL"
    ae_t = config.mart("adverse_event")
    ae_ok = _need(con, "marts", ae_t, ["patient_key", "serious"]) is None
    ae_serious = "e.serious = 'Y'" if ae_ok and dict(
        con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
                    "AND schema_name = 'marts' AND table_name = ?", [ae_t]).fetchall()).get("serious") == "VARCHAR" \
        else "e.serious"
    spm_t = config.mart("secondary_malignancy")
    spm_ok = _need(con, "marts", spm_t, ["patient_key"]) is None
    visits = (f"""SELECT a.PRODUCT AS product,
                         count(*) FILTER (WHERE {due}) AS visits_due,
                         count(*) FILTER (WHERE {due} AND {done}) AS visits_completed,
                         count(*) FILTER (WHERE {overdue}) AS visits_overdue
                  FROM marts.{sched_t} s JOIN p a ON a.USUBJID = s.patient_key GROUP BY ALL"""
              if sched_ok else "SELECT NULL::VARCHAR AS product, NULL::BIGINT AS visits_due, "
                               "NULL::BIGINT AS visits_completed, NULL::BIGINT AS visits_overdue WHERE FALSE")
    saes = (f"""SELECT a.PRODUCT AS product, count(*) AS serious_adverse_events,
                       count(DISTINCT e.patient_key) AS patients_with_sae
                FROM marts.{ae_t} e JOIN p a ON a.USUBJID = e.patient_key WHERE {ae_serious} GROUP BY ALL"""
            if ae_ok else "SELECT NULL::VARCHAR AS product, NULL::BIGINT AS serious_adverse_events, "
                          "NULL::BIGINT AS patients_with_sae WHERE FALSE")
    spms = (f"""SELECT a.PRODUCT AS product, count(*) AS secondary_malignancies
                FROM marts.{spm_t} m JOIN p a ON a.USUBJID = m.patient_key GROUP BY ALL"""
            if spm_ok else "SELECT NULL::VARCHAR AS product, NULL::BIGINT AS secondary_malignancies WHERE FALSE")
    con.execute(f"""
        CREATE TABLE regulatory.mfds_ltfu_status AS
        WITH p AS (SELECT USUBJID, PRODUCT, TRTSDT, {'DTHDT' if 'DTHDT' in adsl else 'NULL::DATE AS DTHDT'},
                          {dead} AS dead, {lost} AS lost
                   FROM adam.adsl WHERE {inf}),
             base AS (SELECT PRODUCT AS product, count(*) AS patients_infused,
                             count(*) FILTER (WHERE NOT dead AND NOT lost
                                              AND TRTSDT + INTERVAL {years} YEAR > $cut) AS patients_under_followup,
                             count(*) FILTER (WHERE dead) AS deaths,
                             count(*) FILTER (WHERE lost AND NOT dead) AS lost_to_followup,
                             count(*) FILTER (WHERE TRTSDT + INTERVAL {years} YEAR <= $cut AND NOT dead)
                                 AS completed_ltfu
                      FROM p GROUP BY ALL),
             v AS ({visits}), s AS ({saes}), m AS ({spms})
        SELECT base.product, patients_infused, patients_under_followup, deaths, lost_to_followup, completed_ltfu,
               coalesce(visits_due, 0) AS visits_due, coalesce(visits_completed, 0) AS visits_completed,
               coalesce(visits_overdue, 0) AS visits_overdue,
               coalesce(serious_adverse_events, 0) AS serious_adverse_events,
               coalesce(patients_with_sae, 0) AS patients_with_sae,
               coalesce(secondary_malignancies, 0) AS secondary_malignancies,
               $cut AS data_cutoff
        FROM base LEFT JOIN v USING (product) LEFT JOIN s USING (product) LEFT JOIN m USING (product)
        ORDER BY ALL""", {"cut": cutoff})
    return None if (sched_ok and ae_ok and spm_ok) else \
        "mfds_ltfu_status: some sources missing (schedule/AE/SPM counted as 0)"


def build_hira_snapshots(con, cutoff: date, config: ReleaseConfig, dictionary=None) -> str | None:
    why = _need(con, "adam", "adsl", ["USUBJID", "SITEID", "PRODUCT", "TRTSDT"]) or \
        _need(con, "adam", "adtte", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
    if why:
        return why
    adsl = set(_columns(con, "adam", "adsl"))
    reg = config.regulatory
    landmarks = [int(m) for m in reg.get("hira_landmarks_months", [6, 12])]
    window = int(reg.get("hira_window_days", 30))
    dpm = config.days_per_month
    lm_values = ", ".join(f"({m}, {round(m * dpm)})" for m in landmarks)
    disgrp = "a.DISGRP" if "DISGRP" in adsl else "NULL::VARCHAR"
    inf = "a.INFFL = 'Y'" if "INFFL" in adsl else "a.TRTSDT IS NOT NULL"
    # best response: adam.adrs (the one best-response definition, int_best_response): the latest configured response
    # window that ends on or before the landmark (6 months = 183 days -> D180; 12 months -> D365)
    resp_sql, resp_col = "", "NULL::VARCHAR AS best_response"
    if _need(con, "adam", "adrs", ["USUBJID", "PARAMCD", "AVISITN", "AVALC"]) is None:
        resp_sql = """, br AS (SELECT l.months, r.USUBJID, arg_max(r.AVALC, r.AVISITN) AS best_response
                   FROM adam.adrs r CROSS JOIN lm l
                   WHERE r.PARAMCD = 'BOR' AND r.AVISITN <= l.days GROUP BY ALL)"""
        resp_col = "br.best_response"
    con.execute(f"""
        CREATE TABLE regulatory.hira_outcome_snapshots AS
        WITH lm(months, days) AS (VALUES {lm_values}),
             os AS (SELECT USUBJID, min(AVAL) AS aval, min(CNSR) AS cnsr FROM adam.adtte WHERE PARAMCD = 'OS'
                    GROUP BY ALL),
             pfs AS (SELECT USUBJID, min(AVAL) AS aval, min(CNSR) AS cnsr FROM adam.adtte WHERE PARAMCD = 'PFS'
                     GROUP BY ALL){resp_sql}
        SELECT a.USUBJID AS patient_key, a.SITEID AS site_code, a.PRODUCT AS product, {disgrp} AS disease_group,
               a.TRTSDT AS infusion_date, l.months AS landmark_months,
               a.TRTSDT + CAST(l.days AS INTEGER) AS landmark_date,
               CASE WHEN a.TRTSDT + CAST(l.days + {window} AS INTEGER) <= $cut THEN 'DUE' ELSE 'NOT_YET_DUE' END
                   AS snapshot_status,
               CASE WHEN os.aval >= l.days THEN 'ALIVE' WHEN os.cnsr = 0 AND os.aval < l.days THEN 'DEAD'
                    ELSE 'UNKNOWN' END AS vital_status,
               CASE WHEN pfs.aval >= l.days THEN 'Y' WHEN pfs.cnsr = 0 AND pfs.aval < l.days THEN 'N'
                    ELSE 'UNKNOWN' END AS progression_free,
               {resp_col},
               $cut AS data_cutoff
        FROM adam.adsl a CROSS JOIN lm l
        LEFT JOIN os ON os.USUBJID = a.USUBJID LEFT JOIN pfs ON pfs.USUBJID = a.USUBJID
        {"LEFT JOIN br ON br.USUBJID = a.USUBJID AND br.months = l.months" if resp_sql else ""}
        WHERE {inf}
        ORDER BY ALL""", {"cut": cutoff})
    return None


def build_cibmtr_export(con, config: ReleaseConfig, dictionary) -> str | None:
    rows, selects = [], []
    for form_name, table in sorted(config.cibmtr_sources.items()):
        if form_name not in dictionary.forms:
            continue
        have = _columns(con, "marts", table)
        key = "patient_key" if "patient_key" in have else None
        where = config.cibmtr_filters.get(form_name)
        for f in dictionary.form(form_name).fields:
            if not f.cibmtr or f.is_free_text:
                continue
            column = config.cibmtr_field_columns.get(f"{form_name}.{f.name}", f.name)
            mapped = bool(have) and key is not None and column in have
            rows.append((form_name, f.name, f.cibmtr, f.cibmtr.split()[0], f"marts.{table}",
                         column if mapped else None, mapped))
            if mapped:
                inf = "infusion_number" if "infusion_number" in have else "NULL::BIGINT"
                site = "site_code" if "site_code" in have else "NULL::VARCHAR"
                selects.append(
                    f"SELECT {key} AS patient_key, {site} AS site_code, {inf} AS infusion_number, "
                    f"'{f.cibmtr.split()[0]}' AS cibmtr_form, '{f.cibmtr}' AS cibmtr_item, "
                    f"'{form_name}' AS source_form, '{f.name}' AS source_field, "
                    f"CAST(\"{column}\" AS VARCHAR) AS value FROM marts.\"{table}\" WHERE \"{column}\" IS NOT NULL"
                    + (f" AND ({where})" if where else ""))
    con.execute("CREATE TABLE regulatory.cibmtr_mapping (source_form VARCHAR, source_field VARCHAR, "
                "cibmtr_item VARCHAR, cibmtr_form VARCHAR, source_table VARCHAR, source_column VARCHAR, "
                "mapped BOOLEAN)")
    if rows:
        con.executemany("INSERT INTO regulatory.cibmtr_mapping VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    body = " UNION ALL ".join(selects) if selects else (
        "SELECT NULL::VARCHAR AS patient_key, NULL::VARCHAR AS site_code, NULL::BIGINT AS infusion_number, "
        "NULL::VARCHAR AS cibmtr_form, NULL::VARCHAR AS cibmtr_item, NULL::VARCHAR AS source_form, "
        "NULL::VARCHAR AS source_field, NULL::VARCHAR AS value WHERE FALSE")
    con.execute(f"CREATE TABLE regulatory.cibmtr_export AS SELECT * FROM ({body}) ORDER BY ALL")
    unmapped = sum(1 for r in rows if not r[-1])
    return f"cibmtr_export: {unmapped} of {len(rows)} dictionary CIBMTR items not found in the marts" \
        if unmapped else None


def build_regulatory_views(con, cutoff: date, config: ReleaseConfig, dictionary) -> list[str]:
    """Create schema `regulatory` and its views in the (writable, being built) release database. Returns notes
    on what could not be built or mapped (also recorded in the manifest)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS regulatory")
    notes = []
    for label, fn in (("mfds_ltfu_status", lambda: build_mfds_ltfu_status(con, cutoff, config)),
                      ("hira_outcome_snapshots", lambda: build_hira_snapshots(con, cutoff, config, dictionary)),
                      ("cibmtr_export", lambda: build_cibmtr_export(con, config, dictionary))):
        note = fn()
        if note:
            notes.append(note if note.startswith(label) else f"{label}: not built ({note})")
    return notes
