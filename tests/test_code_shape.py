"""Shape of the code outside tests: procedures stay short enough to read in one screen (split at the stages they
name), so a newcomer can follow each step."""

from __future__ import annotations

import ast

from tests.test_single_definition import PYTHON_PACKAGES, ROOT

MAX_FUNCTION_LINES = 80


def test_no_function_outside_tests_is_longer_than_80_lines():
    long = []
    for pkg in PYTHON_PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)
