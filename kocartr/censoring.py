"""The OS censoring rule of a build, read from configuration, and the sentence every release's methods state.

The choice lives once, in data/config/clinical_thresholds.csv (rule os_censor_at_linkage_completeness), which dbt
reads as a seed (int_os_censoring -> adam.adtte) and the release reads here.
"""

from __future__ import annotations

import csv
from pathlib import Path

from kocartr.paths import CONFIG_DIR

RULE_ID = "os_censor_at_linkage_completeness"


def os_censors_at_linkage(config_dir: Path = CONFIG_DIR) -> bool:
    """True when OS is censored where vital status is known (national death linkage), False for last contact."""
    with open(Path(config_dir) / "clinical_thresholds.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["rule_id"] == RULE_ID:
                return float(row["value"]) == 1
    raise KeyError(f"{RULE_ID} missing from clinical_thresholds.csv")


def methods_statement(config_dir: Path = CONFIG_DIR) -> str:
    """One paragraph for a release's methods: which rule OS follows, and where the other analysis is."""
    linkage = (
        "OS (PARAMCD OS) is censored where vital status is known: with national death data (Statistics Korea, "
        "linked by the designated combination agency) complete through a date C, a patient not known dead is alive "
        "through C and censored there, and a death after C is censored at C; a patient infused after C, or any "
        "patient when no linkage return states its completeness, is censored at last contact. Relapse status is "
        "known only through site follow-up: PFS, NRM, relapse, EFS and DOR do not count a death only the linkage "
        "found after the last site contact proving the patient alive, and are censored at that contact."
    )
    last_contact = "OS (PARAMCD OS) is censored at last contact (the last date a site reported the patient alive)."
    both = (
        " Both analyses are in adam.adtte whenever a linkage return states its completeness: OS_LC (last contact) "
        "and OS_LNK (vital status known through the linkage completeness date), and in analysis.survival_estimates "
        "under the same endpoint names. Deaths from every source count, ranked death form > follow-up or "
        "national linkage (the earlier date) > fatal adverse event."
    )
    return (linkage if os_censors_at_linkage(config_dir) else last_contact) + both
