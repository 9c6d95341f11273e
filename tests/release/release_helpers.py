"""What the release tests share besides fixtures (a module of its own: `conftest` names clash across test folders)."""

import shutil
from datetime import date
from pathlib import Path

# the session's generated set runs to 2025-06 (tests/conftest.py small_submissions): its registry month's last day
CUTOFF = date(2025, 6, 30)


def warehouse_variant(warehouse: Path, dest: Path, extra_sql: list[str] | tuple[str, ...] = ()) -> Path:
    """A copy of the pipeline-built warehouse changed by `extra_sql` (a broken contract, a leak, a late row)."""
    import duckdb

    shutil.copyfile(warehouse, dest)
    con = duckdb.connect(str(dest))
    try:
        for sql in extra_sql:
            con.execute(sql)
    finally:
        con.close()
    return dest
