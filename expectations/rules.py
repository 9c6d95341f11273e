"""A quality rule: one Great Expectations expectation over one frame, guarding one table (one Dagster asset).

Rules are declarative data. The frame a rule validates is `query` (SQL run on the warehouse, then handed to GX as
a pandas frame: the DuckDB SQLAlchemy route of GX fails silently, see engineering notes) or, when `query` is
None, the guarded table itself (only the columns the rule needs). Multi-table rules are a SQL query returning one
row per record with a boolean `ok` (never NULL) and the site column; the expectation then says `ok` is True for
at least (1 - max_failing_share) of the rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from expectations.config import CATEGORIES, LAYERS, SEVERITIES, SUBCATEGORIES

# GX 1.x expectation classes this package uses and how a rule's threshold reaches them.
MAP_EXPECTATIONS = {  # column-map: `mostly` = 1 - max_failing_share; nulls are not checked (except not-null)
    "ExpectColumnValuesToNotBeNull",
    "ExpectColumnValuesToBeInSet",
    "ExpectColumnValuesToBeBetween",
    "ExpectColumnValuesToMatchRegex",
}
MULTICOLUMN_EXPECTATIONS = {"ExpectCompoundColumnsToBeUnique"}  # `mostly` too; column_list


@dataclass(frozen=True)
class Rule:
    name: str  # unique, "<table>.<rule>", e.g. "adam.adsl.death_on_or_after_infusion"
    layer: str  # raw | staging | marts | adam
    table: str  # the table (asset) it guards
    category: str  # Kahn: conformance | completeness | plausibility
    subcategory: str  # Kahn subcategory (value, relational, computational, uniqueness, ...)
    severity: str  # critical (blocks downstream) | warning
    max_failing_share: float  # share of checked rows allowed to fail (0 = none)
    reason: str  # why the rule exists / why this threshold
    expectation: str  # GX class name in great_expectations.expectations
    kwargs: dict[str, Any]  # expectation kwargs, without `mostly` (derived from max_failing_share)
    query: str | None = None  # SQL of the frame; None: the table itself
    where: str | None = None  # row filter when query is None (e.g. "record_action = 'U'")
    id_columns: tuple[str, ...] = ("site_code", "record_id")  # identifiers of a failing row (never free text)
    site_column: str | None = "site_code"  # None: not per site (e.g. a schema check)
    per_site: bool = False  # threshold applies to every site, not only to all sites together
    source: str = "hand"  # "dictionary" (generated) | "hand"

    @property
    def blocking(self) -> bool:
        return self.severity == "critical"

    @property
    def check_name(self) -> str:
        """Name of the Dagster asset check (unique per table; Dagster wants [A-Za-z0-9_])."""
        return re.sub(r"[^A-Za-z0-9_]", "__", self.name[len(self.table) + 1 :])

    @property
    def reads(self) -> tuple[str, ...]:
        """Every warehouse table the rule reads (the guarded one first): for a Dagster check, the extra assets
        that must be materialized before it runs."""
        found = re.findall(r"\b((?:raw|staging|marts|adam|audit)\.[A-Za-z_][A-Za-z0-9_]*)", self.frame_sql())
        return tuple(dict.fromkeys([self.table, *found]))

    @property
    def columns(self) -> tuple[str, ...]:
        if "column" in self.kwargs:
            return (self.kwargs["column"],)
        return tuple(self.kwargs.get("column_list", ()))

    def frame_sql(self) -> str:
        """SQL of the frame this rule validates (rules with the same frame are validated together)."""
        if self.query is not None:
            return self.query.strip()
        cols = list(dict.fromkeys([*self.id_columns, *([self.site_column] if self.site_column else []), *self.columns]))
        sql = f"select {', '.join(_q(c) for c in cols)} from {self.table}"
        return sql + (f" where {self.where}" if self.where else "")

    def validate(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"{self.name}: unknown layer {self.layer!r}")
        if not self.table.startswith(self.layer + "."):
            raise ValueError(f"{self.name}: table {self.table} is not in schema {self.layer}")
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.name}: unknown Kahn category {self.category!r}")
        if self.subcategory not in SUBCATEGORIES[self.category]:
            raise ValueError(f"{self.name}: {self.subcategory!r} is not a subcategory of {self.category}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.name}: unknown severity {self.severity!r}")
        if not 0.0 <= self.max_failing_share < 1.0:
            raise ValueError(f"{self.name}: max_failing_share must be in [0, 1)")
        if self.expectation not in MAP_EXPECTATIONS | MULTICOLUMN_EXPECTATIONS:
            raise ValueError(f"{self.name}: expectation {self.expectation} is not supported by the runner")
        if "mostly" in self.kwargs:
            raise ValueError(f"{self.name}: give max_failing_share, not mostly")
        if not self.reason.strip():
            raise ValueError(f"{self.name}: every rule states its reason")


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def rule(
    table: str,
    name: str,
    *,
    category: str,
    subcategory: str,
    reason: str,
    severity: str = "critical",
    max_failing_share: float = 0.0,
    query: str | None = None,
    expectation: str | None = None,
    kwargs: dict[str, Any] | None = None,
    ok_column: str = "ok",
    where: str | None = None,
    id_columns: tuple[str, ...] = ("site_code", "record_id"),
    site_column: str | None = "site_code",
    per_site: bool = False,
    source: str = "hand",
) -> Rule:
    """The one way to write a rule: "<table>.<name>", in the layer of the table's schema. Either an `expectation`
    (GX class name, with its kwargs) on the table itself, or a `query` returning one row per checked record with a
    boolean `ok_column` (never NULL) and the site column, which the rule expects to be True."""
    if expectation is None:
        if query is None:
            raise ValueError(f"{table}.{name}: a rule needs an expectation or a query with a boolean {ok_column}")
        expectation, kwargs = "ExpectColumnValuesToBeInSet", {"column": ok_column, "value_set": [True]}
    return Rule(
        name=f"{table}.{name}",
        layer=table.split(".")[0],
        table=table,
        category=category,
        subcategory=subcategory,
        severity=severity,
        max_failing_share=max_failing_share,
        reason=reason,
        expectation=expectation,
        kwargs=kwargs or {},
        query=query,
        where=where,
        id_columns=id_columns,
        site_column=site_column,
        per_site=per_site,
        source=source,
    )
