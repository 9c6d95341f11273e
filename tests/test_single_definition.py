"""Each clinical code, code set, threshold and pattern is defined once (the dictionary, the seeds in data/config and
dbt_project/seeds, kocartr/privacy.py) and read from there by dbt, the quality gates and Python.

These tests read the source text: a code typed into dbt SQL must be a code of the dictionary list its column
draws from; a set of codes the dictionary already classifies (an attribute such as response.progression or
ae_term.ae_category) must never be retyped; the gates must follow the seeds when a seed changes."""

from __future__ import annotations

import ast
import csv
import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from kocartr.dictionary import Dictionary, load_dictionary
from kocartr.paths import CONFIG_DIR, DBT_PROJECT_DIR

ROOT = Path(__file__).resolve().parent.parent
PYTHON_PACKAGES = ("kocartr", "analyses", "expectations", "orchestration", "benchmarks")
SQL_FILES = sorted((DBT_PROJECT_DIR / "models").rglob("*.sql")) + sorted((DBT_PROJECT_DIR / "macros").rglob("*.sql"))

LITERAL = r"'(?:[^']|'')*'"
# `column = 'X'`, `column <> 'X'`, `column in ('X', 'Y')`, `column not in (...)` (column optionally qualified)
COMPARISON = re.compile(
    rf"(?:\b[a-z_][a-z0-9_]*\.)?\b([a-z_][a-z0-9_]*)\s*(?:=|<>|!=)\s*({LITERAL})"
    rf"|(?:\b[a-z_][a-z0-9_]*\.)?\b([a-z_][a-z0-9_]*)\s+(?:not\s+)?in\s*\(\s*({LITERAL}(?:\s*,\s*{LITERAL})*)\s*\)",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return load_dictionary()


def _sql_without_comments(path: Path) -> str:
    return "\n".join(line.split("--", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())


def _literals(group: str) -> list[str]:
    return [m[1:-1].replace("''", "'") for m in re.findall(LITERAL, group)]


def comparisons(path: Path) -> list[tuple[str, list[str]]]:
    """(column, literals) for every comparison of a column with string literals in one SQL file."""
    out = []
    for m in COMPARISON.finditer(_sql_without_comments(path)):
        column, values = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        literals = [v for v in _literals(values) if "{{" not in v]  # a macro's Jinja placeholder, not a code
        if literals:
            out.append((column.lower(), literals))
    return out


def code_lists_by_column(d: Dictionary) -> dict[str, set[str]]:
    """Column name -> the code lists a dictionary field of that name draws from (staging keeps field names)."""
    out: dict[str, set[str]] = defaultdict(set)
    for f in d.common_fields:
        if f.code_list:
            out[f.name].add(f.code_list)
    for form in d.forms.values():
        for f in form.fields:
            if f.code_list:
                out[f.name].add(f.code_list)
    return out


def attribute_groups(d: Dictionary) -> dict[frozenset[str], str]:
    """Every set (of 2 or more codes) the dictionary classifies by an attribute value -> where it is defined."""
    groups: dict[frozenset[str], str] = {}
    for cl in d.code_lists.values():
        by_value: dict[tuple[str, str], set[str]] = defaultdict(set)
        for c in cl.codes:
            for attr, value in c.attributes.items():
                by_value[(attr, str(value))].add(c.code)
        for (attr, value), codes in by_value.items():
            if 2 <= len(codes) < len(cl.codes):
                groups[frozenset(codes)] = f"{cl.name}.{attr} = {value}"
    return groups


def test_every_code_literal_in_dbt_sql_is_a_code_of_its_columns_code_list(dictionary):
    lists = code_lists_by_column(dictionary)
    codes = {name: {c.code for c in cl.codes} for name, cl in dictionary.code_lists.items()}
    checked, wrong = 0, []
    for path in SQL_FILES:
        for column, values in comparisons(path):
            if column == "code_list":
                wrong += [f"{path.name}: unknown code list {v!r}" for v in values if v not in codes]
                checked += len(values)
            elif column in lists:
                allowed = set().union(*(codes[cl] for cl in lists[column]))
                wrong += [
                    f"{path.name}: {column} = {v!r} is not a code of {sorted(lists[column])}"
                    for v in values
                    if v not in allowed
                ]
                checked += len(values)
    assert checked > 20, "the scan found almost no code comparisons: the pattern no longer matches the SQL"
    assert not wrong, "\n".join(wrong)


def test_no_code_set_the_dictionary_classifies_is_retyped_in_sql(dictionary):
    """e.g. progression codes (response.progression) or the cytopenias (ae_term.ae_category) as an IN list."""
    groups = attribute_groups(dictionary)
    assert any("progression" in where for where in groups.values())
    found = [
        f"{path.name}: {column} in {sorted(values)} retypes {groups[frozenset(values)]}"
        for path in SQL_FILES
        for column, values in comparisons(path)
        if frozenset(values) in groups
    ]
    assert not found, "read the attribute from ref('dictionary_codes') instead:\n" + "\n".join(found)


def test_progression_codes_are_never_typed_in_sql(dictionary):
    progression = {c.code for c in dictionary.code_lists["response"].codes if c.attributes.get("progression")}
    assert progression
    typed = [
        f"{path.name}: {column} {values}"
        for path in SQL_FILES
        for column, values in comparisons(path)
        if column == "response" and progression & set(values)
    ]
    assert not typed, typed


def _python_files() -> list[Path]:
    return [p for pkg in PYTHON_PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def _string_collections(tree: ast.AST) -> list[tuple[int, frozenset[str]]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2:
            if all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                out.append((node.lineno, frozenset(e.value for e in node.elts)))  # type: ignore[attr-defined]
    return out


def test_no_code_set_the_dictionary_classifies_is_retyped_in_python(dictionary):
    groups = attribute_groups(dictionary)
    found = [
        f"{path.relative_to(ROOT)}:{line}: {sorted(values)} retypes {groups[values]}"
        for path in _python_files()
        for line, values in _string_collections(ast.parse(path.read_text(encoding="utf-8")))
        if values in groups
    ]
    assert not found, "\n".join(found)


def test_no_python_constant_restates_a_clinical_threshold():
    """A threshold of clinical_thresholds.csv is read with expectations.config.clinical_threshold (or dbt's
    cfg), never copied into a literal constant of the same name."""
    with (CONFIG_DIR / "clinical_thresholds.csv").open(encoding="utf-8") as fh:
        names = {r["rule_id"].upper() for r in csv.DictReader(fh)}
    found = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {t.id}"
                    for t in targets
                    if isinstance(t, ast.Name) and t.id.upper() in names
                ]
    assert not found, found


def test_the_rrn_pattern_is_written_only_in_the_privacy_module():
    digits = re.compile(r"\[0-9\]\{\{?6\}?\}|\\d\{\{?6\}?\}")
    found = [
        str(p.relative_to(ROOT))
        for p in _python_files()
        if digits.search(p.read_text(encoding="utf-8")) and p != ROOT / "kocartr" / "privacy.py"
    ]
    assert not found, f"RRN-like patterns outside kocartr/privacy.py: {found}"


def test_the_registry_month_pattern_is_written_only_in_the_months_module():
    month = re.compile(re.escape("(0[1-9]|1[0-2])"))
    found = [
        str(p.relative_to(ROOT))
        for p in _python_files()
        if month.search(p.read_text(encoding="utf-8")) and p != ROOT / "kocartr" / "months.py"
    ]
    assert not found, f"registry-month patterns outside kocartr/months.py: {found}"


def test_the_missing_level_and_pooled_names_are_defined_once():
    """The analysis tables' label of a missing level is a string only in analyses/plan.py (MISSING); the pooled
    publication categories are looked up only through kocartr.release.report_tables.pooled_names."""
    missing = [
        str(p.relative_to(ROOT))
        for p in _python_files()
        if p != ROOT / "analyses" / "plan.py"
        and any(isinstance(n, ast.Constant) and n.value == "(missing)" for n in ast.walk(ast.parse(p.read_text())))
    ]
    assert not missing, f"'(missing)' typed outside analyses/plan.py (import MISSING): {missing}"
    lookup = re.compile(r"recoding\.variables|rec\.variables\.(get|items)")
    pooled = [
        str(p.relative_to(ROOT))
        for p in _python_files()
        if p.parts[-3:-1] == ("kocartr", "release") and p.name != "report_tables.py" and lookup.search(p.read_text())
    ]
    assert not pooled, f"pooled category names looked up outside report_tables.pooled_names: {pooled}"


def test_the_timeline_event_mapping_names_dictionary_forms_and_date_fields(dictionary):
    text = (DBT_PROJECT_DIR / "macros" / "patient_events.sql").read_text(encoding="utf-8")
    mapping = yaml.safe_load(text.split("{%- set mapping -%}", 1)[1].split("{%- endset -%}", 1)[0])
    assert len(mapping) > 15
    for entry in mapping:
        if "model" in entry:  # a derived source (death reports): its form is a column
            continue
        form = dictionary.forms[entry["form"]]
        field = {f.name: f for f in form.fields}.get(entry["date"])
        assert field is not None and field.type == "date", (entry["event"], entry["form"], entry["date"])


def test_the_gates_follow_the_seeds(tmp_path, monkeypatch, dictionary):
    """Change the late-onset day and an ICE band in copies of the seeds: the staging rules change with them."""
    import importlib
    import shutil

    import kocartr.paths
    from expectations import config
    from expectations.suites import staging

    for seed in CONFIG_DIR.glob("*.csv"):
        shutil.copy(seed, tmp_path / seed.name)
    thresholds = tmp_path / "clinical_thresholds.csv"
    text = thresholds.read_text(encoding="utf-8")
    thresholds.write_text(re.sub(r"^crs_icans_late_onset_day,30,", "crs_icans_late_onset_day,45,", text, flags=re.M))
    bands = tmp_path / "icans_score_grading.csv"
    bands.write_text(bands.read_text(encoding="utf-8").replace("ICE,7,9,1", "ICE,8,9,1"))
    monkeypatch.setattr(kocartr.paths, "CONFIG_DIR", tmp_path)
    try:
        importlib.reload(config)
        importlib.reload(staging)
        rules = {r.name: r for r in staging.rules(dictionary)}
    finally:
        monkeypatch.undo()
        importlib.reload(config)
        importlib.reload(staging)
    late = rules["staging.stg_crs.late_onset"]
    assert "<= 45" in late.query and "day 45" in late.reason
    ice = rules["staging.stg_icans.grade_matches_ice_and_domains"]
    assert "between 8 and 9 then 1" in ice.query and "between 7 and 9" not in ice.query
