import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).parent))

import warehouse  # noqa: E402


@pytest.fixture(scope="session")
def clean_con():
    """One clean warehouse for the session; tests mutate it inside a transaction and roll back."""
    con = warehouse.build()
    yield con
    con.close()


@pytest.fixture()
def con(clean_con):
    clean_con.execute("begin transaction")
    try:
        yield clean_con
    finally:
        clean_con.execute("rollback")
