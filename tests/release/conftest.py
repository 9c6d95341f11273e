"""Release tests run on the warehouse the real pipeline built (the session's `pipeline_run` over a small generated
set, tests/conftest.py): the release reads exactly the marts, ADaM and analysis tables dbt and the analyses make,
so a contract change between them fails here, not in production."""

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from release_helpers import CUTOFF  # noqa: E402


@pytest.fixture(scope="session")
def warehouse(pipeline_run, tmp_path_factory) -> Path:
    """A copy of the pipeline's warehouse (tests that publish from it never touch the shared one)."""
    result, built, _work = pipeline_run
    assert result.success, "the session pipeline run failed: the release tests need its warehouse"
    copy = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    shutil.copyfile(built, copy)
    return copy


@pytest.fixture(scope="session")
def published(tmp_path_factory, warehouse) -> Path:
    """One release built once for read-only assertions."""
    from kocartr.release import publish_release

    out = tmp_path_factory.mktemp("releases")
    return publish_release(warehouse, CUTOFF, out, quality_summary={"gate": "passed", "critical_failures": 0})
