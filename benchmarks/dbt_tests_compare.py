"""Do two versions of the dbt project's data tests find the same failures? Breaks two copies of a built warehouse the
same way (every kind of column rule fails at least once, in every layer and in seeds), runs `dbt test
--store-failures` of each project on its copy, and compares what failed, normalized to (model, rule, column,
failing value, failing rows) from the stored failing rows: a per-column test (not_null, unique, accepted_values,
relationships, unique_combination, not_null_columns, in_code_lists) and a model's `column_rules` test give the same
tuples when they check the same thing.

    .venv/bin/python benchmarks/dbt_tests_compare.py --before-project /tmp/old/dbt_project \\
        --warehouse benchmarks/results/work/sample/warehouse.duckdb --work /tmp/dbt-compare [--after-project P]

The warehouse is only copied (never written); exits 1 when the failures differ.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from kocartr.paths import DBT_PROJECT_DIR

# (table, assignment or "duplicate", rows, offset): each break touches `rows` rows from the `offset`-th by rowid.
BREAKS: tuple[tuple[str, str, int, int], ...] = (
    ("staging.stg_registration", "consent_date = null", 2, 0),  # required field (not_null_columns)
    ("staging.stg_registration", "sex = 'X'", 3, 5),  # code list
    ("staging.stg_registration", "duplicate", 1, 0),  # grain (unique_combination)
    ("staging.stg_adverse_event", "seriousness_criteria = 'DEATH;NOPE'", 2, 10),  # multiple-code column
    ("staging.stg_adverse_event", "seriousness_criteria = 'NOPE2'", 1, 20),
    ("staging.stg_lab", "patient_key = null, unit = null", 1, 3),
    ("intermediate.int_deaths", "patient_key = null", 1, 0),  # not_null + unique on one key
    ("intermediate.int_deaths", "duplicate", 2, 0),
    ("intermediate.int_count_recovery", "recovery_status = 'BAD'", 2, 0),  # accepted_values, two values
    ("intermediate.int_count_recovery", "recovery_status = 'WORSE'", 1, 4),
    ("intermediate.int_death_sources", "precedence = null", 3, 0),
    ("marts.fct_infusion", "patient_key = 'ORPHAN'", 2, 0),  # relationships to dim_patient
    ("marts.fct_infusion", "site_code = 'ZZ'", 1, 3),  # relationships to dim_site + code list
    ("marts.fct_infusion", "anc_recovery_status = 'SOMETIMES'", 2, 6),
    ("marts.fct_response", "duplicate", 2, 0),
    ("marts.fct_adverse_event", "infusion_key = 'NO_SUCH_INFUSION', serious = 'MAYBE'", 2, 0),
    ("marts.fct_hospitalization", "admission_date = null", 1, 0),
    ("marts.fct_hospitalization", "duplicate", 1, 0),
    ("adam.adtte", "CNSR = 2", 1, 0),  # accepted_values on an integer column
    ("adam.adtte", "CMPEVFL = null", 2, 2),
    ("adam.adtte", "duplicate", 1, 0),
    ("adam.adae", "USUBJID = 'NOBODY'", 1, 0),
    ("adam.adsl", "duplicate", 1, 0),
    ("seeds.clinical_thresholds", "value = null", 1, 0),
    ("seeds.icans_score_grading", "duplicate", 1, 0),
    ("seeds.followup_schedule", "timepoint = 'NEVER'", 1, 0),
)


def break_warehouse(path: Path) -> None:
    import duckdb

    with duckdb.connect(str(path)) as con:
        for table, change, n, offset in BREAKS:
            rows = f"select rowid from {table} order by rowid limit {n} offset {offset}"
            if change == "duplicate":
                con.execute(f"insert into {table} select * from {table} where rowid in ({rows})")
            else:
                con.execute(f"update {table} set {change} where rowid in ({rows})")


def run_tests(project: Path, warehouse: Path, target: Path) -> None:
    dbt = shutil.which("dbt", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    subprocess.run(
        [dbt or "dbt", "test", "--project-dir", str(project), "--profiles-dir", str(project)]
        + ["--target-path", str(target), "--exclude", "test_type:unit", "--store-failures"],
        env={**os.environ, "KOCARTR_WAREHOUSE": str(warehouse)},
        capture_output=True,
        check=False,
    )


# Each test's stored failing rows as (rule, column, value, rows): `{rel}` is the stored table.
NORMALIZE = {
    "not_null": "select 'not_null', '{col}', null, count(*) from {rel} having count(*) > 0",
    "not_null_columns": "select 'not_null', column_name, null, n_null from {rel}",
    "unique": "select 'unique', '{col}', cast(unique_field as varchar), n_records from {rel}",
    "accepted_values": "select 'accepted_values', '{col}', cast(value_field as varchar), n_records from {rel}",
    "relationships": "select 'relationships', '{col}', cast(from_field as varchar), count(*) from {rel} group by all",
    "unique_combination": "select 'unique_combination', '{cols}', cast(row({cols}) as varchar), n_rows from {rel}",
    "in_code_lists": "select 'code list ' || code_list, column_name, value, count(*) from {rel} group by all",
    "column_rules": "select if(rule like 'relationships to %', 'relationships', rule), column_name, value, n_rows "
    "from {rel}",
}


def failures(target: Path, warehouse: Path) -> tuple[set[tuple[Any, ...]], dict[str, int]]:
    """(model, rule, column, value, rows) of every test that failed, and the count of tests by status."""
    import duckdb

    results = json.loads((target / "run_results.json").read_text())["results"]
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    status: dict[str, int] = {}
    found: set[tuple[Any, ...]] = set()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for r in results:
            status[r["status"]] = status.get(r["status"], 0) + 1
            if r["status"] == "pass":
                continue
            node = nodes[r["unique_id"]]
            model = nodes[node["attached_node"]]["name"] if node.get("attached_node") else node["name"]
            meta = node.get("test_metadata") or {}
            if meta.get("name") not in NORMALIZE:  # a singular test: its name and failing rows
                found.add((model, "singular", node["name"], None, r["failures"]))
                continue
            sql = NORMALIZE[meta["name"]].format(
                rel=r["relation_name"],
                col=node.get("column_name"),
                cols=", ".join(meta.get("kwargs", {}).get("columns", [])),
            )
            found |= {(model, *row) for row in con.sql(sql).fetchall()}
    return found, status


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before-project", type=Path, required=True)
    ap.add_argument("--after-project", type=Path, default=DBT_PROJECT_DIR)
    ap.add_argument("--warehouse", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True, help="a scratch folder (emptied first)")
    args = ap.parse_args(argv)
    shutil.rmtree(args.work, ignore_errors=True)
    found = {}
    for side, project in (("before", args.before_project), ("after", args.after_project)):
        copy = args.work / side / "warehouse.duckdb"  # the same file name: the parse names the catalog after it
        copy.parent.mkdir(parents=True)
        shutil.copy(args.warehouse, copy)
        break_warehouse(copy)
        run_tests(project.resolve(), copy, args.work / side / "target")
        found[side], status = failures(args.work / side / "target", copy)
        print(f"{side}: tests {status}")
    before, after = found["before"], found["after"]
    print(f"{'model':28} {'rule':30} {'column':30} {'value':24} rows")
    for row in sorted(before | after, key=str):
        side = "" if row in before and row in after else ("  ONLY BEFORE" if row in before else "  ONLY AFTER")
        print(f"{row[0]:28} {row[1]:30} {str(row[2])[:30]:30} {str(row[3])[:24]:24} {row[4]}{side}")
    print(f"{len(before)} failures before, {len(after)} after: " + ("identical" if before == after else "DIFFERENT"))
    return 0 if before == after and before else 1


if __name__ == "__main__":
    raise SystemExit(main())
