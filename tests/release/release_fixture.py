"""A small synthetic warehouse for the two release tests the pipeline-built one cannot serve: kill-safety (two
releases of different cut-offs in one folder, rebuilt dozens of times) and analysis tables in another column
shape (release.yaml `names.column_aliases`). Every other release test runs on the session's pipeline warehouse
(tests/release/conftest.py). Deterministic: same arguments -> same tables.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

PRODUCTS = ["TISA_CEL", "AXI_CEL", "CILTA_CEL", "ANBAL_CEL"]
DISGRP = {"TISA_CEL": "LBCL", "AXI_CEL": "LBCL", "CILTA_CEL": "MM", "ANBAL_CEL": "LBCL"}
SITES = ["S01", "S02", "S03", "S04"]
TIMEPOINTS = [("D100", 100, 85, 115), ("M6", 182, 150, 210), ("Y1", 365, 365, 425), ("Y2", 730, 730, 790)]


def _km(times, events, entry=None):
    """KM with log(-log) CIs; rows at 0 and every distinct time (step coordinates)."""
    data = sorted(zip(times, events))
    n = len(data)
    rows = [(0.0, n, 0, 0, 1.0, 1.0, 1.0)]
    s, var = 1.0, 0.0
    i = 0
    while i < len(data):
        t = data[i][0]
        d = sum(1 for x in data if x[0] == t and x[1] == 1)
        c = sum(1 for x in data if x[0] == t and x[1] != 1)
        at_risk = sum(1 for x in data if x[0] >= t)
        if d:
            s *= 1 - d / at_risk
            if at_risk > d:
                var += d / (at_risk * (at_risk - d))
        if 0 < s < 1 and var > 0:
            se = math.sqrt(var) / abs(math.log(s))
            lo, hi = s ** math.exp(1.96 * se), s ** math.exp(-1.96 * se)
        else:
            lo = hi = s
        rows.append((float(t), at_risk, d, c, s, lo, hi))
        i += d + c
    return rows


def _aj(times, causes):
    """Aalen-Johansen CIF of cause 1 with cause 2 competing (closed form; crude CI, fixture only)."""
    data = sorted(zip(times, causes))
    n = len(data)
    rows = [(0.0, n, 0, 0, 0.0, 0.0, 0.0)]
    s, f = 1.0, 0.0
    for t in sorted(set(x[0] for x in data)):
        at_risk = sum(1 for x in data if x[0] >= t)
        d1 = sum(1 for x in data if x[0] == t and x[1] == 1)
        d2 = sum(1 for x in data if x[0] == t and x[1] == 2)
        f += s * d1 / at_risk
        s *= 1 - (d1 + d2) / at_risk
        se = math.sqrt(max(f * (1 - f), 1e-12) / max(at_risk, 1))
        rows.append((float(t), at_risk, d1, d2, f, max(0.0, f - 1.96 * se), min(1.0, f + 1.96 * se)))
    return rows


def build_fixture_warehouse(
    path: Path,
    cutoff: date = date(2026, 10, 31),
    n_patients: int = 80,
    seed: int = 7,
    extra_sql: list[str] | None = None,
    shuffle_seed: int | None = None,
    analysis_format: str = "analyses",
) -> Path:
    """analysis_format 'analyses': the analysis tables come from the project's own builders
    (analyses.outcomes.build_all, the real contract); 'legacy': a simpler shape with other column names
    (time, lower, upper, n_events ...) that the release resolves through release.yaml aliases."""
    rng = random.Random(seed)
    cut = cutoff
    pats, infs, aes, spms, sched, timeline, resp, adtte, adae = [], [], [], [], [], [], [], [], []
    for i in range(n_patients):
        key = f"{rng.getrandbits(64):016x}{i:04d}"
        site = SITES[i % len(SITES)] if i % 7 else "S04"
        prod = (
            PRODUCTS[0]
            if i % 5 == 0
            else PRODUCTS[1]
            if i % 5 in (1, 2)
            else PRODUCTS[2]
            if i % 5 == 3
            else PRODUCTS[3]
            if i % 19 == 4
            else PRODUCTS[1]
        )
        inf = cut - timedelta(days=rng.randint(20, 900))
        order = inf - timedelta(days=rng.randint(30, 60))
        enrol = order + timedelta(days=rng.randint(0, 10)) if i % 9 else inf + timedelta(days=rng.randint(5, 40))
        os_t = rng.expovariate(1 / 700)
        pfs_t = min(os_t, rng.expovariate(1 / 300))
        fu = (cut - inf).days
        dead = os_t <= fu
        dthdt = inf + timedelta(days=int(os_t)) if dead else None
        prog = pfs_t < os_t and pfs_t <= fu
        progdt = inf + timedelta(days=int(pfs_t)) if prog else None
        lastc = dthdt or (cut - timedelta(days=rng.randint(0, 60)))
        if lastc < inf:
            lastc = inf
        cause = ("PRIMARY_DISEASE" if prog else rng.choice(["INFECTION", "ORGAN_FAILURE"])) if dead else None
        pats.append(
            dict(
                patient_key=key,
                site_code=site,
                sex=rng.choice("MF"),
                birth_year=rng.randint(1945, 2005),
                enrolment_date=enrol,
                cart_order_date=order,
                death_date=dthdt,
                primary_cause=cause,
                last_contact_date=lastc,
                lost_to_followup=bool(i % 23 == 0),
                first_infusion_date=inf,
            )
        )
        infs.append(
            dict(
                patient_key=key,
                site_code=site,
                infusion_number=1,
                product_code=prod,
                disease_group=DISGRP[prod],
                leukapheresis_date=order + timedelta(days=3),
                infusion_date=inf,
                prior_lines=rng.randint(2, 5),
                batch_number=f"B{i:05d}",
            )
        )
        crs_g = rng.choice([0, 1, 1, 2, 2, 3, 4]) if rng.random() < 0.8 else 0
        icans_g = rng.choice([0, 0, 1, 2, 3]) if rng.random() < 0.5 else 0
        seq = 0
        for cat, g in (("CRS", crs_g), ("ICANS", icans_g)):
            if g:
                seq += 1
                onset = inf + timedelta(days=rng.randint(1, 9))
                aes.append(
                    dict(
                        patient_key=key,
                        site_code=site,
                        infusion_number=1,
                        ae_category=cat,
                        ae_term=cat,
                        grade=g,
                        onset_date=onset,
                        serious="Y" if g >= 3 else "N",
                    )
                )
                adae.append(
                    dict(
                        STUDYID="KOCARTR",
                        USUBJID=key,
                        SITEID=site,
                        INFNUM=1,
                        AESEQ=seq,
                        AECAT=cat,
                        AEDECOD=cat,
                        ATOXGR=g,
                        GRDSTD="ASTCT 2019",
                        ASTDT=onset,
                        ASTDY=(onset - inf).days,
                        AENDT=onset + timedelta(days=4),
                        ADURN=4.0,
                        AESER="Y" if g >= 3 else "N",
                        AETOCI="Y" if cat == "CRS" and g >= 2 else "N",
                        AESTER="Y" if g >= 3 else "N",
                        AEICU="Y" if g >= 4 else "N",
                        ICUDAYS=3 if g >= 4 else None,
                        PRODUCT=prod,
                        DISGRP=DISGRP[prod],
                    )
                )
        spm = (not dead) and rng.random() < 0.06
        spm_t = rng.randint(60, max(61, fu)) if spm else None
        if spm and spm_t <= fu:
            spms.append(
                dict(
                    patient_key=key,
                    site_code=site,
                    diagnosis_date=inf + timedelta(days=spm_t),
                    category=rng.choice(["SOLID", "MDS_AML", "SKIN_NON_MELANOMA"]),
                    t_cell_malignancy="N",
                    spm_key=f"{site}:M{i}",
                    serious="Y",
                    seriousness_criteria="MEDICALLY_IMPORTANT",
                    is_unexpected=False,
                    is_t_cell=False,
                    car_transgene_detected="N",
                )
            )
        else:
            spm = False
        for tp, due, lo, hi in TIMEPOINTS:
            due_d, w0, w1 = inf + timedelta(days=due), inf + timedelta(days=lo), inf + timedelta(days=hi)
            contact = None
            if w0 <= cut and (dthdt is None or dthdt > w0) and rng.random() < 0.85:
                contact = min(w0 + timedelta(days=rng.randint(0, hi - lo)), cut)
            state = (
                "RECEIVED"
                if contact
                else "ENDED_BY_DEATH"
                if dthdt and dthdt <= w1
                else "NOT_YET_DUE"
                if cut <= w1
                else "OVERDUE"
                if (cut - w1).days < 60
                else "MISSED"
            )
            # column names as dbt_project/models/marts/fct_followup_schedule.sql
            sched.append(
                dict(
                    patient_key=key,
                    site_code=site,
                    timepoint=tp,
                    target_date=due_d,
                    window_start_date=w0,
                    window_end_date=w1,
                    received_date=contact,
                    visit_state=state,
                    data_cutoff=cut,
                    followup_year=max(1, math.ceil(due / 365)),
                    reporting_period={"D100": "100_DAYS", "M6": "6_MONTHS"}.get(tp, "ANNUAL"),
                    contact_date=contact,
                    vital_status="ALIVE" if contact else None,
                )
            )
            if contact:
                timeline.append(
                    dict(
                        patient_key=key,
                        site_code=site,
                        timepoint=tp,
                        contact_date=contact,
                        vital_status="ALIVE",
                        disease_status="PROGRESSION" if progdt and progdt <= contact else "CR",
                        progression_date=progdt if progdt and progdt <= contact else None,
                        is_after_cutoff=False,
                    )
                )
        if i == 0:  # dbt keeps events after the cut-off, flagged; the release must leave them out
            timeline.append(
                dict(
                    patient_key=key,
                    site_code=site,
                    timepoint="UNSCHEDULED",
                    contact_date=cut + timedelta(days=10),
                    vital_status="ALIVE",
                    disease_status="CR",
                    progression_date=None,
                    is_after_cutoff=True,
                )
            )
        resp.append(
            dict(
                patient_key=key,
                site_code=site,
                assessment_date=min(inf + timedelta(days=30), cut),
                response=rng.choice(["CR", "CR", "PR", "SD", "PD"]),
            )
        )
        entryt = float(max(0, (enrol - inf).days))
        base = dict(
            STUDYID="KOCARTR",
            USUBJID=key,
            SITEID=site,
            INFNUM=1,
            STARTDT=inf,
            AVALU="DAYS",
            ENTRYT=entryt,
            PRODUCT=prod,
            DISGRP=DISGRP[prod],
            INFYEAR=inf.year,
        )

        def flags(aval: float, status: int, entryt: float = entryt) -> dict:
            """ADaM encoding (endpoints.md): CNSR 0 / 1, competing = CMPEVFL 'Y' with CNSR NULL; PREENTFL."""
            pre = entryt > 0 and aval <= entryt and status != 1
            return dict(
                CNSR=None if status == 2 else status, CMPEVFL="Y" if status == 2 else "N", PREENTFL="Y" if pre else "N"
            )

        os_a = float(min(int(os_t), fu)) if dead else float((lastc - inf).days)
        adtte.append(
            dict(
                base,
                PARAMCD="OS",
                PARAM="Overall survival",
                AVAL=os_a,
                **flags(os_a, 0 if dead else 1),
                ADT=inf + timedelta(days=int(os_a)),
            )
        )
        pfs_ev = prog or dead
        pfs_a = float((progdt - inf).days) if prog else os_a
        adtte.append(
            dict(
                base,
                PARAMCD="PFS",
                PARAM="Progression-free survival",
                AVAL=pfs_a,
                **flags(pfs_a, 0 if pfs_ev else 1),
                ADT=inf + timedelta(days=int(pfs_a)),
            )
        )
        nrm = dead and not prog
        adtte.append(
            dict(
                base,
                PARAMCD="NRM",
                PARAM="Non-relapse mortality",
                AVAL=pfs_a,
                **flags(pfs_a, 0 if nrm else (2 if prog else 1)),
                ADT=inf + timedelta(days=int(pfs_a)),
            )
        )
        spm_a = float(spm_t) if spm else os_a
        adtte.append(
            dict(
                base,
                PARAMCD="SPM",
                PARAM="Secondary malignancy",
                AVAL=spm_a,
                **flags(spm_a, 0 if spm else (2 if dead else 1)),
                ADT=inf + timedelta(days=int(spm_a)),
            )
        )

    adsl = []
    for p, f in zip(pats, infs):
        adsl.append(
            dict(
                STUDYID="KOCARTR",
                USUBJID=p["patient_key"],
                SITEID=p["site_code"],
                SEX=p["sex"],
                BIRTHYR=p["birth_year"],
                AGE=f["infusion_date"].year - p["birth_year"],
                PRODUCT=f["product_code"],
                DISGRP=f["disease_group"],
                ORDERDT=p["cart_order_date"],
                ENRLDT=p["enrolment_date"],
                TRTSDT=f["infusion_date"],
                ITTFL="Y",
                INFFL="Y",
                DTHDT=p["death_date"],
                DTHFL="Y" if p["death_date"] else None,
                DTHCAUS=p["primary_cause"],
                LSTCNTDT=p["last_contact_date"],
                LSTALVDT=p["last_contact_date"],  # every death of this fixture is site-reported (a death form)
                DTHSITFL="Y" if p["death_date"] else None,
                LTFUFL="Y" if p["lost_to_followup"] else "N",
            )
        )

    # analysis tables
    adtte_df = pl.DataFrame(adtte)
    surv, cif, props = [], [], []
    for ep in ("OS", "PFS", "NRM", "SPM"):
        d = adtte_df.filter(pl.col("PARAMCD") == ep)
        groups = [("overall", "overall", d)] + [
            ("PRODUCT", p, d.filter(pl.col("PRODUCT") == p)) for p in sorted(d["PRODUCT"].unique())
        ]
        for sv, st, g in groups:
            if ep in ("OS", "PFS"):
                for t, nr, ev, ce, s, lo, hi in _km(g["AVAL"].to_list(), [1 if c == 0 else 0 for c in g["CNSR"]]):
                    surv.append(
                        dict(
                            endpoint=ep,
                            stratum_variable=sv,
                            stratum=st,
                            method="Kaplan-Meier; 95% CI log(-log) (Greenwood)",
                            data_cutoff=cut,
                            time=t,
                            n_at_risk=nr,
                            n_events=ev,
                            n_censored=ce,
                            estimate=s,
                            lower=lo,
                            upper=hi,
                        )
                    )
            else:
                causes = [1 if c == 0 else 2 if f == "Y" else 0 for c, f in zip(g["CNSR"], g["CMPEVFL"])]
                for t, nr, ev, comp, f_, lo, hi in _aj(g["AVAL"].to_list(), causes):
                    cif.append(
                        dict(
                            endpoint=ep,
                            stratum_variable=sv,
                            stratum=st,
                            method="Aalen-Johansen; death competing",
                            data_cutoff=cut,
                            time=t,
                            n_at_risk=nr,
                            n_events=ev,
                            n_competing=comp,
                            estimate=f_,
                            lower=lo,
                            upper=hi,
                        )
                    )
    adae_df = pl.DataFrame(adae)
    adsl_df = pl.DataFrame(adsl)
    for ep, cat in (("CRS", "CRS"), ("ICANS", "ICANS")):
        hit = set(adae_df.filter((pl.col("AECAT") == cat) & (pl.col("ATOXGR") >= 3))["USUBJID"])
        groups = [("overall", "overall", adsl_df)] + [
            ("PRODUCT", p, adsl_df.filter(pl.col("PRODUCT") == p)) for p in sorted(adsl_df["PRODUCT"].unique())
        ]
        for sv, st, g in groups:
            n = g.height
            k = sum(1 for u in g["USUBJID"] if u in hit)
            props.append(
                dict(
                    endpoint=ep,
                    stratum_variable=sv,
                    stratum=st,
                    method="Clopper-Pearson exact",
                    measure="grade_ge3",
                    data_cutoff=cut,
                    n=n,
                    events=k,
                    estimate=k / n if n else None,
                    lower=max(0.0, k / n - 0.1) if n else None,
                    upper=min(1.0, k / n + 0.1) if n else None,
                )
            )

    if analysis_format == "analyses":
        from analyses.outcomes import build_all

        real = build_all(adtte_df, adsl_df, adae_df, cut)
        analysis_frames = {f"analysis.{k}": v for k, v in real.items()}
    else:
        analysis_frames = {
            "analysis.survival_estimates": pl.DataFrame(surv),
            "analysis.cumulative_incidence": pl.DataFrame(cif),
            "analysis.proportions": pl.DataFrame(props),
        }
    frames = {
        "marts.dim_site": pl.DataFrame({"site_code": SITES, "region": ["Seoul", "Seoul", "Busan", "Daegu"]}),
        "marts.dim_product": pl.DataFrame({"product_code": PRODUCTS, "target": ["CD19", "CD19", "BCMA", "CD19"]}),
        "marts.dim_patient": pl.DataFrame(pats),
        "marts.fct_infusion": pl.DataFrame(infs),
        "marts.fct_adverse_event": pl.DataFrame(aes),
        "marts.fct_secondary_malignancy": pl.DataFrame(
            spms,
            schema={
                "patient_key": pl.String,
                "site_code": pl.String,
                "diagnosis_date": pl.Date,
                "category": pl.String,
                "t_cell_malignancy": pl.String,
                "spm_key": pl.String,
                "serious": pl.String,
                "seriousness_criteria": pl.String,
                "is_unexpected": pl.Boolean,
                "is_t_cell": pl.Boolean,
                "car_transgene_detected": pl.String,
            },
        ),
        "marts.fct_followup_schedule": pl.DataFrame(sched),
        "marts.fct_patient_timeline": pl.DataFrame(timeline),
        "marts.fct_response": pl.DataFrame(resp),
        "adam.adsl": adsl_df,
        "adam.adtte": adtte_df,
        "adam.adae": adae_df,
        # ADRS as dbt's adrs.sql shapes it: best overall response per window (the one assessment is at day 30)
        "adam.adrs": pl.DataFrame(
            [
                dict(
                    STUDYID="KOCARTR",
                    USUBJID=r["patient_key"],
                    SITEID=r["site_code"],
                    PARAMCD="BOR",
                    PARAM="Best overall response",
                    AVISIT=w,
                    AVISITN=n,
                    AVALC=r["response"],
                )
                for r in resp
                for w, n in (("D90", 90), ("D180", 180))
            ]
        ),
        **analysis_frames,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        for schema in ("raw", "marts", "adam", "analysis"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        # raw keeps free text: must never be released (not in the released schemas)
        con.execute("CREATE TABLE raw.baseline AS SELECT 'S01' AS site_code, 'free text' AS comment")
        # insertion order shuffled on purpose: the release must sort
        for name, df in frames.items():
            df = (
                df.sample(fraction=1.0, shuffle=True, seed=seed if shuffle_seed is None else shuffle_seed)
                if df.height
                else df
            )
            con.register("_f", df)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _f")
            con.unregister("_f")
        con.execute("CREATE SCHEMA audit")
        con.execute("""CREATE TABLE audit.dq_scorecard AS SELECT * FROM (VALUES
            ('S01', '2026-09', 0.97, 0.9, 0.01, 40, 1, 0.002), ('S01', '2026-10', 0.98, 0.92, 0.0, 40, 0, 0.0),
            ('S02', '2026-10', 0.91, 0.75, 0.03, 40, 3, 0.01), ('S02', '2026-11', 0.5, 0.5, 0.5, 40, 9, 0.5))
            t(site_code, month, completeness, followup_timeliness, quarantine_rate, plausibility_checks,
              plausibility_checks_failed, plausibility_failure_rate)""")
        con.execute("CREATE VIEW marts.v_infused AS SELECT patient_key, product_code FROM marts.fct_infusion")
        add_missing_cibmtr_columns(con)
        for sql in extra_sql or []:
            con.execute(sql)
    finally:
        con.close()
    return path


def add_missing_cibmtr_columns(con) -> None:
    """Every column the CIBMTR export maps (data/config/release.yaml from the dictionary) that a fixture does not
    fill, added empty: the export is a contract on all of them (kocartr.release.regulatory)."""
    from kocartr.dictionary import load_dictionary
    from kocartr.release.config import load_release_config
    from kocartr.release.regulatory import cibmtr_items

    config = load_release_config()
    for form, f in cibmtr_items(load_dictionary()):
        table = config.cibmtr_sources[form]
        column = config.cibmtr_field_columns.get(f"{form}.{f.name}", f.name)
        period = config.cibmtr_periods.get(form)
        for col, typ in (
            (column, "DATE" if f.type == "date" else "VARCHAR"),
            (config.cibmtr_unit_columns.get(f"{form}.{f.name}"), "VARCHAR"),
            (period, "VARCHAR" if period == "reporting_period" else "DATE"),
        ):
            if col:
                con.execute(f"ALTER TABLE marts.{table} ADD COLUMN IF NOT EXISTS {col} {typ}")
