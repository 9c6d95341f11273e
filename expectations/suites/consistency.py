"""Staging rules that check a reported grade or seriousness against the data it must agree with, and send the
record to the site's queries when it does not (warnings: a site may know more than the form; never a re-grade).

- CTCAE cytopenias (neutropenia, thrombocytopenia, anaemia): the reported grade must not be below the grade the
  lowest count in the event window implies. Cut-offs come from data/config/ctcae_lab_grading.csv (CTCAE v5.0,
  v6.0 where transcribed), the same seed dbt's int_adverse_events reads; the window from
  clinical_thresholds.ae_lab_window_open_days (unresolved events).
- ICH E2A: a grade 4 (life-threatening) or 5 (death) event is serious by definition; CRS, ICANS and CTCAE forms
  reporting it as not serious are queried.
CRS / ICANS grade versus their ASTCT components are in staging.hand_rules (dictionary code attributes).
"""

from __future__ import annotations

import csv
from functools import lru_cache

from expectations.config import STAGING_ID_COLUMNS, clinical_threshold, stg
from expectations.rules import Rule, rule
from kocartr.paths import CONFIG_DIR

IDS = ", ".join(f"x.{c}" for c in STAGING_ID_COLUMNS)
CTCAE_LAB_GRADING = CONFIG_DIR / "ctcae_lab_grading.csv"


@lru_cache(maxsize=1)
def ctcae_lab_cutoffs() -> tuple[tuple[str, str, str, int, float], ...]:
    """(ae_term, analyte, ctcae_version, grade, value_below) rows of the seed."""
    with CTCAE_LAB_GRADING.open(encoding="utf-8") as fh:
        return tuple(
            (r["ae_term"], r["analyte"], r["ctcae_version"], int(r["grade"]), float(r["value_below"]))
            for r in csv.DictReader(fh)
        )


def _lit(v) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def lab_grade_rule(term: str) -> Rule:
    ae, lab = stg("adverse_event"), stg("lab")
    rows = [r for r in ctcae_lab_cutoffs() if r[0] == term]
    analyte = rows[0][1]
    cut = ", ".join(f"({_lit(v)}, {g}, {b!r})" for _, _, v, g, b in rows)
    open_days = int(clinical_threshold("ae_lab_window_open_days"))
    return rule(
        ae,
        f"{term.lower()}_grade_vs_lab_nadir",
        category="conformance",
        subcategory="computational",
        severity="warning",
        max_failing_share=0.0,
        reason=f"CTCAE (v5.0; v6.0 where transcribed; seed ctcae_lab_grading): a {term.lower()} grade must not be "
        f"below the grade the lowest {analyte} from onset to resolution implies (unresolved: onset + "
        f"{open_days} days). Site query; the reported grade is never replaced.",
        query=f"""with cut(ctcae_version, grade, value_below) as (values {cut}),
                       nadir as (select x.site_code, x.record_id, min(l.value) as v
                                 from {ae} x join {lab} l
                                   on l.patient_key = x.patient_key and l.analyte = {_lit(analyte)}
                                  and l.lab_date between x.onset_date
                                      and coalesce(x.resolution_date, x.onset_date + {open_days})
                                 where x.ae_term = {_lit(term)} and l.value is not null group by all)
                  select {IDS}, coalesce(x.ctcae_grade >= (select max(c.grade) from cut c
                                                           where c.ctcae_version = x.ctcae_version
                                                             and n.v < c.value_below), true) as ok
                  from {ae} x join nadir n on n.site_code = x.site_code and n.record_id = x.record_id
                  where x.ae_term = {_lit(term)} and x.ctcae_grade is not null""",
    )


def rules(dictionary) -> list[Rule]:
    terms = list(dict.fromkeys(r[0] for r in ctcae_lab_cutoffs()))
    out = [lab_grade_rule(t) for t in terms]
    for form, grade in (("crs", "astct_grade"), ("icans", "astct_grade"), ("adverse_event", "ctcae_grade")):
        table = stg(form)
        out.append(
            rule(
                table,
                "grade4plus_reported_serious",
                category="plausibility",
                subcategory="atemporal",
                severity="warning",
                max_failing_share=0.0,
                reason="ICH E2A: a grade 4 (life-threatening) or 5 (death) event is serious by definition; reported "
                "as not serious (N or U), it is counted serious in the marts and queried at the site.",
                query=f"select {IDS}, coalesce(x.serious = 'Y', false) as ok from {table} x where x.{grade} >= 4",
            )
        )
    return out
