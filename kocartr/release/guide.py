"""The investigator guide shipped inside every release (README.md) and its column list (columns.csv).

Column descriptions come from, in order: the warehouse's own column comments (dbt docs), the data dictionary
(a mart column named like a dictionary field), the ADaM definitions below (docs/ARCHITECTURE.md), and the
analysis / regulatory definitions below.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from kocartr.censoring import methods_statement

ADAM_COLUMNS = {
    "STUDYID": "Study identifier (Ko-CARTR)",
    "USUBJID": "Unique subject identifier (= patient_key, the keyed HMAC pseudonym)",
    "SITEID": "Site code",
    "SEX": "Sex",
    "BIRTHYR": "Year of birth",
    "AGE": "Age in years at first infusion (else at CAR-T order)",
    "PRODUCT": "CAR-T product code (first infusion)",
    "DISGRP": "Disease group",
    "DIAGNOSIS": "Primary diagnosis",
    "ORDERDT": "CAR-T order date (intention-to-treat anchor)",
    "ENRLDT": "Registry enrolment date",
    "LEUKDT": "Leukapheresis date",
    "TRTSDT": "First infusion date (day 0)",
    "INFYEAR": "Year of first infusion",
    "REGLATFL": "Y when enrolled after infusion (delayed entry)",
    "PRIORLN": "Number of prior lines of therapy",
    "PRIORHCT": "Prior haematopoietic cell transplantation",
    "BRIDGFL": "Bridging therapy given (Y/N)",
    "ECOG": "ECOG performance status before lymphodepletion",
    "HTXANC": "CAR-HEMATOTOX: ANC before lymphodepletion (x10^9/L)",
    "HTXHGB": "CAR-HEMATOTOX: haemoglobin (g/dL)",
    "HTXPLT": "CAR-HEMATOTOX: platelets (x10^9/L)",
    "HTXCRP": "CAR-HEMATOTOX: CRP (mg/dL)",
    "HTXFERR": "CAR-HEMATOTOX: ferritin (ng/mL)",
    "DTHDT": "Date of death",
    "DTHFL": "Death flag (Y)",
    "DTHCAUS": "Primary cause of death",
    "LSTCNTDT": "Last date known alive / last contact",
    "LSTALVDT": "Last date known alive from site follow-up",
    "DTHSITFL": "Death reported by a site (Y) or only by the national linkage (N)",
    "LTFUFL": "Lost to follow-up flag",
    "NOTINFRS": "Reason an ordered product was not infused",
    "ITTFL": "Intention-to-treat population flag (CAR-T ordered)",
    "INFFL": "Infused population flag",
    "INFNUM": "Infusion number",
    "PARAMCD": "Parameter code (OS, OS_ITT, PFS, NRM, RELAPSE, EFS, DOR, SPM, SPM_TCELL, ANC_REC, PLT_REC; ADRS: BOR)",
    "PARAM": "Parameter description",
    "STARTDT": "Time origin of the parameter",
    "ADT": "Date of event or censoring",
    "AVAL": "Days from STARTDT to ADT",
    "AVALU": "Unit of AVAL (DAYS)",
    "CNSR": "0 = event of interest, 1 = censored; empty (NULL) on a competing-event row (CMPEVFL = Y)",
    "EVNTDESC": "Event description",
    "CNSDTDSC": "Censoring date description",
    "CMPEVFL": "Y when the row ends with a competing event (CNSR is then NULL), else N",
    "CMPEVDSC": "Description of the competing event",
    "ENTRYT": "Days from STARTDT to registry enrolment (delayed entry / left truncation), else 0",
    "PREENTFL": "Y when the event or competing event happened on or before registry entry: exclude the row",
    "PREENTRS": "Reason for PREENTFL = Y",
    "SUBJID": "Registry-issued subject number (not the hospital's patient id)",
    "AGEU": "Age unit (YEARS)",
    "SAFFL": "Safety population flag (infused)",
    "TRT01P": "Planned treatment (product of the index infusion)",
    "TRT01A": "Actual treatment (product of the index infusion)",
    "TRTEDT": "Last infusion date",
    "DTHSRC": "Form the death date comes from (death, followup, adverse_event, crs, icans)",
    "INFQRYFL": "Y when a toxicity is reported without an infusion record (under site query)",
    "AVISIT": "Response window (D30, D90, D180, D365)",
    "AVISITN": "Last day after infusion of the response window",
    "AVALC": "Best overall response in the window (NE when not evaluable)",
    "EVALFL": "Y when the patient has a qualifying response assessment in the window",
    "WINDCMFL": "Y when the response window has ended by the cut-off",
    "CRFL": "Complete response (sCR / CR / CRi) by the window",
    "RSPFL": "Responder (PR or better) by the window",
    "FRSPDT": "First PR-or-better response date (duration of response starts here)",
    "AESEQ": "Adverse event sequence number",
    "AECAT": "Adverse event category (CRS, ICANS, ICAHT, INFECTION, CYTOPENIA, OTHER)",
    "AEDECOD": "Adverse event term",
    "ATOXGR": "Toxicity grade (character, ADaM OCCDS)",
    "ATOXGRN": "Toxicity grade (numeric)",
    "AESOURCE": "REPORTED (site form) or DERIVED (from the lab series: ICAHT)",
    "AESERCRT": "ICH E2A seriousness criteria reported (';'-separated)",
    "LBTOXGRN": "CTCAE grade implied by the lab nadir in the event window (cytopenias)",
    "AEORGCL": "Infections: organism class (BACTERIAL, VIRAL, FUNGAL, OTHER, UNKNOWN)",
    "INFSITE": "Infections: site of infection",
    "GRDSTD": "Grading standard and version",
    "ASTDT": "Onset date",
    "AENDT": "Resolution date",
    "ASTDY": "Onset day relative to infusion (day 0 = infusion)",
    "ADURN": "Duration in days",
    "AESER": "Serious adverse event per ICH E2A (Y/N/U; reported, an E2A criterion, or grade 4-5)",
    "AETOCI": "Tocilizumab given (Y/N)",
    "AESTER": "Corticosteroids given (Y/N)",
    "AEICU": "ICU admission (Y/N)",
    "ICUDAYS": "Days in ICU",
}

OTHER_COLUMNS = {
    "patient_key": "Registry patient key: keyed HMAC-SHA256 pseudonym (not reversible without the registry key)",
    "site_code": "Registry code of the submitting hospital",
    "endpoint": "Endpoint of the estimate (OS, PFS, NRM, SPM, CRS, ICANS, ...)",
    "stratum_variable": "Variable the estimate is stratified by ('overall' for none)",
    "stratum": "Value of the stratum variable",
    "method": "Statistical method (estimator and confidence-interval type)",
    "data_cutoff": "Data cut-off of the release",
    "estimate": "Point estimate (probability / proportion)",
    "lower": "Lower 95% confidence limit",
    "upper": "Upper 95% confidence limit",
    "time": "Time since day 0 in days",
    "n_at_risk": "Number at risk just before this time",
    "n_events": "Number of events",
    "n_censored": "Number censored",
    "product": "CAR-T product code",
    "product_code": "CAR-T product code",
    "patients_under_followup": "Infused patients alive, not lost to follow-up and within the 15-year LTFU period",
    "visits_due": "Scheduled follow-up visits whose window has opened by the cut-off",
    "visits_overdue": "Scheduled follow-up visits whose window closed by the cut-off without a contact",
    "serious_adverse_events": "Serious adverse events (ICH E2A: reported serious, an E2A criterion, or grade 4-5)",
    "patients_with_sae": "Patients with at least one serious adverse event",
    "visits_received": "Scheduled follow-up visits answered by a follow-up form",
    "visits_missed": "Scheduled follow-up visits past the overdue grace period without a contact",
    "serious_secondary_malignancies": "New malignancies reported serious (ICH E2A)",
    "year_since_infusion": "Year since infusion (1 = day 0-364)",
    "event_month": "Month of the event (YYYY-MM)",
    "event_key": "Key of the event in its mart",
    "event_term": "Event term or category",
    "event_date": "Date of the event",
    "unexpected_because": "Why the event is unexpected (ICH E2A expedited-report candidate)",
    "value_unit": "Unit of the exported value (the dictionary's unit, or the unit reported beside it, e.g. dose_unit)",
    "reporting_period": "CIBMTR reporting period: BASELINE, 100_DAYS, 6_MONTHS, ANNUAL",
    "source_table": "Release table the item is read from",
    "source_column": "Column of that table holding the item",
    "reporting_period_from": (
        "How the reporting period is assigned (schedule period or the event date's day since infusion)"
    ),
    "seed": "Configuration file (data/config) holding the rule",
    "kind": "Kind of rule (follow-up window, grading, threshold)",
    "rule": "The rule with its values",
    "citation": "Published source of the rule, or the registry choice",
    "status": "Verification status of the rule",
    "secondary_malignancies": "New malignancies reported (CIBMTR 3500)",
    "patients_infused": "Patients infused (day 0 on or before the cut-off)",
    "deaths": "Deaths on or before the cut-off (any source: death form, follow-up, fatal adverse event)",
    "lost_to_followup": "Patients lost to follow-up (no contact for longer than the configured limit)",
    "completed_ltfu": "Patients who completed the 15-year long-term follow-up (MFDS)",
    "landmark_date": "Date of the landmark (infusion date + landmark months)",
    "best_response": "Best overall response up to the landmark (one definition: intermediate.int_best_response)",
    "landmark_months": "HIRA outcome snapshot landmark (months after infusion)",
    "snapshot_status": "DUE (landmark + window reached by the cut-off) or NOT_YET_DUE",
    "vital_status": "ALIVE / DEAD / UNKNOWN at the landmark",
    "progression_free": "Y / N / UNKNOWN at the landmark",
    "cibmtr_form": "CIBMTR form the item belongs to (from the dictionary's `cibmtr` key)",
    "cibmtr_item": "CIBMTR item (from the dictionary's `cibmtr` key)",
    "source_form": "Ko-CARTR dictionary form of the field",
    "source_field": "Ko-CARTR dictionary field",
    "value": "Value as text",
    # analysis tables (analyses/outcomes.py)
    "row_type": "Kind of row: 'curve' (each observed time), 'landmark', 'median', 'risk_table', 'gray_test'",
    "time_days": "Time since day 0 in days",
    "time_months": "Time since day 0 in months (time_days / the month length of the analysis plan)",
    "lower_95": "Lower 95% confidence limit",
    "upper_95": "Upper 95% confidence limit",
    "unit": "Unit of estimate: probability or months (median rows)",
    "n": "Number of subjects in the stratum (analysis set)",
    "events": "Number of events (patients with the event)",
    "person_years": "Time at risk in person-years",
    "n_delayed_entry": "Subjects entering after day 0 (left truncation)",
    "n_event_at_time": "Events at exactly this time",
    "n_censored_at_time": "Censorings at exactly this time",
    "n_competing_at_time": "Competing events at exactly this time",
    "n_event_cum": "Events at or before this time",
    "n_censored_cum": "Censorings at or before this time",
    "n_competing_cum": "Competing events at or before this time",
    "n_excluded": "Records excluded from the analysis (reasons in note)",
    "malignancy_category": "Population reference category of the SIR (ALL_SITES, T_CELL_NEOPLASM)",
    "observed": "Observed first new malignancies after infusion (SIR numerator)",
    "expected": "Expected count: person-years by sex, 5-year age group and calendar year x population rate",
    "sir": "Standardized incidence ratio (observed / expected)",
    "reference_source": "Source of the population rates (SYNTHETIC for the shipped sample)",
    "note": "Notes on exclusions or estimates",
    "n_not_evaluable": "Infused patients not yet evaluable for the toxicity (infused too close to the cut-off) or "
    "for the measure (its CRS / ICANS row pending a site correction)",
    "min_days_after_infusion": "Minimum days from infusion to the cut-off for a patient to count (reporting lag)",
    "competing_event": "Competing event of the cumulative incidence",
    "competing_events": "Number of competing events",
    "std_error": "Standard error of the estimate",
    "test_statistic": "Gray's test statistic",
    "test_df": "Degrees of freedom of the test",
    "p_value": "P-value of the test",
    "measure": "Measure (any_grade, grade_ge3, max_grade_k, tocilizumab, steroids, icu, onset_day, ...)",
    "proportion": "Proportion of patients with the measure",
    "n_values": "Number of values summarised",
    "median": "Median",
    "q1": "First quartile",
    "q3": "Third quartile",
    "minimum": "Minimum",
    "maximum": "Maximum",
    # analysis.publication_recoding (analyses/recoding.py: the analysis plan's table redesign)
    "DISGRP_PUB": "Disease group as published (the analysis plan's publication recoding)",
    "PRODUCT_PUB": "Product as published (the analysis plan's publication recoding)",
    "recoded": "True when the pair is published under a pooled category",
    "rate_per_100py": "Events per 100 person-years",
    # analysis.median_followup (analyses/followup.py)
    "n_alive": "Patients alive at last contact (censored on OS: the events of the reverse Kaplan-Meier)",
    "n_dead": "Patients who died (censor the reverse Kaplan-Meier)",
    "median_months": "Median follow-up in months (reverse Kaplan-Meier)",
    "q1_months": "First quartile of follow-up in months (reverse Kaplan-Meier)",
    "q3_months": "Third quartile of follow-up in months (reverse Kaplan-Meier)",
    "max_months": "Longest observed follow-up in months",
    # late-effect tables (analyses/late_effects.py)
    "landmark_day": "Landmark (days after the first infusion)",
    "window_start_day": "First day of the landmark / rate window (days after the first infusion)",
    "window_end_day": "Last day of the landmark / rate window (empty: open-ended)",
    "analyte": "Lab analyte code of the landmark measure (IVIG: the follow-up form's IVIG item)",
    "threshold": "Event when the value is strictly below this threshold (data/config)",
    "n_infused": "Infused patients in the stratum",
    "n_not_reached": "Infused patients whose landmark window had not ended by the cut-off",
    "n_dead_before": "Patients who died before the landmark day",
    "n_alive_followed": "Patients alive and followed at the landmark (denominator before measurement)",
    "n_no_measurement": "Patients alive and followed with no value in the landmark window",
    "time_window": "Time window after infusion (D0-30, D31-180, D181+)",
    "organism_class": "Organism class of the infection (ANY = every infection)",
    "subject": "Who was pregnant: the patient or the patient's partner",
    "outcome": "Pregnancy outcome (ANY = every pregnancy of the subject)",
    "count": "Number of pregnancies (exact; published tables suppress small counts)",
    "n_pregnancies": "Pregnancies of that subject in the stratum",
    "window_days": "Window of days alive and out of hospital (days 1 to this day after infusion)",
    "n_died": "Evaluable patients who died within the window (scored 0)",
    "mean": "Mean",
}


def describe_column(name: str, dictionary=None) -> str | None:
    if name in ADAM_COLUMNS:
        return ADAM_COLUMNS[name]
    if name in OTHER_COLUMNS:
        return OTHER_COLUMNS[name]
    if dictionary is not None:
        for form in dictionary.forms.values():
            for f in dictionary.all_fields(form.name):
                if f.name == name and not f.is_free_text:
                    unit = f" ({f.unit})" if f.unit else ""
                    return f"{f.description}{unit} [dictionary: {form.name}.{f.name}]"
    return None


GUIDE = (
    """# Ko-CARTR release {cutoff}

Data cut-off **{cutoff}** (only data on or before it), data dictionary **{dictionary_version}**,
release data fingerprint (SHA-256 of the tables, also printed in the workbook and the report):

    {tables_sha256}

This folder is immutable and read-only. Check it before use:

    python -c "from kocartr.release import verify_release; print(verify_release('.') or 'OK')"

or without the package: `sha256sum` each file and compare it with `manifest.json` (`files`).

## What is here

| file | content |
|---|---|
"""
    "| `kocartr_release.duckdb` | DuckDB database, schemas `marts`, `adam` (CDISC ADaM-shaped), `analysis` (outcome"
    " estimates), `regulatory` (MFDS LTFU, HIRA snapshots, CIBMTR export). Open it **read-only**. |\n"
    """| `parquet/<schema>/<table>.parquet` | the same tables, one Parquet file each (sorted by all columns) |
"""
    "| `hta_outcomes_{cutoff}.xlsx` | HTA workbook: OS/PFS landmarks and medians, numbers at risk, KM step "
    "coordinates, CRS/ICANS grade >= 3, NRM/SPM cumulative incidence, late effects (cytopenia, B-cell aplasia, IgG,"
    " CD4, IVIG by landmark; infection rates; B-cell recovery; pregnancy; DAOH-100), methods. Small counts (1 to "
    "{max_hidden}) are suppressed. |\n"
    """| `figures/*.png` | KM curves with numbers at risk, cumulative-incidence curves, by product |
| `report.html` | static report: figures, outcome tables, data quality per site, follow-up completeness |
| `columns.csv` | every released column with its type and description |
| `manifest.json` | cut-off, versions, row counts, SHA-256 of every file, quality-gate summary |

Patient-level tables carry `patient_key` / `USUBJID`, a keyed pseudonym. No direct identifier and no free text
is released. Counts in the workbook and report are suppressed; the patient-level tables are not: do not publish
counts from them below {threshold} without the same suppression.

## Methods: censoring of overall survival

{os_censoring}

## Tables

{table_list}

## Example queries

DuckDB CLI (read-only, so many people can query while the next release is built):

```sh
duckdb -readonly kocartr_release.duckdb
```
```sql
SHOW ALL TABLES;
SELECT PRODUCT, count(*) AS patients FROM adam.adsl WHERE INFFL = 'Y' GROUP BY ALL ORDER BY ALL;
SELECT * FROM analysis.survival_estimates WHERE endpoint = 'OS' AND stratum_variable = 'overall' LIMIT 20;
SELECT table_name, column_name, comment FROM duckdb_columns() WHERE schema_name = 'adam';
```

Python, polars (Parquet, no database needed) or DuckDB:

```python
import polars as pl
adtte = pl.read_parquet("parquet/adam/adtte.parquet")
os_ = adtte.filter(pl.col("PARAMCD") == "OS")

import duckdb
con = duckdb.connect("kocartr_release.duckdb", read_only=True)
adsl = con.sql("SELECT * FROM adam.adsl").pl()        # polars
df = con.sql("SELECT * FROM adam.adae").df()          # pandas
```

Time-to-event data (`adam.adtte`, ADaM BDS-TTE; definitions in the dbt docs of `adtte`):

- `CNSR` 0 = event, 1 = censored. A competing event (e.g. relapse for NRM) has `CMPEVFL = 'Y'` and `CNSR` empty:
  a plain Kaplan-Meier on a competing-risk parameter (NRM, RELAPSE, SPM, ANC_REC, PLT_REC) stops on the missing
  value instead of treating competing events as censorings; use a cumulative-incidence (Aalen-Johansen) estimator.
  OS, OS_ITT, PFS, EFS and DOR have no competing event.
- Delayed entry: patients registered after their infusion are at risk only from enrolment (`ENTRYT`, days). Use it
  as the entry time (left truncation). Rows with `PREENTFL = 'Y'` had their event before enrolment: they were
  never at risk in the registry; leave them out (the registry's own estimates do). Estimating without `ENTRYT`
  biases the result (patients who died before they could be registered are missing).
- Day-0 events (`AVAL = 0`, e.g. death on the infusion day, counts never below the recovery threshold) count with
  every patient at risk from day 0: a patient with `ENTRYT = 0` enters just before day 0 (start time -0.5 day in
  R's counting-process form, which requires start < stop; lifelines does the same with entry 0).

Python, pandas with lifelines:

```python
import pandas as pd
from lifelines import KaplanMeierFitter
d = pd.read_parquet("parquet/adam/adtte.parquet").query("PARAMCD == 'OS' and PREENTFL == 'N'")
km = KaplanMeierFitter().fit(d.AVAL, event_observed=(d.CNSR == 0), entry=d.ENTRYT)
print(km.survival_function_at_times([{km_times}]))
```

R with survival, from the release's CSV (base R; `haven::read_xpt("xpt/adam/adtte.xpt")` reads the SAS
transport file the same way; a text value over 200 bytes, which SAS transport v5 cannot hold, is split into the
variable and continuation variables `NOTE1`, `NOTE2`, ... named in `define.xml`: `paste0(NOTE, NOTE1)` joins it):

```r
library(survival)
adtte <- read.csv("csv/adam/adtte.csv", na.strings = "")
adtte$tstart <- ifelse(adtte$ENTRYT == 0, -0.5, adtte$ENTRYT)  # day-0 events: at risk from just before day 0
# events before registry entry were never at risk (PREENTFL); a censoring at entry adds no time at risk
adtte <- subset(adtte, PREENTFL == "N" & AVAL > tstart)
os <- subset(adtte, PARAMCD == "OS")
fit <- survfit(Surv(tstart, AVAL, CNSR == 0) ~ PRODUCT, data = os, conf.type = "log-log")
summary(fit, times = c({km_times}), extend = TRUE)   # extend: strata with shorter follow-up
# cumulative incidence of NRM with relapse competing (Aalen-Johansen, delayed entry)
nrm <- subset(adtte, PARAMCD == "NRM")
nrm$state <- factor(ifelse(nrm$CMPEVFL == "Y", "relapse", ifelse(nrm$CNSR == 0, "nrm", "censor")),
                    levels = c("censor", "nrm", "relapse"))
cif <- survfit(Surv(tstart, AVAL, state) ~ 1, data = nrm, id = USUBJID)
summary(cif, times = c({cif_times}), extend = TRUE)
```

## Columns

See `columns.csv` (schema, table, column, type, description) or in DuckDB
`SELECT * FROM duckdb_columns() WHERE comment IS NOT NULL`.
"""
)


def write_guide(folder: Path, context: dict[str, Any], table_meta: dict[str, Any], col_docs: list[dict]) -> None:
    lines = [
        f"- `{name}`: {meta['rows']} rows, {len(meta['columns'])} columns" for name, meta in sorted(table_meta.items())
    ]
    from analyses.plan import load_plan

    plan = load_plan()  # the examples' landmark times: the plan's published landmarks, in days
    days = [f"{m * plan.days_per_month:g}" for m in plan.published_landmark_months]
    text = GUIDE.format(
        table_list="\n".join(lines) or "(none)",
        km_times=", ".join(days),
        cif_times=", ".join(days[:2]),
        max_hidden=context["threshold"] - 1,
        os_censoring=methods_statement(),
        **{k: context[k] for k in ("cutoff", "dictionary_version", "tables_sha256", "threshold")},
    )
    (folder / "README.md").write_text(text, encoding="utf-8")
    with open(folder / "columns.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["schema", "table", "column", "type", "description"], lineterminator="\n")
        w.writeheader()
        for row in sorted(col_docs, key=lambda d: (d["schema"], d["table"])):
            w.writerow(row)
