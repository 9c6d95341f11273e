"""Linkage asset: the national linkage returns (<root>/LINKAGE/<YYYY-MM>/<form>.csv, declared source folders) ->
raw.linkage_* through the same ingest as the site submissions (ledger, validation, quarantine, versioning).

Its own asset so that its gate (orchestration/checks.py `linkage_quality_gate`: a completeness date per national
source, not after the return's month; every row keyed to a registered patient; one current version per record) is
seen and blocks on its own. It runs after the site submissions: a linkage row whose patient key is not a
registered patient is quarantined (`unregistered_patient`), so the registrations must be in first.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.assets.ingest import IngestConfig, materializations, raw_specs, run_ingest
from orchestration.resources import RegistryConfig

REGISTRATION = dg.AssetKey(["raw", "registration"])


def linkage_specs() -> list[dg.AssetSpec]:
    return raw_specs(site_forms=False, deps=(REGISTRATION,))


def linkage_asset_keys() -> list[dg.AssetKey]:
    return [s.key for s in linkage_specs()]


@dg.multi_asset(name="linkage_returns", specs=linkage_specs(), can_subset=False)
def linkage_returns(
    context: dg.AssetExecutionContext, config: IngestConfig, warehouse: DuckDBResource, registry: RegistryConfig
):
    batches, report = run_ingest(context, config, warehouse, registry, declared=True)
    yield from materializations(linkage_specs(), batches, report)
