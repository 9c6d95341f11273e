"""Run the suites with Great Expectations and say, per check, what passed, what failed and where.

Frames come from DuckDB as Arrow; GX validates a pandas frame of their checked columns (never GX's DuckDB
SQLAlchemy route, which fails silently) with `Batch.validate(ExpectationSuite)` on a pandas batch definition of an
ephemeral GX context built once per process: one frame per table, its frames side by side (expectations/frames.py),
the rules allowed no failing row asking GX for their verdict only, on the distinct values of their columns where
that is the same verdict, unless they fail (`_validate_group`). Failing rows
come back as positions; their identifiers are read from the Arrow frame. An exception inside GX
(exception_info.raised_exception) or a failing frame query (e.g. a table that does not exist yet) makes the check
an ERROR (CheckOutcome.error set, passed False), never bad data.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from expectations.config import ALL_SITES, FAILING_SAMPLE_SIZE, site_failure_blocks
from expectations.frames import GxFrame, Member, id_columns, id_frame, layout, present, site_codes, split
from expectations.rules import MAP_EXPECTATIONS, MULTICOLUMN_EXPECTATIONS, Rule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiteCount:
    site_code: str
    rows_checked: int
    rows_failing: int

    @property
    def failing_share(self) -> float:
        return self.rows_failing / self.rows_checked if self.rows_checked else 0.0


@dataclass
class CheckOutcome:
    name: str
    layer: str
    table: str
    category: str
    subcategory: str
    severity: str
    blocking: bool  # severity == critical: a failure (or an error) stops downstream assets
    passed: bool
    rows_checked: int
    rows_failing: int
    failing_share: float
    threshold: float  # max_failing_share
    by_site: list[SiteCount]
    failing_records: list[dict[str, Any]]  # sample of identifiers (site_code, record_id / USUBJID...), no free text
    error: str | None  # set when the check could not run (GX raised, query failed): passed is False
    run_id: str = ""
    reason: str = ""
    per_site: bool = False
    failing_keys: list[dict[str, Any]] = field(default_factory=list, repr=False)  # all failing identifiers

    @property
    def status(self) -> str:
        return "ERROR" if self.error else ("PASSED" if self.passed else "FAILED")

    @property
    def failing_sites(self) -> list[str]:
        return [s.site_code for s in self.by_site if s.rows_failing]

    @property
    def sites_over_threshold(self) -> list[SiteCount]:
        """Sites whose own failing share exceeds the rule's threshold: a failure for that site, whatever the
        overall verdict."""
        if self.error:
            return []
        return [s for s in self.by_site if s.failing_share > self.threshold + 1e-12]

    def describe(self) -> str:
        if self.error:
            return f"{self.name} [{self.severity}] ERROR: {self.error}"
        sites = ", ".join(f"{s.site_code} {s.rows_failing}/{s.rows_checked}" for s in self.by_site if s.rows_failing)
        over = ", ".join(f"{s.site_code} ({s.failing_share:.1%})" for s in self.sites_over_threshold)
        return (
            f"{self.name} [{self.severity}] {self.status}: {self.rows_failing}/{self.rows_checked} rows failing "
            f"({self.failing_share:.1%}, allowed {self.threshold:.1%})"
            + (f"; sites: {sites}" if sites else "")
            + (f"; FAILED at site {over}" if over else "")
        )

    def as_metadata(self) -> dict[str, Any]:
        """Plain JSON-able values for a Dagster AssetCheckResult's metadata."""
        return {
            "layer": self.layer,
            "table": self.table,
            "category": self.category,
            "subcategory": self.subcategory,
            "severity": self.severity,
            "status": self.status,
            "rows_checked": self.rows_checked,
            "rows_failing": self.rows_failing,
            "failing_share": round(self.failing_share, 6),
            "threshold": self.threshold,
            "failing_sites": ", ".join(self.failing_sites),
            "sites_failed": ", ".join(s.site_code for s in self.sites_over_threshold),
            "site_verdicts": {
                s.site_code: {
                    "rows_checked": s.rows_checked,
                    "rows_failing": s.rows_failing,
                    "failing_share": round(s.failing_share, 6),
                    "passed": s.failing_share <= self.threshold + 1e-12,
                }
                for s in self.by_site
            },
            "failing_records_sample": [dict(r) for r in self.failing_records],
            "reason": self.reason,
            "error": self.error or "",
        }


class QualityGateFailed(RuntimeError):
    """A critical check failed or errored: the assets downstream must not be materialized."""

    def __init__(self, outcomes: Sequence[CheckOutcome]):
        self.outcomes = list(outcomes)
        super().__init__("quality gate closed by " + "; ".join(o.describe() for o in self.outcomes))


# ----------------------------------------------------------------------------------------------- GX, once per process
_GX_LOCK = threading.RLock()
_GX: dict[str, Any] = {}


def _gx() -> dict[str, Any]:
    """Import GX and build one ephemeral context, pandas data source and batch definition (cached)."""
    with _GX_LOCK:
        if not _GX:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            import great_expectations as gx
            import great_expectations.expectations as gxe
            from great_expectations.data_context.types.base import ProgressBarsConfig

            try:  # GX fingerprints (hashes) every pandas batch under 1 GB: ~40% of a large suite's time, and the
                # fingerprint is only a batch marker we never read. Skip it (module constant of GX 1.x).
                from great_expectations.execution_engine import pandas_execution_engine as _pee

                if hasattr(_pee, "HASH_THRESHOLD"):
                    _pee.HASH_THRESHOLD = 0
            except ImportError:  # pragma: no cover - a GX layout without it simply keeps hashing
                pass
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            source = context.data_sources.add_pandas(name="kocartr_dq")
            asset = source.add_dataframe_asset(name="frame")
            batch_definition = asset.add_batch_definition_whole_dataframe("whole_frame")
            _GX.update(gx=gx, gxe=gxe, context=context, batch_definition=batch_definition)
        return _GX


def _expectation(rule: Rule):
    gxe = _gx()["gxe"]
    mostly = round(1.0 - rule.max_failing_share, 12)
    kwargs = dict(rule.kwargs)
    if rule.expectation == "ExpectCompoundColumnsToBeUnique" and len(kwargs["column_list"]) == 1:
        # GX wants >= 2 columns for the compound form: a single key is a column-map uniqueness
        return gxe.ExpectColumnValuesToBeUnique(
            column=kwargs["column_list"][0], mostly=mostly, meta={"rule": rule.name}
        )
    return getattr(gxe, rule.expectation)(**kwargs, mostly=mostly, meta={"rule": rule.name})


def _exception_message(info: Any) -> str | None:
    """exception_info is either one {raised_exception, exception_message, ...} or a dict of those per metric."""
    if not info:
        return None
    if isinstance(info, dict) and "raised_exception" in info:
        return (info.get("exception_message") or "exception in GX") if info.get("raised_exception") else None
    if isinstance(info, dict):
        msgs = [m for m in (_exception_message(v) for v in info.values()) if m]
        return "; ".join(dict.fromkeys(msgs)) or None
    return None


def _py(v: Any) -> Any:
    """numpy / pandas scalars -> plain Python (NA -> None, dates -> ISO strings)."""
    import pandas as pd

    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item"):
        try:
            return v.item()
        except (ValueError, AttributeError):
            pass
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def _site(v: Any) -> str:
    v = _py(v)
    return "<NULL>" if v is None else str(v)


def _error_outcome(rule: Rule, run_id: str, error: str) -> CheckOutcome:
    return CheckOutcome(
        name=rule.name,
        layer=rule.layer,
        table=rule.table,
        category=rule.category,
        subcategory=rule.subcategory,
        severity=rule.severity,
        blocking=rule.blocking,
        passed=False,
        rows_checked=0,
        rows_failing=0,
        failing_share=0.0,
        threshold=rule.max_failing_share,
        by_site=[],
        failing_records=[],
        error=error,
        run_id=run_id,
        reason=rule.reason,
        per_site=rule.per_site,
    )


def _checked_mask(rule: Rule, member: Member):
    """Rows of `member` the expectation evaluates: GX column-map expectations skip NULLs (NA in pandas), except the
    not-null one. None: all rows."""
    if rule.expectation == "ExpectColumnValuesToNotBeNull" or rule.expectation in MULTICOLUMN_EXPECTATIONS:
        return None
    return present(member.values.column(rule.kwargs["column"]))


def _by_site(rule: Rule, member: Member, mask, failing_sites: list[Any]) -> list[SiteCount]:
    """Per site (sorted), rows checked and rows failing: identifiers are read from `member`, never from GX."""
    import numpy as np

    if not rule.site_column:
        return []
    codes, values = site_codes(member, rule.site_column)
    counts = np.bincount(codes, minlength=len(values))  # all rows, less the few NULL rows the rule skips
    if mask is not None and not mask.all():
        counts = counts - np.bincount(codes[~mask], minlength=len(values))
    site_checked: Counter[str] = Counter()
    for site, n in zip(values, counts.tolist(), strict=True):
        if n:
            site_checked[_site(site)] += int(n)
    site_failing = Counter(_site(v) for v in failing_sites)
    return [SiteCount(site, site_checked[site], int(site_failing.get(site, 0))) for site in sorted(site_checked)]


def _outcome(rule: Rule, run_id: str, member: Member, result) -> CheckOutcome:
    """The outcome of `rule`, validated on `member`'s rows (the first rows of its group's frame)."""
    err = _exception_message(result.exception_info)
    if err:
        return _error_outcome(rule, run_id, f"GX raised while validating: {err}")
    res = result.result or {}
    mask = _checked_mask(rule, member)
    rows_checked = member.n if mask is None else int(mask.sum())
    positions = res.get("unexpected_index_list")
    rows_failing = int(res.get("unexpected_count") or 0)
    if positions is None:
        if rows_failing:
            return _error_outcome(rule, run_id, "GX reported failing rows without their identifiers")
        positions = []
    failing = id_frame(member, id_columns([rule]), [int(p) for p in positions])
    keys = [dict(zip(rule.id_columns, (_py(v) for v in row), strict=True)) for row in _rows(failing, rule.id_columns)]
    failing_sites = failing[rule.site_column].tolist() if rule.site_column else []
    by_site = _by_site(rule, member, mask, failing_sites)
    share = rows_failing / rows_checked if rows_checked else 0.0
    passed = bool(result.success)
    if site_failure_blocks(rule.name, rule.per_site) and by_site:
        passed = passed and all(s.failing_share <= rule.max_failing_share + 1e-12 for s in by_site)
    return CheckOutcome(
        name=rule.name,
        layer=rule.layer,
        table=rule.table,
        category=rule.category,
        subcategory=rule.subcategory,
        severity=rule.severity,
        blocking=rule.blocking,
        passed=passed,
        rows_checked=rows_checked,
        rows_failing=rows_failing,
        failing_share=share,
        threshold=rule.max_failing_share,
        by_site=by_site,
        failing_records=keys[:FAILING_SAMPLE_SIZE],
        error=None,
        run_id=run_id,
        reason=rule.reason,
        per_site=rule.per_site,
        failing_keys=keys,
    )


def _rows(frame, columns: Sequence[str]) -> Iterable[tuple]:
    """Rows of `frame`'s `columns` as tuples of the frame's own scalars (what GX's index rows held)."""
    return zip(*(frame[c].to_numpy(dtype=object) for c in columns), strict=True) if columns else ((),) * len(frame)


# GX's cost is per expectation (~7 ms of pure Python building its metric graph under COMPLETE, about half under
# BOOLEAN_ONLY) and, on large frames, per row (pandas passes and copies at each metric). A rule allowed no failing
# row (mostly = 1.0) passes exactly when no row fails, so a first pass asks GX only for its verdict (BOOLEAN_ONLY),
# for the column-map rules on the distinct values of their columns (GxFrame.distinct: a handful of rows whatever
# the table's size); only the rules that failed (or raised) run again with COMPLETE on every row for the failing
# positions, and most rules pass. A rule with a threshold runs with COMPLETE at once: its verdict does not say
# whether some rows failed, and such rules often have a few (completeness warnings). The pandas frame of every row
# is built only when some rule needs it; when it is, the distinct values pay only on long frames (DISTINCT_ROWS).
_COMPLETE = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
# Where other rules need the frame of every row anyway, GX's verdict over a frame this short costs less than building
# the distinct one (measured on the staging gate at 100k: ~0.1 s more over its 17 tables).
DISTINCT_ROWS = 250_000
_VERDICT = {"result_format": "BOOLEAN_ONLY"}


def _verdict_first(rule: Rule) -> bool:
    return rule.max_failing_share == 0


def _on_distinct(rule: Rule) -> bool:
    """A verdict-first rule whose verdict depends only on the set of its column's values (not on counts)."""
    return _verdict_first(rule) and rule.expectation in MAP_EXPECTATIONS


def _settled(result: Any) -> bool:
    """A verdict-only result that is already the final one: passed with no exception, so no row failed."""
    return bool(result.success) and not _exception_message(result.exception_info)


def _suite_results(frame: Callable[[], Any], expectations: list[Any], result_format: dict[str, Any]) -> dict[str, Any]:
    """Validate `expectations` on the pandas frame `frame()` in one GX suite run: result per rule name (expectation
    meta "rule"). The frame is asked for only when there is something to validate."""
    if not expectations:
        return {}
    g = _gx()
    df = frame()
    # Batch.validate(ExpectationSuite) (GX 1.x public API) runs the same validator as ValidationDefinition.run
    # without the store round trips of registering a suite and a validation definition per frame.
    suite = g["gx"].ExpectationSuite(name=f"kocartr-dq-{uuid.uuid4().hex[:12]}")
    for expectation in expectations:
        suite.add_expectation(expectation)
    with _GX_LOCK:  # failing rows come back as positions in the frame (its RangeIndex): no identifier columns
        batch = g["batch_definition"].get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(suite, result_format=result_format)
    return {r.expectation_config.meta.get("rule"): r for r in result.results}


def _distinct_or_full(frame: GxFrame, names: list[str]):
    """The distinct-values frame, or every row where Arrow has no distinct kernel for a column (lists, structs)."""
    import pyarrow as pa

    try:
        return frame.distinct(names)
    except pa.ArrowNotImplementedError:
        return frame.full()


def _validate_group(group: list[Member], run_id: str) -> list[CheckOutcome]:
    """Validate the frames of `group` (one table's) side by side: COMPLETE for the rules with a threshold, the
    verdict alone for the others (on distinct values where that is the same verdict), then COMPLETE for those of
    them that failed or raised. Every COMPLETE pass runs on the one frame of every row."""
    frame = GxFrame(group)
    built, out_err = [], {}
    for j, m in enumerate(group):
        for rule, gx_rule in zip(m.rules, frame.renamed[j], strict=True):  # a rule GX rejects errors alone
            try:
                built.append((rule, gx_rule, j, _expectation(gx_rule)))
            except Exception as exc:  # noqa: BLE001
                msg = f"GX rejected the expectation: {type(exc).__name__}: {str(exc).splitlines()[0]}"
                out_err[rule.name] = _error_outcome(rule, run_id, msg)
    needs_full = any(not _on_distinct(r) for r, _, _, _ in built)
    distinct = [
        (r, g, e) for r, g, _, e in built if _on_distinct(r) and (not needs_full or frame.length >= DISTINCT_ROWS)
    ]
    by_rule = _suite_results(frame.full, [e for r, _, _, e in built if not _verdict_first(r)], _COMPLETE)
    names = [c for _, g, _ in distinct for c in g.columns]
    verdicts = _suite_results(lambda: _distinct_or_full(frame, names), [e for _, _, e in distinct], _VERDICT)
    on_distinct = {r.name for r, _, _ in distinct}
    verdicts.update(
        _suite_results(
            frame.full, [e for r, _, _, e in built if _verdict_first(r) and r.name not in on_distinct], _VERDICT
        )
    )
    by_rule.update({name: result for name, result in verdicts.items() if _settled(result)})
    again = [g for r, g, _, _ in built if r.name in verdicts and r.name not in by_rule]
    by_rule.update(_suite_results(frame.full, [_expectation(g) for g in again], _COMPLETE))
    out = []
    for rule, _, j, _ in built:
        if rule.name not in by_rule:
            out.append(_error_outcome(rule, run_id, "GX returned no result for this expectation"))
        else:
            out.append(_outcome(rule, run_id, group[j], by_rule[rule.name]))
    return out + list(out_err.values())


def run_rules(con, rules: Iterable[Rule], run_id: str) -> list[CheckOutcome]:
    """Run `rules` on the warehouse connection `con` (DuckDB): one frame query per distinct frame, and one GX frame
    per table where its frames can share one (expectations.frames.layout)."""
    groups: dict[tuple, list[Rule]] = {}
    for rule in rules:  # one frame per query; table rules share one frame per (table, filter)
        key = ("query", rule.frame_sql()) if rule.query is not None else ("table", rule.table, rule.where or "")
        groups.setdefault(key, []).append(rule)
    outcomes: dict[str, CheckOutcome] = {}
    by_table: dict[str, list[Member]] = {}
    for key, group in groups.items():
        sql = key[1] if key[0] == "query" else _table_frame_sql(group)
        try:
            table = con.sql(sql).to_arrow_table()
        except Exception as exc:  # noqa: BLE001 - a missing table or column is an error of the check
            msg = f"frame query failed on {group[0].table}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
            for rule in group:
                outcomes[rule.name] = _error_outcome(rule, run_id, msg)
            continue
        try:
            by_table.setdefault(group[0].table, []).append(split(table, group))
        except (ValueError, KeyError) as exc:  # the frame is unusable (NULL ok, identifiers missing)
            log.exception("quality check run failed")
            for rule in group:
                outcomes[rule.name] = _error_outcome(rule, run_id, f"{type(exc).__name__}: {exc}")
    for members in by_table.values():
        for frames in layout(members):
            try:
                for o in _validate_group(frames, run_id):
                    outcomes[o.name] = o
            except Exception as exc:  # noqa: BLE001 - GX itself failed: error of the check, never bad data
                log.exception("quality check run failed")
                for rule in (r for m in frames for r in m.rules):
                    outcomes[rule.name] = _error_outcome(rule, run_id, f"{type(exc).__name__}: {exc}")
    return [outcomes[r.name] for g in groups.values() for r in g]


def _table_frame_sql(rules: Sequence[Rule]) -> str:
    """One frame for all rules reading the same table with the same filter: the union of their columns."""
    cols: list[str] = []
    for r in rules:
        cols.extend([*r.id_columns, *([r.site_column] if r.site_column else []), *r.columns])
    cols = list(dict.fromkeys(cols))
    sql = f"select {', '.join(chr(34) + c.replace(chr(34), chr(34) * 2) + chr(34) for c in cols)} from {rules[0].table}"
    return sql + (f" where {rules[0].where}" if rules[0].where else "")


def run_checks(con, table: str, run_id: str) -> list[CheckOutcome]:
    """Every check guarding `table` (e.g. 'raw.lab', 'staging.stg_crs', 'marts.fct_infusion', 'adam.adtte')."""
    from expectations.suites import rules_for_table

    rules = rules_for_table(table)
    if not rules:
        raise KeyError(f"no quality checks guard {table!r}")
    return run_rules(con, rules, run_id)


def run_layer(con, layer: str, run_id: str) -> list[CheckOutcome]:
    """Every check of a layer (raw | staging | marts | adam)."""
    from expectations.suites import rules_for_layer

    return run_rules(con, rules_for_layer(layer), run_id)


def blocking_failures(outcomes: Iterable[CheckOutcome]) -> list[CheckOutcome]:
    """Critical checks that failed or errored: these stop the downstream assets."""
    return [o for o in outcomes if o.blocking and not o.passed]


def gate(outcomes: Iterable[CheckOutcome]) -> None:
    """Raise QualityGateFailed naming every failing (or erroring) critical check and its sites."""
    bad = blocking_failures(outcomes)
    if bad:
        raise QualityGateFailed(bad)


__all__ = [
    "CheckOutcome",
    "SiteCount",
    "QualityGateFailed",
    "run_checks",
    "run_layer",
    "run_rules",
    "blocking_failures",
    "gate",
    "ALL_SITES",
]
