"""Ingest asset: site-month batches -> raw.<form> (accepted, versioned) and the audit tables.

Thin wrapper around kocartr.ingest. Partitioned per site-month batch so one late batch is ingested alone;
a single run can also take a range of batches (single-run backfill), which is how `kocartr run` ingests a tree.
"""


from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from kocartr.dictionary import load_dictionary
from orchestration.partitions import parse_batch_key, site_month_batches
from orchestration.resources import RegistryPaths

AUDIT_TABLES = ("ingest_ledger", "quarantine", "file_rejects")


def raw_asset_keys() -> list[dg.AssetKey]:
    return [dg.AssetKey(["raw", form]) for form in load_dictionary().forms]


def _specs() -> list[dg.AssetSpec]:
    d = load_dictionary()
    specs = [
        dg.AssetSpec(["raw", name], group_name="ingest", kinds={"duckdb"},
                     description=f"Accepted rows of form '{name}' (full version history). {form.description}")
        for name, form in d.forms.items()
    ]
    specs += [
        dg.AssetSpec(["audit", t], group_name="ingest", kinds={"duckdb"},
                     description=f"Ingest audit table audit.{t}")
        for t in AUDIT_TABLES
    ]
    return specs


@dg.multi_asset(
    name="site_submissions",
    specs=_specs(),
    partitions_def=site_month_batches,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=False,
)
def site_submissions(context: dg.AssetExecutionContext, warehouse: DuckDBResource, paths: RegistryPaths):
    from kocartr.ingest import discover_batches, ingest, load_key

    root = Path(paths.submissions_dir)
    wanted = {parse_batch_key(k) for k in context.partition_keys}
    batches = [b for b in discover_batches(root) if (b.site, b.month) in wanted]
    missing = wanted - {(b.site, b.month) for b in batches}
    if missing:
        raise dg.Failure(f"batches not found under {root}: {sorted(missing)}")
    key = load_key()
    with warehouse.get_connection() as con:
        report = ingest(con, root, key, batches)
    context.log.info(report.summary())
    per_form = report.by_form
    for spec in _specs():
        schema, table = spec.key.path
        meta = {"batches": len(batches)}
        if schema == "raw":
            meta.update({k: dg.MetadataValue.int(v) for k, v in per_form.get(table, {}).items()})
        yield dg.MaterializeResult(asset_key=spec.key, metadata=meta)
