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


def raw_late_detail_code():
    """A pattern matching any code the late effects' Detail column must name instead of show: the plan's
    late_effect_details codes (ANY, competing events), the missing-level label, Y and the organism class and
    pregnancy code lists' codes, each as a whole word."""
    import re

    from analyses.plan import MISSING, load_plan
    from kocartr.dictionary import load_dictionary

    lists = load_dictionary().code_lists
    codes = {c for c in load_plan().late_effect_details if c.isupper()} | {MISSING, "Y"}
    codes |= {c.code for n in ("organism_type", "pregnancy_subject", "pregnancy_outcome") for c in lists[n].codes}
    return re.compile("|".join(rf"(?<!\w){re.escape(c)}(?!\w)" for c in sorted(codes, key=len, reverse=True)))
