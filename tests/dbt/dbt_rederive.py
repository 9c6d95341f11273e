"""Re-derive adam.adtte endpoints by hand from marts.fct_patient_timeline (the definitions in
dbt_project/models/adam/endpoints.md), independently of the SQL that builds adtte."""

from __future__ import annotations

from datetime import date

import duckdb

PARAMS = ("OS", "OS_LC", "OS_LNK", "OS_ITT", "PFS", "NRM", "RELAPSE", "SPM")


def os_censoring(con: duckdb.DuckDBPyConnection, cutoff: date) -> tuple[bool, date | None]:
    """(OS censored where vital status is known, date through which national death data are complete): the
    configuration seed dbt reads, and the latest completeness the death source's returns state, capped at the
    cut-off (the staged returns, not the marts that apply the rule)."""
    (value,) = con.sql(
        "select value from seeds.clinical_thresholds where rule_id = 'os_censor_at_linkage_completeness'"
    ).fetchall()[0]
    (through,) = con.sql(
        "select max(complete_through) from staging.stg_linkage_completeness where linkage_source = 'DEATH_STATISTICS'"
    ).fetchall()[0]
    return value == 1, (min(through, cutoff) if through is not None else None)


def spm_censoring(con: duckdb.DuckDBPyConnection, cutoff: date) -> date | None:
    """SPM's administrative censoring date where cancer status is known: the earlier of the latest completeness the
    cancer registry's and the death source's returns state, capped at the cut-off (None unless both exist)."""
    (death, cancer) = con.sql(
        "select max(complete_through) filter (where linkage_source = 'DEATH_STATISTICS'), "
        "max(complete_through) filter (where linkage_source = 'CANCER_REGISTRY') from staging.stg_linkage_completeness"
    ).fetchall()[0]
    return None if death is None or cancer is None else min(death, cancer, cutoff)


def first_malignancy(
    con: duckdb.DuckDBPyConnection, patient: str, day0: date, cutoff: date, linked: bool
) -> date | None:
    """The first new malignancy on/after day 0: the timeline's site reports and, where cancer status is known, the
    national cancer registry's returns of a registered patient (staged, not the marts that apply the rule)."""
    site = con.sql(
        "select min(event_date) from marts.fct_patient_timeline where patient_key = ? and "
        "event_type = 'SECONDARY_MALIGNANCY' and event_date >= ? and event_date <= ?",
        params=[patient, day0, cutoff],
    ).fetchall()[0][0]
    if not linked:
        return site
    linkage = con.sql(
        "select min(diagnosis_date) from staging.stg_linkage_cancer where patient_key = ? and diagnosis_date >= ? "
        "and diagnosis_date <= ? and patient_key in (select patient_key from staging.stg_registration)",
        params=[patient, day0, cutoff],
    ).fetchall()[0][0]
    return min((d for d in (site, linkage) if d is not None), default=None)


def overall_survival(
    start: date, death: date | None, last_contact: date, linked: bool, through: date | None
) -> tuple[float, int]:
    """(AVAL, CNSR) of OS from `start`: where vital status is known (linked, and C = `through` on or after the
    start) alive through C and a death after C censored at C; otherwise death or last contact."""
    if not linked or through is None or through < start:
        end, cnsr = death or last_contact, 0 if death else 1
    elif death is not None and death <= through:
        end, cnsr = death, 0
    else:
        end, cnsr = through, 1
    return float((end - start).days), cnsr


def rederive(con: duckdb.DuckDBPyConnection, patient: str) -> dict[str, tuple[float, int | None]]:
    """{PARAMCD: (AVAL, CNSR)} for PARAMS from the timeline of one patient (CNSR None = competing event)."""
    cutoff: date = con.sql("select DCUTDT from adam.adsl where USUBJID = ?", params=[patient]).fetchall()[0][0]
    nrm_causes = {
        c
        for (c,) in con.sql(
            "select code from seeds.dictionary_codes where code_list = 'death_cause' and nrm"
        ).fetchall()
    }
    rows = con.sql(
        "select event_type, event_date, event_detail, is_contact, source_form "
        "from marts.fct_patient_timeline where patient_key = ? and event_date <= ?",
        params=[patient, cutoff],
    ).fetchall()
    events = [r[:4] for r in rows]

    def dates(kind: str, after: date | None = None, strict: bool = True) -> list[date]:
        out = [d for t, d, _, _ in events if t == kind]
        if after is not None:
            out = [d for d in out if (d > after if strict else d >= after)]
        return sorted(out)

    # one death: death form > follow-up or national linkage (the earlier) > fatal AE (the seed dbt reads), the
    # earliest within a source; cause from the death form, else from the fatal AE, else UNKNOWN (a follow-up or a
    # linkage return gives none)
    rank = dict(con.sql("select source_form, precedence from seeds.death_source_precedence").fetchall())
    deaths = sorted((rank[src], d, detail, src) for t, d, detail, _, src in rows if t == "DEATH")
    death = deaths[0][1] if deaths else None
    causes = [detail for _, _, detail, src in deaths if src not in ("followup", "linkage_death")]
    cause = causes[0] if causes else ("UNKNOWN" if death else None)
    last_alive = max(d for t, d, _, contact in events if contact)
    last_contact = death or last_alive
    out: dict[str, tuple[float, int | None]] = {}

    uses_linkage, through = os_censoring(con, cutoff)
    # OS_ITT follows the configured OS rule from the CAR-T order (the linkage covers the never-infused too)
    order = (dates("CART_ORDER") or dates("LEUKAPHERESIS") or dates("INFUSION"))[0]
    out["OS_ITT"] = overall_survival(order, death, last_contact, uses_linkage, through)

    infusions = dates("INFUSION")
    if not infusions:
        return out
    day0 = infusions[0]
    progression = next(iter(dates("PROGRESSION", day0)), None)
    # relapse status is known through site follow-up only: censoring where status is known, a death only the
    # national linkage reported, after the last contact proving the patient alive, is censored at that contact
    site_death = any(src != "linkage_death" for *_, src in deaths)
    dz_death, dz_contact = death, last_contact
    if uses_linkage and death is not None and death > last_alive and not site_death:
        dz_death, dz_contact = None, last_alive
    rel = progression or (dz_death if dz_death and cause not in nrm_causes else None)

    def aval(d: date) -> float:
        return float((d - day0).days)

    # OS follows the configuration; OS_LC (last contact) and OS_LNK (alive through the completeness date C, a
    # death after C censored at C; last contact when C is before day 0) exist once C does
    for param, linked in (("OS", uses_linkage), ("OS_LC", False), ("OS_LNK", True)):
        if param == "OS" or through is not None:
            out[param] = overall_survival(day0, death, last_contact, linked, through)
    # one censoring rule: PFS, NRM and RELAPSE are all censored where relapse status is last known
    if rel or dz_death:
        out["PFS"] = (aval(min(x for x in (rel, dz_death) if x)), 0)
    else:
        out["PFS"] = (aval(dz_contact), 1)
    if rel and (dz_death is None or rel <= dz_death):
        out["NRM"], out["RELAPSE"] = (aval(rel), None), (aval(rel), 0)
    elif dz_death:
        out["NRM"], out["RELAPSE"] = (aval(dz_death), 0), (aval(dz_death), None)
    else:
        out["NRM"] = out["RELAPSE"] = (aval(dz_contact), 1)
    # SPM: where cancer status is known, linkage cancers count and the censoring date is the earlier of the cancer
    # and death registries' completeness dates C (an event or death after C censored at C); else site reports, LC
    spm = first_malignancy(con, patient, day0, cutoff, uses_linkage)
    admin = spm_censoring(con, cutoff) if uses_linkage else None
    spm_death = death
    if admin is not None and admin >= day0:
        spm = spm if spm is not None and spm <= admin else None
        spm_death = death if death is not None and death <= admin else None
    else:
        admin = last_contact
    if spm and (spm_death is None or spm <= spm_death):
        out["SPM"] = (aval(spm), 0)
    elif spm_death:
        out["SPM"] = (aval(spm_death), None)
    else:
        out["SPM"] = (aval(admin), 1)
    return out


def adtte_rows(con: duckdb.DuckDBPyConnection, patient: str) -> dict[str, tuple[float, int | None]]:
    return {
        p: (a, c)
        for p, a, c in con.sql(
            "select PARAMCD, AVAL, CNSR from adam.adtte where USUBJID = ? and list_contains(?, PARAMCD)",
            params=[patient, list(PARAMS)],
        ).fetchall()
    }
