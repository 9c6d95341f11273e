import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from release_fixture import build_fixture_warehouse  # noqa: E402

CUTOFF = date(2026, 10, 31)


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory) -> Path:
    return build_fixture_warehouse(tmp_path_factory.mktemp("wh") / "warehouse.duckdb", CUTOFF, n_patients=120)


@pytest.fixture(scope="session")
def published(tmp_path_factory, warehouse) -> Path:
    """One release built once for read-only assertions."""
    from kocartr.release import publish_release

    out = tmp_path_factory.mktemp("releases")
    return publish_release(warehouse, CUTOFF, out, quality_summary={"gate": "passed", "critical_failures": 0})
