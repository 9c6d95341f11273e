"""The analysis plan (data/config/analysis_plan.yaml), typed: endpoints, populations, strata, landmarks, month
length, CI methods, display names (English / Korean, late-effect endpoints included) and product colours.

Every consumer (analyses/outcomes.py, the release's workbook, figures and report, `kocartr analyze`) reads these
values here; none types a landmark or a month length of its own (tests/analyses/test_plan.py checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from kocartr.paths import CONFIG_DIR

PLAN_FILE: Path = CONFIG_DIR / "analysis_plan.yaml"
Estimator = Literal["KM", "CIF"]


class PlanError(ValueError):
    """The analysis plan is inconsistent (one line naming the file and the entry)."""


MISSING: str = "(missing)"  # the analysis tables' label of a missing stratum level (analyses, the release)


@dataclass(frozen=True)
class Label:
    en: str
    ko: str

    def both(self) -> str:
        """'English / 한국어' for bilingual headers."""
        return self.en if not self.ko or self.ko == self.en else f"{self.en} / {self.ko}"


@dataclass(frozen=True)
class Endpoint:
    code: str
    estimator: Estimator
    population: str
    label: Label
    competing: str | None = None
    landmark_days: tuple[float, ...] | None = None  # own landmarks in days (else the plan's months)
    rate: bool = False


@dataclass(frozen=True)
class PublishedRate:
    endpoint: str
    measure: str
    sheet: str
    label: Label


@dataclass(frozen=True)
class PooledVariable:
    """One stratifier recoded for publication: its pooled category (code and names) and the values always pooled."""

    variable: str
    code: str
    label: Label
    pool: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublicationRecoding:
    """Table redesign before cell suppression (analysis_plan.yaml `publication_recoding`; analyses/recoding.py)."""

    min_stratum_size: int
    nested: tuple[str, str]  # (row variable, column variable) of the cross table
    variables: dict[str, PooledVariable]


@dataclass(frozen=True)
class ReportRates:
    """One rate table of the report: which proportions it shows and by which strata."""

    table: str
    endpoints: tuple[str, ...]
    measures: tuple[str, ...]
    strata: tuple[str, ...]


@dataclass(frozen=True)
class AnalysisPlan:
    days_per_month: float
    days_per_year: float
    landmark_months: tuple[float, ...]
    risk_table_months: tuple[float, ...]
    conf_level: float
    ci_methods: dict[str, str]
    populations: dict[str, dict[str, str]]
    strata: dict[str, Label]
    endpoints: dict[str, Endpoint]
    toxicities: dict[str, Label]
    response_windows: tuple[str, ...]
    published_landmark_months: tuple[float, ...]
    published_at_risk_months: tuple[float, ...]
    km_published: tuple[str, ...]
    cif_published: tuple[str, ...]
    figure_stratum_variable: str
    published_rates: tuple[PublishedRate, ...]
    product_colours: dict[str, str] = field(default_factory=dict)
    fallback_colours: tuple[str, ...] = ()
    late_effects: dict[str, Label] = field(default_factory=dict)  # display names of late-effect endpoint codes
    late_effect_details: dict[str, Label] = field(default_factory=dict)  # Detail column phrases and codes
    recoding: PublicationRecoding | None = None
    report_rates: tuple[ReportRates, ...] = ()

    # --- derived views ------------------------------------------------------------------------------------
    @property
    def stratifiers(self) -> tuple[str, ...]:
        return tuple(self.strata)

    def km_endpoints(self) -> tuple[str, ...]:
        return tuple(c for c, e in self.endpoints.items() if e.estimator == "KM")

    def cif_endpoints(self) -> dict[str, str]:
        """{endpoint: competing event} of the CIF endpoints, in plan order."""
        return {c: str(e.competing) for c, e in self.endpoints.items() if e.estimator == "CIF"}

    def cif_landmark_days(self) -> dict[str, tuple[float, ...]]:
        return {c: e.landmark_days for c, e in self.endpoints.items() if e.landmark_days}

    def rate_endpoints(self) -> tuple[str, ...]:
        return tuple(c for c, e in self.endpoints.items() if e.rate)

    def landmark_days(self, endpoint: str) -> tuple[float, ...]:
        """Landmark times of an endpoint in days: its own, else the plan's months x month length."""
        e = self.endpoints.get(endpoint)
        if e is not None and e.landmark_days:
            return e.landmark_days
        return tuple(m * self.days_per_month for m in self.landmark_months)

    def has_label(self, code: str) -> bool:
        return any(code in d for d in (self.endpoints, self.toxicities, self.strata, self.late_effects))

    def label(self, code: str) -> Label:
        """Display name of an endpoint, toxicity, late-effect endpoint or stratifier (the code itself when the plan
        has none)."""
        if code in self.endpoints:
            return self.endpoints[code].label
        return self.toxicities.get(code) or self.late_effects.get(code) or self.strata.get(code) or Label(code, code)

    def colours(self, codes: list[str]) -> dict[str, str]:
        """One fixed colour per product; other strata get the fallback palette in sorted order."""
        out = {c: self.product_colours[c] for c in codes if c in self.product_colours}
        rest = sorted(c for c in set(codes) if c not in out)
        pal = self.fallback_colours or ("#7f7f7f",)
        out.update({c: pal[i % len(pal)] for i, c in enumerate(rest)})
        return out


def _num(x: Any) -> float:
    """A time from the YAML; whole numbers stay int so that labels read '12-month', not '12.0-month'."""
    f = float(x)
    return int(f) if f.is_integer() else f


def _label(d: dict[str, Any], where: str) -> Label:
    if not d.get("en"):
        raise PlanError(f"{PLAN_FILE.name}: {where} has no English display name (en)")
    return Label(str(d["en"]), str(d.get("ko") or d["en"]))


def _endpoint(code: str, d: dict[str, Any], populations: dict[str, Any]) -> Endpoint:
    est = d.get("estimator")
    if est not in ("KM", "CIF"):
        raise PlanError(f"{PLAN_FILE.name}: endpoint {code}: estimator must be KM or CIF, not {est!r}")
    if est == "CIF" and not d.get("competing"):
        raise PlanError(f"{PLAN_FILE.name}: endpoint {code}: a CIF endpoint needs its competing event")
    if d.get("population") not in populations:
        raise PlanError(f"{PLAN_FILE.name}: endpoint {code}: unknown population {d.get('population')!r}")
    lm = d.get("landmark_days")
    return Endpoint(
        code=code,
        estimator=est,
        population=str(d["population"]),
        label=_label(d, f"endpoint {code}"),
        competing=d.get("competing"),
        landmark_days=tuple(_num(x) for x in lm) if lm else None,
        rate=bool(d.get("rate", False)),
    )


def _recoding(raw: dict[str, Any] | None, strata: dict[str, Label]) -> PublicationRecoding | None:
    if not raw:
        return None
    where = f"{PLAN_FILE.name}: publication_recoding"
    variables = {}
    for var, d in (raw.get("variables") or {}).items():
        if var not in strata:
            raise PlanError(f"{where}: {var} is not a stratum of the plan")
        pooled = d.get("pooled") or {}
        if not pooled.get("code"):
            raise PlanError(f"{where}: {var} needs a pooled category code")
        variables[var] = PooledVariable(
            var, str(pooled["code"]), _label(pooled, f"{where} {var}"), tuple(str(x) for x in d.get("pool") or ())
        )
    nested = tuple(raw.get("nested") or ())
    if len(nested) != 2 or not set(nested) <= set(variables):
        raise PlanError(f"{where}: nested must name two of the recoded variables, not {list(nested)}")
    size = int(raw.get("min_stratum_size", 0))
    if size < 1:
        raise PlanError(f"{where}: min_stratum_size must be a positive number of patients")
    return PublicationRecoding(size, (str(nested[0]), str(nested[1])), variables)


def _report_rates(raw: list[dict[str, Any]] | None) -> tuple[ReportRates, ...]:
    return tuple(
        ReportRates(str(r["table"]), tuple(r["endpoints"]), tuple(r["measures"]), tuple(r["strata"])) for r in raw or ()
    )


def _subset(name: str, part: tuple[Any, ...], whole: tuple[Any, ...]) -> None:
    extra = [x for x in part if x not in whole]
    if extra:
        raise PlanError(f"{PLAN_FILE.name}: publish.{name} {extra} not among the computed ones {list(whole)}")


def parse_plan(raw: dict[str, Any]) -> AnalysisPlan:
    """Typed, checked plan from the YAML mapping."""
    pops = dict(raw["populations"])
    endpoints = {c: _endpoint(c, d, pops) for c, d in raw["endpoints"].items()}
    pub = raw["publish"]
    landmarks = tuple(_num(x) for x in raw["landmarks_months"])
    risk = tuple(_num(x) for x in raw["risk_table_months"])
    strata = {k: _label(v, f"stratum {k}") for k, v in raw["strata"].items()}
    plan = AnalysisPlan(
        days_per_month=float(raw["time"]["days_per_month"]),
        days_per_year=float(raw["time"]["days_per_year"]),
        landmark_months=landmarks,
        risk_table_months=risk,
        conf_level=float(raw["confidence"]["level"]),
        ci_methods=dict(raw["confidence"]["methods"]),
        populations=pops,
        strata=strata,
        endpoints=endpoints,
        toxicities={k: _label(v, f"toxicity {k}") for k, v in raw["toxicities"].items()},
        response_windows=tuple(raw["response_windows"]),
        published_landmark_months=tuple(_num(x) for x in pub["landmarks_months"]),
        published_at_risk_months=tuple(_num(x) for x in pub["at_risk_months"]),
        km_published=tuple(pub["km_endpoints"]),
        cif_published=tuple(pub["cif_endpoints"]),
        figure_stratum_variable=str(pub["figure_stratum_variable"]),
        published_rates=tuple(
            PublishedRate(str(r["endpoint"]), str(r["measure"]), str(r["sheet"]), _label(r, f"rate {r['endpoint']}"))
            for r in pub["rates"]
        ),
        product_colours={str(k): str(v) for k, v in (raw.get("product_colours") or {}).items()},
        fallback_colours=tuple(raw.get("fallback_colours") or ()),
        late_effects={k: _label(v, f"late effect {k}") for k, v in (raw.get("late_effect_labels") or {}).items()},
        late_effect_details={
            k: _label(v, f"late effect detail {k}") for k, v in (raw.get("late_effect_details") or {}).items()
        },
        recoding=_recoding(raw.get("publication_recoding"), strata),
        report_rates=_report_rates(pub.get("report_rates")),
    )
    _subset("landmarks_months", plan.published_landmark_months, landmarks)
    _subset("at_risk_months", plan.published_at_risk_months, risk)
    _subset("km_endpoints", plan.km_published, plan.km_endpoints())
    _subset("cif_endpoints", plan.cif_published, tuple(plan.cif_endpoints()))
    _subset("figure_stratum_variable", (plan.figure_stratum_variable,), plan.stratifiers)
    return plan


@lru_cache(maxsize=4)
def load_plan(path: Path | str = PLAN_FILE) -> AnalysisPlan:
    import yaml

    with open(path, encoding="utf-8") as fh:
        return parse_plan(yaml.safe_load(fh) or {})
