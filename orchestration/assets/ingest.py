"""Ingest asset: site-month batches -> raw.<form> of the site forms (accepted, versioned) and the audit tables.

Thin wrapper around kocartr.ingest; the linkage returns (declared source folders) have their own asset
(orchestration/assets/linkage.py) through the same helpers. The run config names the site-month batches to ingest
(the sensor sends one batch per run, so a late batch is ingested alone); empty means every batch in the tree, which
is what `kocartr run` does. Files already in the ledger with the same SHA-256 are skipped, so re-runs change nothing.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from kocartr.dictionary import load_dictionary
from orchestration.partitions import batch_key, parse_batch_key
from orchestration.progress import ProgressLog
from orchestration.resources import RegistryConfig

AUDIT_TABLES = ("ingest_ledger", "quarantine", "file_rejects")


def raw_specs(site_forms: bool, deps: tuple[dg.AssetKey, ...] = ()) -> list[dg.AssetSpec]:
    """raw/<form> of the site forms, or of the declared sources' forms (linkage returns)."""
    return [
        dg.AssetSpec(
            ["raw", name],
            group_name="ingest",
            kinds={"duckdb"},
            deps=deps,
            description=f"Accepted rows of form '{name}' (full version history). {form.description}",
        )
        for name, form in load_dictionary().forms.items()
        if form.is_site_form == site_forms
    ]


def _specs() -> list[dg.AssetSpec]:
    return raw_specs(site_forms=True) + [
        dg.AssetSpec(["audit", t], group_name="ingest", kinds={"duckdb"}, description=f"Ingest audit table audit.{t}")
        for t in AUDIT_TABLES
    ]


def site_asset_keys() -> list[dg.AssetKey]:
    return [s.key for s in _specs()]


class IngestConfig(dg.Config):
    batches: list[str] = []  # batch keys "<YYYY-MM>_<SITE>"; empty: every batch in the tree
    through_month: str = ""  # ignore batches of later months (YYYY-MM); empty: no limit


def select_batches(available: list, wanted: list[str], through_month: str) -> list:
    """The batches a run ingests; a named batch that is not in the tree is an error, not a silent skip. Batches
    with a problem (bad folders, misplaced files) are always kept: ingest rejects their files with a reason."""
    chosen = [b for b in available if not b.ok or not through_month or b.month <= through_month]
    if wanted:
        keys = {parse_batch_key(k) for k in wanted}
        missing = keys - {(b.site, b.month) for b in chosen if b.ok}
        if missing:
            raise ValueError(f"batches not found: {sorted(batch_key(s, m) for s, m in missing)}")
        chosen = [b for b in chosen if b.ok and (b.site, b.month) in keys]
    return sorted(chosen, key=lambda b: (b.month, b.site))


def of_submitters(batches: list, sources: set[str], declared: bool) -> list:
    """The batches of the declared sources' folders (declared=True), or of every other folder: sites, and files
    outside any site or source folder (rejected with a reason by the site ingest)."""
    return [b for b in batches if (b.site in sources) == declared]


def run_ingest(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    warehouse: DuckDBResource,
    registry: RegistryConfig,
    declared: bool,
) -> tuple[list, Any]:
    """Ingest the site batches (declared=False) or the declared sources' batches (linkage returns) of the run's
    selection, through the one ingest function; returns the batches and the ingest report."""
    from kocartr.ingest import discover_batches, ingest

    root = Path(registry.submissions_dir)
    d = load_dictionary()
    sources = set(d.sources)
    try:
        available = of_submitters(discover_batches(root), sources, declared)
        batches = select_batches(available, config.batches, config.through_month)
    except ValueError as exc:
        raise dg.Failure(f"{exc} under {root}") from None
    key = registry.key()
    # Months after the one being built are recorded as deferred (audit.deferred_files), not silently left out.
    deferred = [b for b in available if b.ok and config.through_month and b.month > config.through_month]
    submitters = sorted(sources) if declared else sorted(set(d.codes("site")))
    with warehouse.get_connection() as con:
        report = ingest(
            con,
            root,
            key,
            batches,
            deferred,
            config.through_month,
            progress=ProgressLog(context.log, "files"),
            submitters=submitters,
        )
    context.log.info(report.summary())
    return batches, report


def materializations(specs: list[dg.AssetSpec], batches: list, report) -> Iterator[dg.MaterializeResult]:
    """One materialization per asset of an ingest: the batches it covered and, for raw tables, the row counts."""
    per_form = report.by_form
    ok = [b for b in batches if b.ok]  # problem batches may carry a redacted folder name, not a batch key
    for spec in specs:
        schema, table = spec.key.path
        meta: dict[str, Any] = {
            "batches": len(ok),
            "first_batch": batch_key(ok[0].site, ok[0].month) if ok else "",
            "last_batch": batch_key(ok[-1].site, ok[-1].month) if ok else "",
        }
        if schema == "raw":
            meta.update({k: dg.MetadataValue.int(v) for k, v in per_form.get(table, {}).items()})
        yield dg.MaterializeResult(asset_key=spec.key, metadata=meta)


@dg.multi_asset(name="site_submissions", specs=_specs(), can_subset=False)
def site_submissions(
    context: dg.AssetExecutionContext, config: IngestConfig, warehouse: DuckDBResource, registry: RegistryConfig
):
    batches, report = run_ingest(context, config, warehouse, registry, declared=False)
    yield from materializations(_specs(), batches, report)
