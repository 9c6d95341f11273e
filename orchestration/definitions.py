"""The Dagster code location: `dagster dev -m orchestration.definitions` (see `make ui`).

`build_definitions(resources)` is the one wiring of assets, checks, jobs, schedule and sensors; `kocartr run` calls
it with the resources it built from its arguments, and `defs` below is the same wiring with the configuration read
once from environment variables (orchestration.resources.config_from_env), which is what the UI, the schedule and
the sensor run with.
"""

from __future__ import annotations

import dagster as dg

from orchestration.dbt_cli import ensure_manifest

ensure_manifest()  # dbt parse only when the project changed; the dbt assets below read the manifest

from orchestration.assets.analyses import outcome_analyses  # noqa: E402
from orchestration.assets.feedback import dq_scorecard, site_queries, site_query_workbooks  # noqa: E402
from orchestration.assets.ingest import site_submissions  # noqa: E402
from orchestration.assets.linkage import linkage_returns  # noqa: E402
from orchestration.assets.release import monthly_release  # noqa: E402
from orchestration.assets.warehouse import dbt_layer_assets  # noqa: E402
from orchestration.checks import quality_gates  # noqa: E402
from orchestration.jobs import (  # noqa: E402
    feedback_after_failure,
    feedback_after_success,
    feedback_job,
    ingest_job,
    monthly_job,
    monthly_schedule,
    submissions_sensor,
)
from orchestration.progress import LOGGER, run_log  # noqa: E402
from orchestration.resources import RegistryConfig, config_from_env, registry_resources  # noqa: E402

ASSETS = [
    site_submissions,
    linkage_returns,
    *dbt_layer_assets(),
    dq_scorecard,
    site_queries,
    site_query_workbooks,
    outcome_analyses,
    monthly_release,
]
CHECKS = quality_gates()


def build_definitions(config: RegistryConfig) -> dg.Definitions:
    """Assets, checks, jobs, schedule and sensors with the resources of one registry configuration."""
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=[ingest_job, monthly_job, feedback_job],
        schedules=[monthly_schedule],
        sensors=[submissions_sensor, feedback_after_success, feedback_after_failure],
        resources=registry_resources(config),
        loggers={LOGGER: run_log},
        # The multiprocess executor re-imports the code location per step (13 s vs 1.7 s for 10 assets; notes).
        executor=dg.in_process_executor,
    )


defs = build_definitions(config_from_env())
