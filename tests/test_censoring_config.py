"""The OS censoring choice is configuration, and the release methods state the rule in force."""

from __future__ import annotations

import shutil
from pathlib import Path

from kocartr.censoring import methods_statement, os_censors_at_linkage
from kocartr.paths import CONFIG_DIR


def _config(tmp_path: Path, value: str) -> Path:
    shutil.copy(CONFIG_DIR / "clinical_thresholds.csv", tmp_path / "clinical_thresholds.csv")
    p = tmp_path / "clinical_thresholds.csv"
    lines = p.read_text(encoding="utf-8").splitlines()
    lines = [
        (f"os_censor_at_linkage_completeness,{value}," + ln.split(",", 2)[2])
        if ln.startswith("os_censor_at_linkage_completeness,")
        else ln
        for ln in lines
    ]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_shipped_choice_is_linkage_completeness() -> None:
    assert os_censors_at_linkage() is True
    assert "censored where vital status is known" in methods_statement()


def test_last_contact_choice_is_stated(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "0")
    assert os_censors_at_linkage(cfg) is False
    text = methods_statement(cfg)
    assert text.startswith("OS (PARAMCD OS) is censored at last contact") and "OS_LNK" in text


def test_completeness_censorings_are_the_ones_adtte_writes() -> None:
    """kocartr.censoring.COMPLETENESS_CENSORINGS (read by the analyses and the GX rule) are exactly the CNSDTDSC
    values adam.adtte writes for a censoring at a national registry's completeness date."""
    import re

    from kocartr.censoring import COMPLETENESS_CENSORINGS
    from kocartr.paths import DBT_PROJECT_DIR

    sql = (DBT_PROJECT_DIR / "models" / "adam" / "adtte.sql").read_text(encoding="utf-8")
    written = set(re.findall(r"'([A-Z ]*COMPLETENESS)'", sql))
    assert written == set(COMPLETENESS_CENSORINGS)
