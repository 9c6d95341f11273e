"""The censoring rule of a build where status is known, read from configuration, the sentence every release's
methods state, and the ICD-O-3 T-cell morphology rule of SPM_TCELL.

The choice lives once, in data/config/clinical_thresholds.csv (rule os_censor_at_linkage_completeness), which dbt
reads as a seed (dim_os_censoring -> adam.adtte) and the release reads here. The T-cell histology ranges live once,
in data/config/icdo3_tcell_morphology.csv (dbt seed icdo3_tcell_morphology; the generator's endpoint truth reads
them here).
"""

from __future__ import annotations

import csv
from pathlib import Path

from kocartr.paths import CONFIG_DIR

RULE_ID = "os_censor_at_linkage_completeness"
# The CNSDTDSC values adam.adtte writes when it censors at a national registry's completeness date (adtte.sql,
# endpoints.md). That date can precede registry enrolment (a patient registered after it): the row then ends before
# entry with no time at risk in the registry, which is no data error (analyses.outcomes, GX censoring_not_before_entry).
COMPLETENESS_CENSORINGS: tuple[str, ...] = (
    "ALIVE THROUGH LINKAGE COMPLETENESS",
    "CANCER REGISTRY COMPLETENESS",
    "DEATH REGISTRY COMPLETENESS",
)


def os_censors_at_linkage(config_dir: Path = CONFIG_DIR) -> bool:
    """True when OS is censored where vital status is known (national death linkage), False for last contact."""
    with open(Path(config_dir) / "clinical_thresholds.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["rule_id"] == RULE_ID:
                return float(row["value"]) == 1
    raise KeyError(f"{RULE_ID} missing from clinical_thresholds.csv")


def tcell_histology_ranges(config_dir: Path = CONFIG_DIR) -> tuple[tuple[int, int], ...]:
    """(first, last) ICD-O-3 histology codes of T-cell and NK-cell neoplasms (ICD-O-3.1 histology group 10)."""
    with open(Path(config_dir) / "icdo3_tcell_morphology.csv", encoding="utf-8", newline="") as fh:
        return tuple((int(r["histology_from"]), int(r["histology_to"])) for r in csv.DictReader(fh))


def is_tcell_morphology(morphology: str | None, ranges: tuple[tuple[int, int], ...]) -> bool:
    """An ICD-O-3 morphology ('9702/3') whose histology (first four digits) is in one of the T-cell ranges."""
    head = (morphology or "").strip()[:4]
    return head.isdigit() and len(head) == 4 and any(lo <= int(head) <= hi for lo, hi in ranges)


def methods_statement(config_dir: Path = CONFIG_DIR) -> str:
    """One paragraph for a release's methods: which rule OS follows, and where the other analysis is."""
    linkage = (
        "OS (PARAMCD OS) is censored where vital status is known: with national death data (Statistics Korea, "
        "linked by the designated combination agency) complete through a date C, a patient not known dead is alive "
        "through C and censored there, and a death after C is censored at C; a patient infused after C, or any "
        "patient when no linkage return states its completeness, is censored at last contact. Relapse status is "
        "known only through site follow-up: PFS, NRM, relapse, EFS and DOR do not count a death only the linkage "
        "found after the last site contact proving the patient alive, and are censored at that contact. New "
        "malignancies (SPM, SPM_TCELL) count from the site reports and the national cancer registry (Korea Central "
        "Cancer Registry, the earlier date; T-cell by ICD-O-3 morphology), censored at the earlier of the cancer "
        "registry's and the death data's completeness dates, death competing."
    )
    last_contact = (
        "OS (PARAMCD OS) is censored at last contact (the last date a site reported the patient alive); new "
        "malignancies (SPM, SPM_TCELL) are the site-reported ones, censored at last contact (national cancer "
        "registry returns only raise site queries)."
    )
    both = (
        " Both analyses are in adam.adtte whenever a linkage return states its completeness: OS_LC (last contact) "
        "and OS_LNK (vital status known through the linkage completeness date), and in analysis.survival_estimates "
        "under the same endpoint names. Deaths from every source count, ranked death form > follow-up or "
        "national linkage (the earlier date) > fatal adverse event."
    )
    return (linkage if os_censors_at_linkage(config_dir) else last_contact) + both
