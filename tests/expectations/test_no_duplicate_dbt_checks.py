"""One rule, one place: no GX expectation checks what a dbt test on the same model already checks (grain keys,
non-null columns, accepted values), so no rule runs twice per build."""

from pathlib import Path

import yaml

from expectations.suites import all_rules

MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models"


def _args(test) -> tuple[str, dict]:
    if isinstance(test, str):
        return test, {}
    (name, body), *_ = test.items()
    body = body or {}
    return name, body.get("arguments", body)


def dbt_checks() -> set[tuple]:
    """(kind, model, columns[, values]) of the generic dbt tests declared in the models' yml files."""
    out: set[tuple] = set()
    for yml in MODELS.rglob("*.yml"):
        for model in (yaml.safe_load(yml.read_text(encoding="utf-8")) or {}).get("models", []):
            m = model["name"]
            for t in model.get("data_tests", []) or []:
                name, args = _args(t)
                if name == "column_rules":  # every column rule of a model in one test
                    out |= column_rules_checks(m, args)
            for col in model.get("columns", []) or []:
                for t in col.get("data_tests", []) or []:
                    name, args = _args(t)
                    if name in ("unique", "not_null"):
                        out.add((name, m, (col["name"],)))
                    elif name == "accepted_values":
                        out.add(("accepted", m, (col["name"],), frozenset(map(str, args["values"]))))
    return out


def column_rules_checks(model: str, args: dict) -> set[tuple]:
    out: set[tuple] = {("not_null", model, (c,)) for c in args.get("not_null", [])}
    out |= {("unique", model, (c,)) for c in args.get("unique", [])}
    if args.get("unique_combination"):
        out.add(("unique", model, tuple(args["unique_combination"])))
    out |= {("accepted", model, (c,), frozenset(map(str, v))) for c, v in args.get("accepted_values", {}).items()}
    return out


def gx_check(rule) -> tuple | None:
    model = rule.table.split(".")[1]
    if rule.query is not None or rule.where:
        return None
    if rule.expectation == "ExpectCompoundColumnsToBeUnique":
        return ("unique", model, tuple(rule.kwargs["column_list"]))
    if rule.expectation == "ExpectColumnValuesToNotBeNull":
        return ("not_null", model, (rule.kwargs["column"],))
    if rule.expectation == "ExpectColumnValuesToBeInSet":
        return ("accepted", model, (rule.kwargs["column"],), frozenset(map(str, rule.kwargs["value_set"])))
    return None


def test_no_gx_rule_repeats_a_dbt_test():
    dbt = dbt_checks()
    assert dbt, "no dbt generic tests found"
    repeated = [r.name for r in all_rules() if gx_check(r) in dbt]
    assert not repeated, repeated
