"""Release configuration (data/config/release.yaml) and the one place that knows upstream table/column names.

Upstream layers (dbt marts, ADaM, analysis tables) are written by other modules; everything in kocartr.release
resolves their names through `ReleaseConfig.col()` / `.mart()` / `.analysis()`, so aligning a name is a one-line
change in release.yaml (an alias), not a code change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kocartr.paths import CONFIG_DIR

if TYPE_CHECKING:
    from analyses.plan import AnalysisPlan

RELEASE_CONFIG_FILE = CONFIG_DIR / "release.yaml"


@dataclass(frozen=True)
class ReleaseConfig:
    raw: dict[str, Any] = field(default_factory=dict)

    # --- disclosure control -------------------------------------------------------------------------------
    @property
    def threshold(self) -> int:
        return int(self.raw.get("suppression", {}).get("threshold", 5))

    @property
    def marker(self) -> str:
        return str(self.raw.get("suppression", {}).get("marker", f"<{self.threshold}"))

    @property
    def schemas(self) -> tuple[str, ...]:
        return tuple(self.raw.get("schemas", ("marts", "adam", "analysis")))

    @property
    def direct_identifier_columns(self) -> frozenset[str]:
        return frozenset(c.lower() for c in self.raw.get("direct_identifier_columns", []))

    @property
    def allowed_columns(self) -> frozenset[str]:
        return frozenset(c.lower() for c in self.raw.get("allowed_columns", []) or [])

    @property
    def cutoff_exempt_columns(self) -> frozenset[str]:
        return frozenset(c.lower() for c in self.raw.get("cutoff_exempt_columns", []) or [])

    # --- outcome presentation: the analysis plan's `publish` section (data/config/analysis_plan.yaml) ---------
    @property
    def plan(self) -> AnalysisPlan:
        from analyses.plan import load_plan

        return load_plan()

    @property
    def landmarks_months(self) -> tuple[float, ...]:
        return self.plan.published_landmark_months

    @property
    def at_risk_months(self) -> tuple[float, ...]:
        return self.plan.published_at_risk_months

    @property
    def days_per_month(self) -> float:
        return self.plan.days_per_month

    @property
    def km_endpoints(self) -> tuple[str, ...]:
        return self.plan.km_published

    @property
    def cif_endpoints(self) -> tuple[str, ...]:
        return self.plan.cif_published

    @property
    def rates(self) -> list[dict[str, str]]:
        return [
            {"endpoint": r.endpoint, "measure": r.measure, "label": r.label.en, "sheet": r.sheet}
            for r in self.plan.published_rates
        ]

    @property
    def figure_stratum_variable(self) -> str:
        return self.plan.figure_stratum_variable

    @property
    def regulatory(self) -> dict[str, Any]:
        return dict(self.raw.get("regulatory", {}))

    # --- names --------------------------------------------------------------------------------------------
    def analysis(self, key: str) -> str:
        return self.raw.get("names", {}).get("analysis", {}).get(key, key)

    def mart(self, key: str) -> str:
        return self.raw.get("names", {}).get("marts", {}).get(key, key)

    @property
    def cibmtr_sources(self) -> dict[str, str]:
        return dict(self.raw.get("names", {}).get("cibmtr_sources", {}))

    @property
    def cibmtr_filters(self) -> dict[str, str]:
        return dict(self.raw.get("names", {}).get("cibmtr_filters", {}) or {})

    @property
    def cibmtr_field_columns(self) -> dict[str, str]:
        return dict(self.raw.get("names", {}).get("cibmtr_field_columns", {}) or {})

    @property
    def cibmtr_unit_columns(self) -> dict[str, str]:
        return dict(self.raw.get("names", {}).get("cibmtr_unit_columns", {}) or {})

    @property
    def cibmtr_periods(self) -> dict[str, str]:
        return dict(self.raw.get("names", {}).get("cibmtr_periods", {}) or {})

    @property
    def row_filters(self) -> dict[str, str]:
        return dict(self.raw.get("row_filters", {}) or {})

    def aliases(self, logical: str) -> tuple[str, ...]:
        return tuple(self.raw.get("names", {}).get("column_aliases", {}).get(logical, (logical,)))

    def col(self, columns: Iterable[str], logical: str, required: bool = True) -> str | None:
        """The actual column name for a logical one (first alias present, case-insensitive)."""
        lower = {c.lower(): c for c in columns}
        for alias in self.aliases(logical):
            if alias.lower() in lower:
                return lower[alias.lower()]
        if required:
            raise KeyError(
                f"no column for {logical!r} (aliases {self.aliases(logical)}) among {sorted(lower)}; "
                f"add an alias under names.column_aliases in {RELEASE_CONFIG_FILE.name}"
            )
        return None


@lru_cache(maxsize=4)
def load_release_config(path: Path | str = RELEASE_CONFIG_FILE) -> ReleaseConfig:
    import yaml

    with open(path, encoding="utf-8") as fh:
        return ReleaseConfig(yaml.safe_load(fh) or {})
