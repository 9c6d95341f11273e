"""Volume rules: a gate must not pass on an empty table that should hold rows.

- raw.registration must hold at least one current, non-deleted registration: a gate over an empty registry fails
  (every other rule would pass vacuously on empty tables).
- A layer's table that is empty while the table it is built from holds rows fails (a model that silently lost
  every row: "full last month, empty now" is the case this catches, without depending on the run history).
Each rule's frame is one row per guarded table (id column `table_name`, no site).
"""

from __future__ import annotations

from expectations import config as C
from expectations.rules import Rule, rule

# downstream table -> the table it must not be empty after (ARCHITECTURE: staging -> marts -> adam)
CORE_TABLES = {
    C.DIM_PATIENT: C.stg("registration"),
    C.FCT_INFUSION: C.stg("registration"),
    C.ADSL: C.DIM_PATIENT,
    C.ADTTE: C.ADSL,
}
REGISTRY = C.raw_table("registration")


def _rule(table: str, name: str, reason: str, ok_sql: str) -> Rule:
    return rule(
        table,
        name,
        category="completeness",
        subcategory="atemporal",
        severity="critical",
        max_failing_share=0.0,
        reason=reason,
        query=f"select '{table}' as table_name, {ok_sql} as ok",
        id_columns=("table_name",),
        site_column=None,
    )


def rules(dictionary) -> list[Rule]:
    out = [
        _rule(
            REGISTRY,
            "registry_not_empty",
            "An empty registry must not pass the gates (every other rule passes vacuously on no rows).",
            f"(select count(*) from {REGISTRY} where _is_current and {C.RAW_ACTION_COLUMN} <> 'D') > 0",
        )
    ]
    for form in dictionary.forms:
        out.append(
            _rule(
                C.stg(form),
                "not_emptied",
                f"Staging must not be empty while raw.{form} holds current, non-deleted records.",
                f"(select count(*) from {C.stg(form)}) > 0 or (select count(*) from {C.raw_table(form)} "
                f"where _is_current and {C.RAW_ACTION_COLUMN} <> 'D') = 0",
            )
        )
    for table, upstream in CORE_TABLES.items():
        out.append(
            _rule(
                table,
                "not_emptied",
                f"{table} must not be empty while {upstream} holds rows.",
                f"(select count(*) from {table}) > 0 or (select count(*) from {upstream}) = 0",
            )
        )
    return out
