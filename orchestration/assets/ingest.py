"""Ingest asset: site-month batches -> raw.<form> (accepted, versioned) and the audit tables.

Thin wrapper around kocartr.ingest. The run config names the site-month batches to ingest (the sensor sends
one batch per run, so a late batch is ingested alone); empty means every batch in the tree, which is what
`kocartr run` does. Files already in the ledger with the same SHA-256 are skipped, so re-runs change nothing.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from kocartr.dictionary import load_dictionary
from orchestration.partitions import batch_key, parse_batch_key
from orchestration.progress import ProgressLog
from orchestration.resources import RegistryConfig

AUDIT_TABLES = ("ingest_ledger", "quarantine", "file_rejects")


def _specs() -> list[dg.AssetSpec]:
    d = load_dictionary()
    specs = [
        dg.AssetSpec(
            ["raw", name],
            group_name="ingest",
            kinds={"duckdb"},
            description=f"Accepted rows of form '{name}' (full version history). {form.description}",
        )
        for name, form in d.forms.items()
    ]
    specs += [
        dg.AssetSpec(["audit", t], group_name="ingest", kinds={"duckdb"}, description=f"Ingest audit table audit.{t}")
        for t in AUDIT_TABLES
    ]
    return specs


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


@dg.multi_asset(name="site_submissions", specs=_specs(), can_subset=False)
def site_submissions(
    context: dg.AssetExecutionContext, config: IngestConfig, warehouse: DuckDBResource, registry: RegistryConfig
):
    from kocartr.ingest import discover_batches, ingest

    root = Path(registry.submissions_dir)
    try:
        available = discover_batches(root)
        batches = select_batches(available, config.batches, config.through_month)
    except ValueError as exc:
        raise dg.Failure(f"{exc} under {root}") from None
    key = registry.key()
    # Months after the one being built are recorded as deferred (audit.deferred_files), not silently left out.
    deferred = [b for b in available if b.ok and config.through_month and b.month > config.through_month]
    with warehouse.get_connection() as con:
        report = ingest(
            con, root, key, batches, deferred, config.through_month, progress=ProgressLog(context.log, "files")
        )
    context.log.info(report.summary())
    per_form = report.by_form
    for spec in _specs():
        schema, table = spec.key.path
        ok = [b for b in batches if b.ok]  # problem batches may carry a redacted folder name, not a batch key
        meta: dict[str, Any] = {
            "batches": len(ok),
            "first_batch": batch_key(ok[0].site, ok[0].month) if ok else "",
            "last_batch": batch_key(ok[-1].site, ok[-1].month) if ok else "",
        }
        if schema == "raw":
            meta.update({k: dg.MetadataValue.int(v) for k, v in per_form.get(table, {}).items()})
        yield dg.MaterializeResult(asset_key=spec.key, metadata=meta)
