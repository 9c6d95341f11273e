"""Per-patient endpoint truth: what a correct pipeline must derive from what was REPORTED by the cut-off.

Not the latent dates (ground_truth/patients.parquet): a death never reported is not a death here, a visit missed
is not a contact. Computed from the generator's own form frames (after corrections, deletions and defects were
injected) and the national linkage returns it wrote (<submissions>/LINKAGE/<YYYY-MM>/linkage_*.csv), with the
rules of the endpoint specification (dbt_project/models/adam/endpoints.md): one death per patient from every
source (site forms and national linkage), last contact, OS and OS_ITT censored at last contact or where vital status is
known (the linkage's completeness date, as configured), every other endpoint censored at last contact (PFS, NRM,
RELAPSE, EFS and DOR, where status is known, at the last site contact when only linkage found a later death), REL / NRM,
SPM (where status is known: site and national cancer registry malignancies, censored at the earlier of the cancer
and death registries' completeness dates), CIBMTR count recovery, one best-response rule, EFS for ALL, DOR for
responders, delayed entry.

An independent re-implementation: it reads neither the warehouse nor dbt / analyses code, so a reconciliation
test comparing adam.adtte with it checks the pipeline. Patients carrying an injected row defect (defects.csv) are
marked `has_defect`: their rows are quarantined by design, so their endpoints are not comparable.

Written as ground_truth/endpoint_truth.parquet (one row per patient and parameter) and
ground_truth/response_truth.parquet (one row per infused patient). Statuses are encoding-free: event, censored,
competing; the ADaM encoding (CNSR, competing-event variable) is mapped by the consumer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from kocartr.censoring import is_tcell_morphology
from kocartr.dictionary import Dictionary
from kocartr.synth import params as P

EVENT, CENSORED, COMPETING = "event", "censored", "competing"
ROW_DEFECTS = tuple(P.DEFECT_MIX)  # correction / deletion are not defects: they are applied like the pipeline does
ALL_GROUP = "ALL"
EFS_WINDOW = "D90"  # ALL remission window (ELIANA: CR/CRi within 3 months; Maude et al., NEJM 2018;378:439)
DOR_WINDOW = "D180"
RESPONSE_WINDOWS = ("D90", "D180")
# The national source whose completeness date makes vital status known (linkage_source code list; dim_os_censoring).
DEATH_LINKAGE_SOURCE = "DEATH_STATISTICS"
# The national source whose completeness date makes new-cancer status known (SPM; dim_os_censoring).
CANCER_LINKAGE_SOURCE = "CANCER_REGISTRY"
# OS parameters from the first infusion: None follows the configuration (os_censor_at_linkage_completeness); the
# two explicit variants exist once a linkage return states its completeness (adam.adtte, endpoints.md "Censoring
# where vital status is known"). OS_ITT, from the CAR-T order, follows the configuration too (os_row).
OS_RULES: dict[str, bool | None] = {"OS": None, "OS_LC": False, "OS_LNK": True}

# Date and value columns per form that the endpoint rules read (everything else is irrelevant here).
_DATES = {
    "registration": ("cart_order_date", "consent_date", "enrolment_date"),
    "product_infusion": ("leukapheresis_date", "infusion_date"),
    "baseline": ("ld_start_date",),
    "crs": ("onset_date", "resolution_date"),
    "icans": ("onset_date", "resolution_date"),
    "adverse_event": ("onset_date", "resolution_date"),
    "response": ("assessment_date",),
    "followup": (
        "contact_date",
        "last_disease_assessment_date",
        "progression_date",
        "subsequent_therapy_date",
        "subsequent_hct_date",
    ),
    "secondary_malignancy": ("diagnosis_date",),
    "pregnancy": ("reported_date", "outcome_date"),
    "death": ("death_date",),
}
_OTHER = {
    "product_infusion": ("infusion_number",),
    "baseline": ("infusion_number", "disease_group"),
    "crs": ("astct_grade",),
    "icans": ("astct_grade",),
    "adverse_event": ("ae_term", "ctcae_grade"),
    "response": ("response",),
    "followup": ("vital_status", "subsequent_therapy", "subsequent_hct"),
    "secondary_malignancy": ("category", "t_cell_malignancy", "icdo3_morphology"),
    "death": ("primary_cause",),
}
# Forms whose dated rows prove the patient was alive (CIBMTR 4100 date of contact); pregnancy outcome and death
# are not contacts, and a follow-up saying DEAD never is (spec: "Last contact").
_CONTACT_DATES = {
    "registration": ("cart_order_date", "consent_date", "enrolment_date"),
    "product_infusion": ("leukapheresis_date", "infusion_date"),
    "baseline": ("ld_start_date",),
    "crs": ("onset_date", "resolution_date"),
    "icans": ("onset_date", "resolution_date"),
    "adverse_event": ("onset_date", "resolution_date"),
    "response": ("assessment_date",),
    "followup": _DATES["followup"],
    "secondary_malignancy": ("diagnosis_date",),
    "pregnancy": ("reported_date",),
}


@dataclass(frozen=True)
class Rules:
    """The clinical inputs the rules need, read from the dictionary and data/config (never restated here)."""

    rank: dict[str, int]
    complete: frozenset[str]
    responder: frozenset[str]
    progression: frozenset[str]
    nrm_cause: dict[str, bool]
    windows: dict[str, int]
    recovery: dict[str, tuple[float, int]]  # analyte -> (threshold, consecutive values)
    os_at_linkage: bool  # OS censored at the death linkage's completeness date (else at last contact)
    death_precedence: dict[str, int]  # source form -> rank (lower wins; the earlier date within a rank)
    tcell_histology: tuple[tuple[int, int], ...] = ()  # ICD-O-3 T/NK-cell histology ranges (SPM_TCELL)


def load_rules(d: Dictionary) -> Rules:
    import csv

    from kocartr.censoring import os_censors_at_linkage, tcell_histology_ranges
    from kocartr.paths import CONFIG_DIR

    resp = d.code_lists["response"].codes
    with open(CONFIG_DIR / "response_landmarks.csv", encoding="utf-8") as fh:
        windows = {r["landmark"]: int(r["landmark_day"]) for r in csv.DictReader(fh)}
    with open(CONFIG_DIR / "recovery_rules.csv", encoding="utf-8") as fh:
        recovery = {r["analyte"]: (float(r["min_value"]), int(r["consecutive_values"])) for r in csv.DictReader(fh)}
    with open(CONFIG_DIR / "death_source_precedence.csv", encoding="utf-8") as fh:
        precedence = {r["source_form"]: int(r["precedence"]) for r in csv.DictReader(fh)}
    return Rules(
        rank={c.code: int(c.attributes["rank"]) for c in resp},
        complete=frozenset(c.code for c in resp if c.attributes.get("complete")),
        responder=frozenset(c.code for c in resp if c.attributes.get("responder")),
        progression=frozenset(c.code for c in resp if c.attributes.get("progression")),
        nrm_cause={c.code: bool(c.attributes.get("nrm", True)) for c in d.code_lists["death_cause"].codes},
        windows=windows,
        recovery=recovery,
        os_at_linkage=os_censors_at_linkage(CONFIG_DIR),
        death_precedence=precedence,
        tcell_histology=tcell_histology_ranges(CONFIG_DIR),
    )


# --- the reported records ------------------------------------------------------------------------------------


def _patient_expr(sites: list[str]) -> pl.Expr:
    # record_id = <patient_id>-<form prefix><seq>[E]; the patient_id column itself may carry a defect.
    site = pl.col("_site").replace_strict(list(range(len(sites))), sites, return_dtype=pl.Utf8)
    return (site + ":" + pl.col("record_id").str.replace(r"-[^-]*$", "")).alias("patient")


def defect_patients(frames: dict[str, pl.DataFrame], sites: list[str]) -> set[str]:
    """Patients with at least one row carrying an injected row defect (the rows defects.csv lists as defects)."""
    out: set[str] = set()
    for df in frames.values():
        if "_defect" in df.columns:
            bad = df.filter(pl.col("_defect").is_in(ROW_DEFECTS))
            out.update(bad.select(_patient_expr(sites))["patient"].to_list())
    return out


def current_versions(df: pl.DataFrame, sites: list[str], cutoff_month: int) -> pl.DataFrame:
    """Per record the latest version submitted in or before the cut-off month; deleted records removed."""
    return (
        df.filter(pl.col("_month") <= cutoff_month)
        .with_columns(_patient_expr(sites))
        .sort(["_month", "_ord"])
        .group_by(["_site", "record_id"], maintain_order=True)
        .last()
        .filter(pl.col("action").fill_null("U").str.to_uppercase() != "D")
    )


def _typed(form: str, df: pl.DataFrame, cutoff_day: int) -> pl.DataFrame:
    """Date columns as epoch days (None when blank or after the cut-off: later dates do not count)."""
    cols = [pl.col("patient"), pl.col("record_id")]
    for c in _DATES.get(form, ()):
        day = pl.col(c).str.to_date("%Y-%m-%d", strict=False).cast(pl.Int32)
        cols.append(pl.when(day <= cutoff_day).then(day).alias(c))
    cols += [pl.col(c) for c in _OTHER.get(form, ())]
    return df.select(cols)


def _by_patient(df: pl.DataFrame) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for row in df.sort("record_id").iter_rows(named=True):
        out[row["patient"]].append(row)
    return out


# --- the national linkage returns ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Linkage:
    """What the linkage returns received by the cut-off say: death days and new cancers (day, ICD-O-3 morphology),
    on or before the cut-off, per registry patient key, and the dates through which the death and cancer sources
    are complete (None without a completeness return)."""

    deaths: dict[str, list[int]] = field(default_factory=dict)
    death_complete_through: int | None = None
    cancers: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    cancer_complete_through: int | None = None

    @property
    def spm_complete_through(self) -> int | None:
        """SPM's administrative censoring day: the earlier of the two completeness dates (alive and free of a new
        cancer is known only through both); None unless both are stated."""
        if self.death_complete_through is None or self.cancer_complete_through is None:
            return None
        return min(self.death_complete_through, self.cancer_complete_through)


def _epoch_days(col: str) -> pl.Expr:
    return pl.col(col).str.to_date("%Y-%m-%d", strict=False).cast(pl.Int32)


def _linkage_form(root: Path, form: str, cutoff_month: int) -> pl.DataFrame | None:
    """Current version of each record of one linkage form over the returns submitted by the cut-off month."""
    from kocartr.synth.cohort import month_index
    from kocartr.synth.linkage import SOURCE

    parts = [
        pl.read_csv(path, infer_schema=False).with_columns(pl.lit(month_index(path.parent.name)).alias("_month"))
        for path in sorted((root / SOURCE).glob(f"*/{form}.csv"))
        if month_index(path.parent.name) <= cutoff_month
    ]
    if not parts:
        return None
    return (
        pl.concat(parts, how="diagonal")
        .sort("_month", maintain_order=True)
        .group_by("record_id", maintain_order=True)
        .last()
        .filter(pl.col("action").fill_null("U").str.to_uppercase() != "D")
    )


def _complete_through(comp: pl.DataFrame | None, source: str, cutoff_day: int) -> int | None:
    """The latest completeness date a source's returns state, capped at the cut-off (int_linkage_completeness)."""
    if comp is None:
        return None
    days = comp.filter(pl.col("linkage_source") == source).select(_epoch_days("complete_through"))
    stated = days.to_series().drop_nulls().to_list()
    return min(max(stated), cutoff_day) if stated else None


def read_linkage(root: Path, cutoff_month: int, cutoff_day: int) -> Linkage:
    """The linkage returns as the generator wrote them under `root` (the submissions folder)."""
    deaths: dict[str, list[int]] = defaultdict(list)
    df = _linkage_form(root, "linkage_death", cutoff_month)
    if df is not None:
        dated = df.select("patient_key", _epoch_days("death_date").alias("day")).filter(pl.col("day") <= cutoff_day)
        for key, day in dated.sort("day").iter_rows():
            deaths[key].append(day)
    cancers: dict[str, list[tuple[int, str]]] = defaultdict(list)
    df = _linkage_form(root, "linkage_cancer", cutoff_month)
    if df is not None:
        dated = df.select("patient_key", _epoch_days("diagnosis_date").alias("day"), "icdo3_morphology")
        for key, day, morph in dated.filter(pl.col("day") <= cutoff_day).sort("day", "icdo3_morphology").iter_rows():
            cancers[key].append((day, morph))
    comp = _linkage_form(root, "linkage_completeness", cutoff_month)
    return Linkage(
        deaths=dict(deaths),
        death_complete_through=_complete_through(comp, DEATH_LINKAGE_SOURCE, cutoff_day),
        cancers=dict(cancers),
        cancer_complete_through=_complete_through(comp, CANCER_LINKAGE_SOURCE, cutoff_day),
    )


# --- pure rules on one patient's records ---------------------------------------------------------------------


@dataclass
class Patient:
    records: dict[str, list[dict]] = field(default_factory=dict)  # lab: the count analytes of recovery only
    last_lab: int | None = None  # latest dated lab value of any analyte (a contact)
    linkage_deaths: list[int] = field(default_factory=list)  # national linkage death days (not a contact)
    linkage_cancers: list[tuple[int, str]] = field(default_factory=list)  # (day, ICD-O-3 morphology), not a contact

    def rows(self, form: str) -> list[dict]:
        return self.records.get(form, [])


def infusions(p: Patient) -> list[tuple[int, int]]:
    """(infusion_date, infusion_number) of every reported infusion, latest record per number, by date."""
    by_number: dict[int, int] = {}
    for r in sorted(p.rows("product_infusion"), key=lambda r: r["record_id"]):
        if r["infusion_date"] is not None and r["infusion_number"] is not None:
            by_number[int(float(r["infusion_number"]))] = r["infusion_date"]
    return sorted((day, num) for num, day in by_number.items())


def registration(p: Patient) -> dict | None:
    rows = p.rows("registration")
    return max(rows, key=lambda r: r["record_id"]) if rows else None


def fatal_ae_deaths(p: Patient) -> list[tuple[int, str, str]]:
    """(death day, form, record_id) of every grade-5 AE / CRS / ICANS: the resolution date when given, else the
    onset."""
    out = []
    for form, grade_col in (("adverse_event", "ctcae_grade"), ("crs", "astct_grade"), ("icans", "astct_grade")):
        for r in p.rows(form):
            if r[grade_col] is not None and float(r[grade_col]) == 5:
                day = r["resolution_date"] if r["resolution_date"] is not None else r["onset_date"]
                if day is not None:
                    out.append((day, form, r["record_id"]))
    return sorted(out)


def death_reports(p: Patient) -> list[tuple[int, str, str, str | None]]:
    """(day, source form, record_id, registry cause) of every report of the death: death form, follow-up DEAD,
    national linkage (registered patients only: the registration gives the site), fatal AE / CRS / ICANS (cause
    None: a non-relapse cause whatever the term). Follow-up and linkage give no cause (UNKNOWN)."""
    out: list[tuple[int, str, str, str | None]] = [
        (r["death_date"], "death", r["record_id"], r["primary_cause"] or "UNKNOWN")
        for r in p.rows("death")
        if r["death_date"] is not None
    ]
    out += [
        (r["contact_date"], "followup", r["record_id"], "UNKNOWN")
        for r in p.rows("followup")
        if r["vital_status"] == "DEAD" and r["contact_date"] is not None
    ]
    if registration(p) is not None:
        out += [(day, "linkage_death", f"L{i}", "UNKNOWN") for i, day in enumerate(p.linkage_deaths)]
    out += [(day, form, rid, None) for day, form, rid in fatal_ae_deaths(p)]
    return out


def death(p: Patient, rules: Rules) -> tuple[int, bool] | None:
    """(death day, is non-relapse cause): the report of lowest precedence (data/config/death_source_precedence.csv:
    death form > follow-up DEAD or national linkage, the earlier date > fatal AE), the earliest within a rank. Cause
    from the best-ranked report that gives one (death form, else fatal AE: non-relapse), else UNKNOWN (follow-up and
    linkage give none: linkage causes are ICD-10, not registry causes)."""
    reports = sorted(death_reports(p), key=lambda r: (rules.death_precedence[r[1]], r[0], r[1], r[2]))
    if not reports:
        return None
    causes = [r for r in reports if r[1] not in ("followup", "linkage_death")]
    if not causes:
        return reports[0][0], rules.nrm_cause["UNKNOWN"]
    cause = causes[0][3]
    return reports[0][0], True if cause is None else rules.nrm_cause.get(cause, True)


def death_site_reported(p: Patient) -> bool:
    """A site reported the death (death form, follow-up DEAD or fatal event), not only the national linkage."""
    return any(r[1] != "linkage_death" for r in death_reports(p))


def disease_known(
    rules: Rules, p: Patient, death_day: int | None, lc: int, alive: int | None
) -> tuple[int | None, int]:
    """(death, censoring day) for the endpoints whose relapse status only site follow-up knows (PFS, NRM, RELAPSE,
    EFS, DOR). Censoring where status is known (the OS switch): a death only the national linkage found, after the
    last site contact proving the patient alive, is not counted; the patient is censored at that contact."""
    if rules.os_at_linkage and death_day is not None and alive is not None and death_day > alive:
        if not death_site_reported(p):
            return None, alive
    return death_day, lc


def last_alive(p: Patient) -> int | None:
    """The latest contact date (cut-off already applied), excluding follow-ups reporting the patient DEAD."""
    days = []
    for form, cols in _CONTACT_DATES.items():
        for r in p.rows(form):
            if form == "followup" and r["vital_status"] == "DEAD":
                continue
            days += [r[c] for c in cols if r[c] is not None]
    days += [p.last_lab] if p.last_lab is not None else []
    return max(days) if days else None


def progression(p: Patient, rules: Rules, index_day: int) -> int | None:
    """First progression / relapse after day 0: a progression response (PD / RELAPSE) or a follow-up progression
    date."""
    days = [
        r["assessment_date"]
        for r in p.rows("response")
        if r["response"] in rules.progression and r["assessment_date"] is not None
    ]
    days += [r["progression_date"] for r in p.rows("followup") if r["progression_date"] is not None]
    days = [x for x in days if x > index_day]
    return min(days) if days else None


def first_new_treatment(p: Patient, index_day: int) -> int | None:
    days = [
        r["subsequent_therapy_date"]
        for r in p.rows("followup")
        if r["subsequent_therapy"] == "Y" and r["subsequent_therapy_date"] is not None
    ]
    days += [
        r["subsequent_hct_date"]
        for r in p.rows("followup")
        if r["subsequent_hct"] in ("AUTO", "ALLO", "BOTH") and r["subsequent_hct_date"] is not None
    ]
    days = [x for x in days if x >= index_day]
    return min(days) if days else None


def qualifying_assessments(
    p: Patient, rules: Rules, index_day: int, next_inf: int | None, pd_day: int | None, new_tx: int | None
) -> list[tuple[int, str, str]]:
    """(day, response, record_id) counting for best response: after day 0, not NE, on or before the first PD,
    before the next infusion and before the first subsequent therapy / HCT."""
    out = []
    for r in p.rows("response"):
        day, resp = r["assessment_date"], r["response"]
        if day is None or resp is None or resp == "NE" or resp not in rules.rank or day <= index_day:
            continue
        if (
            (pd_day is not None and day > pd_day)
            or (next_inf is not None and day >= next_inf)
            or (new_tx is not None and day >= new_tx)
        ):
            continue
        out.append((day, resp, r["record_id"]))
    return out


def best_response(assess: list[tuple[int, str, str]], rules: Rules, index_day: int, window: int) -> str | None:
    inside = [a for a in assess if a[0] <= index_day + window]
    return min(inside, key=lambda a: (rules.rank[a[1]], a[0], a[2]))[1] if inside else None


def recovery(
    p: Patient, analyte: str, threshold: float, consecutive: int, index_day: int, next_inf: int | None
) -> tuple[str, int | None]:
    """CIBMTR recovery of the index infusion: the first of `consecutive` daily values (lowest of the day) at or
    above the threshold after the nadir. Status RECOVERED / NOT_RECOVERED / NEVER_BELOW / NO_DATA."""
    daily: dict[int, float] = {}
    for r in p.rows("lab"):
        if r["analyte"] != analyte or r["lab_date"] is None or r["value"] is None:
            continue
        day = r["lab_date"]
        if day < index_day or (next_inf is not None and day >= next_inf):
            continue
        daily[day] = min(float(r["value"]), daily.get(day, float("inf")))
    if not daily:
        return "NO_DATA", None
    series = sorted(daily.items())
    below = [d for d, v in series if v < threshold]
    if not below:
        return "NEVER_BELOW", None
    run_start, run = None, 0
    for d, v in series:
        if d <= below[0]:
            continue
        if v >= threshold:
            run_start, run = (d, 1) if run == 0 else (run_start, run + 1)
            if run >= consecutive:
                return "RECOVERED", run_start
        else:
            run = 0
    return "NOT_RECOVERED", None


def _row(param: str, start: int, day: int, status: str, entry_from: int | None) -> dict:
    entry = max(0, entry_from - start) if entry_from is not None else 0
    aval = day - start
    return {
        "paramcd": param,
        "startdt": start,
        "aval_days": aval,
        "status": status,
        "entry_days": entry,
        "pre_entry": status != CENSORED and entry > 0 and aval <= entry,
    }


def _competing(param: str, start: int, ev: int | None, comp: int | None, lc: int, enrol) -> dict:
    """Event at `ev` unless the competing event came strictly first; else censored at last contact."""
    if ev is not None and (comp is None or ev <= comp):
        return _row(param, start, ev, EVENT, enrol)
    if comp is not None:
        return _row(param, start, comp, COMPETING, enrol)
    return _row(param, start, lc, CENSORED, enrol)


def os_row(
    rules: Rules, param: str, start: int, death_day: int | None, lc: int, enrol, complete_through: int | None
) -> dict:
    """One OS-type row (OS, OS_LC, OS_LNK, OS_ITT) from `start`. Where vital status is known (the parameter's rule
    uses the linkage, OS_RULES or else the configuration, and C is on or after `start`): a death by C is the event,
    anyone else is alive through C and censored there; otherwise death or last contact."""
    uses_linkage = OS_RULES.get(param)
    linked = rules.os_at_linkage if uses_linkage is None else uses_linkage
    admin = complete_through if linked and complete_through is not None and complete_through >= start else None
    if admin is None:
        return _competing(param, start, death_day, None, lc, enrol)
    if death_day is not None and death_day <= admin:
        return _row(param, start, death_day, EVENT, enrol)
    return _row(param, start, admin, CENSORED, enrol)


def overall_survival(
    rules: Rules, index_day: int, death_day: int | None, lc: int, enrol, complete_through: int | None
) -> list[dict]:
    """OS from the first infusion, and OS_LC / OS_LNK once a completeness date C exists."""
    return [
        os_row(rules, param, index_day, death_day, lc, enrol, complete_through)
        for param in OS_RULES
        if param == "OS" or complete_through is not None
    ]


def efs(rules: Rules, best: str | None, index_day: int, pfs_ev: int | None, lc: int, enrol, cutoff_day: int) -> dict:
    """EFS (ALL): treatment failure - no CR/CRi by the remission window - is an event at day 0 once the window is
    closed (ended by the cut-off, or a REL / death inside it made remission impossible); else REL or death, censored
    at last contact. ELIANA (Maude et al., NEJM 2018;378:439); FDA guidance on ALL endpoints."""
    window_end = index_day + rules.windows[EFS_WINDOW]
    closed = window_end <= cutoff_day or (pfs_ev is not None and pfs_ev <= window_end)
    if best not in rules.complete and closed:
        return _row("EFS", index_day, index_day, EVENT, enrol)
    return _competing("EFS", index_day, pfs_ev, None, lc, enrol)


def first_response(rules: Rules, assess: list[tuple[int, str, str]], best: str | None, index_day: int) -> int | None:
    """DOR origin: the first PR-or-better qualifying assessment within the DOR window, for responders only."""
    if best not in rules.responder:
        return None
    return min(a[0] for a in assess if a[1] in rules.responder and a[0] <= index_day + rules.windows[DOR_WINDOW])


def _itt_start(p: Patient, reg: dict | None, inf: list) -> int | None:
    """OS_ITT's day 0: the CAR-T order, else the first leukapheresis, else the first infusion."""
    leuka = min(
        (r["leukapheresis_date"] for r in p.rows("product_infusion") if r["leukapheresis_date"] is not None),
        default=None,
    )
    return next(
        (x for x in ((reg or {}).get("cart_order_date"), leuka, inf[0][0] if inf else None) if x is not None), None
    )


def malignancies(p: Patient, rules: Rules, index_day: int, with_linkage: bool) -> list[tuple[int, bool]]:
    """(diagnosis day, is T-cell) of every new malignancy on/after day 0: the site reports (T-cell: category, flag
    or ICD-O-3 morphology) and, with censoring where status is known, the national cancer registry's (registered
    patients only; T-cell by morphology). No matching is needed: the endpoints take the earliest date."""
    out = [
        (
            r["diagnosis_date"],
            r["category"] == "T_CELL_NEOPLASM"
            or r["t_cell_malignancy"] == "Y"
            or is_tcell_morphology(r["icdo3_morphology"], rules.tcell_histology),
        )
        for r in p.rows("secondary_malignancy")
        if r["diagnosis_date"] is not None
    ]
    if with_linkage and registration(p) is not None:
        out += [(day, is_tcell_morphology(m, rules.tcell_histology)) for day, m in p.linkage_cancers]
    return [(day, t) for day, t in out if day >= index_day]


def _spm_rows(
    p: Patient, rules: Rules, index_day: int, death_day: int | None, lc: int, enrol, spm_through: int | None
) -> list[dict]:
    """SPM and SPM_TCELL: the first new malignancy on/after day 0, death competing. Where cancer status is known
    (the OS switch, and the earlier completeness date C on or after day 0): linkage cancers count, and an event or
    death after C is censored at C; otherwise site reports only, censored at last contact."""
    spm = malignancies(p, rules, index_day, rules.os_at_linkage)
    admin = spm_through if rules.os_at_linkage and spm_through is not None and spm_through >= index_day else None
    rows = []
    for param, days in (("SPM", [d for d, _ in spm]), ("SPM_TCELL", [d for d, t in spm if t])):
        first = min(days, default=None)
        if admin is None:
            rows.append(_competing(param, index_day, first, death_day, lc, enrol))
            continue
        ev = first if first is not None and first <= admin else None
        comp = death_day if death_day is not None and death_day <= admin else None
        rows.append(_competing(param, index_day, ev, comp, admin, enrol))
    return rows


def _disease_rows(
    p: Patient, rules: Rules, index_day: int, pd_day: int | None, d: tuple, lc: int, alive, enrol
) -> tuple[list, int | None, int]:
    """PFS, NRM and RELAPSE (relapse or death where relapse status is known); also PFS's event day and the
    disease-known last contact, which EFS and DOR share."""
    death_day, death_nrm = d
    dz_death, dz_lc = disease_known(rules, p, death_day, lc, alive)
    rel = pd_day if pd_day is not None else (dz_death if dz_death is not None and not death_nrm else None)
    pfs_ev = min((x for x in (rel, dz_death) if x is not None), default=None)
    rel_first = rel is not None and (dz_death is None or rel <= dz_death)  # REL on the day of death is REL
    rows = [
        _competing("PFS", index_day, pfs_ev, None, dz_lc, enrol),
        _competing("NRM", index_day, None if rel_first else dz_death, rel if rel_first else None, dz_lc, enrol),
        _competing("RELAPSE", index_day, rel if rel_first else None, None if rel_first else dz_death, dz_lc, enrol),
    ]
    return rows, pfs_ev, dz_lc


def patient_truth(
    p: Patient, rules: Rules, cutoff_day: int, complete_through: int | None = None, spm_through: int | None = None
) -> tuple[list[dict], dict | None]:
    """ADTTE-equivalent rows (encoding-free) and the response summary of one patient."""
    reg = registration(p)
    inf = infusions(p)
    enrol = reg["enrolment_date"] if reg else None
    d = death(p, rules)
    death_day, death_nrm = d if d else (None, None)
    alive = last_alive(p)
    lc = death_day if death_day is not None else alive
    rows: list[dict] = []
    itt = _itt_start(p, reg, inf)
    if itt is not None and itt <= cutoff_day and lc is not None:
        # the configured OS rule from the CAR-T order: the death linkage covers the never-infused (registered) too
        rows.append(os_row(rules, "OS_ITT", itt, death_day, lc, enrol, complete_through))
    if not inf or inf[0][0] > cutoff_day:
        return rows, None
    index_day, index_num = inf[0]
    assert lc is not None, "an infused patient has a contact date (the infusion)"
    next_inf = inf[1][0] if len(inf) > 1 else None
    pd_day = progression(p, rules, index_day)
    rows += overall_survival(rules, index_day, death_day, lc, enrol, complete_through)
    disease, pfs_ev, dz_lc = _disease_rows(p, rules, index_day, pd_day, (death_day, death_nrm), lc, alive, enrol)
    rows += disease + _spm_rows(p, rules, index_day, death_day, lc, enrol, spm_through)
    for analyte, param in (("ANC", "ANC_REC"), ("PLT", "PLT_REC")):
        status, rec = recovery(p, analyte, *rules.recovery[analyte], index_day, next_inf)
        rows.append(_competing(param, index_day, index_day if status == "NEVER_BELOW" else rec, death_day, lc, enrol))
    assess = qualifying_assessments(p, rules, index_day, next_inf, pd_day, first_new_treatment(p, index_day))
    best = {w: best_response(assess, rules, index_day, rules.windows[w]) for w in RESPONSE_WINDOWS}
    group = next(
        (
            r["disease_group"]
            for r in p.rows("baseline")
            if r["infusion_number"] is not None and int(float(r["infusion_number"])) == index_num
        ),
        None,
    )
    if group == ALL_GROUP:
        rows.append(efs(rules, best[EFS_WINDOW], index_day, pfs_ev, dz_lc, enrol, cutoff_day))
    first_resp = first_response(rules, assess, best[DOR_WINDOW], index_day)
    if first_resp is not None:
        rows.append(_competing("DOR", first_resp, pfs_ev, None, dz_lc, enrol))
    return rows, {
        "best_response_d90": best["D90"],
        "best_response_d180": best["D180"],
        "first_response_date": first_resp,
        "disease_group": group,
    }


# --- the whole registry ------------------------------------------------------------------------------------


def reported_patients(
    frames: dict[str, pl.DataFrame], rules: Rules, sites: list[str], cutoff_month: int, cutoff_day: int
) -> dict[str, Patient]:
    """Every patient's current, cut-off-restricted records, by form."""
    patients: dict[str, Patient] = defaultdict(Patient)
    for form, df in frames.items():
        cur = current_versions(df, sites, cutoff_month)
        if form == "lab":
            day = pl.col("lab_date").str.to_date("%Y-%m-%d", strict=False).cast(pl.Int32)
            typed = cur.select(
                "patient",
                "record_id",
                pl.when(day <= cutoff_day).then(day).alias("lab_date"),
                "analyte",
                pl.col("value").cast(pl.Float64, strict=False),
            )
            dated = typed.filter(pl.col("lab_date").is_not_null() & pl.col("value").is_not_null())
            for pid, last in dated.group_by("patient").agg(pl.col("lab_date").max()).iter_rows():
                patients[pid].last_lab = last
            typed = dated.filter(pl.col("analyte").is_in(list(rules.recovery)))
        elif form in _DATES:
            typed = _typed(form, cur, cutoff_day)
        else:
            continue
        for pid, rows in _by_patient(typed).items():
            patients[pid].records[form] = rows
    return patients


def endpoint_truth(
    d: Dictionary,
    frames: dict[str, pl.DataFrame],
    sites: list[str],
    cutoff_month: int,
    cutoff_day: int,
    linkage: Linkage | None = None,
    hmac_key: bytes | None = None,
    rules: Rules | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(endpoint truth, response truth) for every reported patient; dates as ISO dates. `linkage` holds the
    national linkage returns (keyed by the registry patient key made with `hmac_key`, the demo key by default);
    `rules` the registry's rules (default: load_rules, as configured)."""
    from kocartr.ingest.privacy import DEMO_KEY, patient_key

    rules = rules or load_rules(d)
    link = linkage or Linkage()
    bad = defect_patients(frames, sites)
    ep, rs = [], []
    for pid, p in sorted(reported_patients(frames, rules, sites, cutoff_month, cutoff_day).items()):
        site, patient_id = pid.split(":", 1)
        key_ = patient_key(hmac_key or DEMO_KEY, site, patient_id)
        p.linkage_deaths = link.deaths.get(key_, [])
        p.linkage_cancers = link.cancers.get(key_, [])
        rows, resp = patient_truth(p, rules, cutoff_day, link.death_complete_through, link.spm_complete_through)
        key = {"site_code": site, "patient_id": patient_id, "has_defect": pid in bad}
        ep += [{**key, **r} for r in rows]
        if resp is not None:
            rs.append({**key, **resp})
    date = pl.Int32
    ep_df = pl.DataFrame(
        ep,
        schema={
            "site_code": pl.Utf8,
            "patient_id": pl.Utf8,
            "has_defect": pl.Boolean,
            "paramcd": pl.Utf8,
            "startdt": date,
            "aval_days": pl.Int64,
            "status": pl.Utf8,
            "entry_days": pl.Int64,
            "pre_entry": pl.Boolean,
        },
    )
    rs_df = pl.DataFrame(
        rs,
        schema={
            "site_code": pl.Utf8,
            "patient_id": pl.Utf8,
            "has_defect": pl.Boolean,
            "best_response_d90": pl.Utf8,
            "best_response_d180": pl.Utf8,
            "first_response_date": date,
            "disease_group": pl.Utf8,
        },
    )
    return (
        ep_df.with_columns(pl.col("startdt").cast(pl.Date)),
        rs_df.with_columns(pl.col("first_response_date").cast(pl.Date)),
    )
