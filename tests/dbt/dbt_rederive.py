"""Re-derive adam.adtte endpoints by hand from marts.fct_patient_timeline (the definitions in
dbt_project/models/adam/endpoints.md), independently of the SQL that builds adtte."""

from __future__ import annotations

from datetime import date

import duckdb

ASSESSMENT_EVENTS = ("RESPONSE_ASSESSMENT", "DISEASE_ASSESSMENT", "PROGRESSION")


def rederive(con: duckdb.DuckDBPyConnection, patient: str) -> dict[str, tuple[float, int]]:
    """{PARAMCD: (AVAL, CNSR)} for OS, OS_ITT, PFS, NRM, RELAPSE, SPM from the timeline of one patient."""
    cutoff: date = con.sql("select DCUTDT from adam.adsl where USUBJID = ?", params=[patient]).fetchall()[0][0]
    nrm_causes = {c for (c,) in con.sql("select code from seeds.dictionary_codes "
                                        "where code_list = 'death_cause' and nrm").fetchall()}
    events = con.sql("select event_type, event_date, event_detail, is_contact from marts.fct_patient_timeline "
                     "where patient_key = ? and event_date <= ?", params=[patient, cutoff]).fetchall()

    def dates(kind: str, after: date | None = None, strict: bool = True) -> list[date]:
        out = [d for t, d, _, _ in events if t == kind]
        if after is not None:
            out = [d for d in out if (d > after if strict else d >= after)]
        return sorted(out)

    deaths = sorted((d, detail) for t, d, detail, _ in events if t == "DEATH")
    death, cause = deaths[0] if deaths else (None, None)
    last_contact = death or max(d for t, d, _, contact in events if contact)
    out: dict[str, tuple[float, int]] = {}

    order = (dates("CART_ORDER") or dates("LEUKAPHERESIS") or dates("INFUSION"))[0]
    out["OS_ITT"] = (float(((death or last_contact) - order).days), 0 if death else 1)

    infusions = dates("INFUSION")
    if not infusions:
        return out
    day0 = infusions[0]
    progression = (dates("PROGRESSION", day0) or [None])[0]
    assessments = [d for t, d, detail, _ in events
                   if t in ASSESSMENT_EVENTS and d > day0 and not (t == "RESPONSE_ASSESSMENT" and detail == "NE")]
    last_assessment = max(assessments, default=day0)
    rel = progression or (death if death and cause not in nrm_causes else None)

    def aval(d: date) -> float:
        return float((d - day0).days)

    out["OS"] = (aval(death or last_contact), 0 if death else 1)
    if rel or death:
        out["PFS"] = (aval(min(x for x in (rel, death) if x)), 0)
    else:
        out["PFS"] = (aval(last_assessment), 1)
    if rel and (death is None or rel <= death):
        out["NRM"], out["RELAPSE"] = (aval(rel), 2), (aval(rel), 0)
    elif death:
        out["NRM"], out["RELAPSE"] = (aval(death), 0), (aval(death), 2)
    else:
        out["NRM"] = out["RELAPSE"] = (aval(last_contact), 1)
    spm = (dates("SECONDARY_MALIGNANCY", day0, strict=False) or [None])[0]
    if spm and (death is None or spm <= death):
        out["SPM"] = (aval(spm), 0)
    elif death:
        out["SPM"] = (aval(death), 2)
    else:
        out["SPM"] = (aval(last_contact), 1)
    return out


def adtte_rows(con: duckdb.DuckDBPyConnection, patient: str) -> dict[str, tuple[float, int]]:
    return {p: (a, c) for p, a, c in con.sql(
        "select PARAMCD, AVAL, CNSR from adam.adtte where USUBJID = ? "
        "and PARAMCD in ('OS', 'OS_ITT', 'PFS', 'NRM', 'RELAPSE', 'SPM')", params=[patient]).fetchall()}
