"""Compare two builds of a release folder, for performance work that must not change what is published.

    .venv/bin/python benchmarks/compare_releases.py RELEASE_A RELEASE_B

Every file byte for byte, except the two that differ between any two builds: `kocartr_release.duckdb` (its bytes
are not reproducible: compared by content - per table its comment, columns with types and comments, row count and
the sum of its row hashes, and every view's SQL) and `manifest.json` (compared without `built_at`, `code_version`
and the database file's hash). Prints what differs; exit status 1 when anything does.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import sys
from pathlib import Path
from typing import Any

DB = "kocartr_release.duckdb"
MANIFEST = "manifest.json"


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _manifest(root: Path) -> dict[str, Any]:
    m = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    m.pop("built_at", None)
    m.pop("code_version", None)
    m.get("files", {}).pop(DB, None)
    return m


def database_content(path: Path) -> dict[str, Any]:
    """Per table: comment, columns (name, type, comment), row count, sum of row hashes; and the views' SQL."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        out: dict[str, Any] = {}
        tables = con.execute("SELECT schema_name, table_name, comment FROM duckdb_tables() ORDER BY 1, 2").fetchall()
        for schema, table, comment in tables:
            cols = con.execute(
                """SELECT column_name, data_type, comment FROM duckdb_columns()
                   WHERE schema_name = ? AND table_name = ? ORDER BY column_index""",
                [schema, table],
            ).fetchall()
            fq = f'"{schema}"."{table}"'
            rows = con.execute(f"SELECT count(*), sum(hash(t)::HUGEINT) FROM (SELECT t FROM {fq} t)").fetchall()[0]
            out[f"{schema}.{table}"] = (comment, cols, rows)
        out["views"] = con.execute(
            "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY 1, 2"
        ).fetchall()
        return out
    finally:
        con.close()


def compare(a: Path, b: Path) -> list[str]:
    """What differs between two release folders (empty: the same release)."""
    fa, fb = _files(a), _files(b)
    problems = [f"only in one release: {name}" for name in sorted(set(fa) ^ set(fb))]
    for name in sorted(set(fa) & set(fb)):
        if name not in (DB, MANIFEST) and not filecmp.cmp(a / name, b / name, shallow=False):
            problems.append(f"bytes differ: {name}")
    if MANIFEST in fa and MANIFEST in fb and _manifest(a) != _manifest(b):
        problems.append("manifest.json differs beyond built_at, code_version and the database hash")
    if DB in fa and DB in fb:
        ca, cb = database_content(a / DB), database_content(b / DB)
        problems += [f"database content differs: {k}" for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)]
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    problems = compare(args.a, args.b)
    n = len(_files(args.a))
    tables = json.loads((args.a / MANIFEST).read_text(encoding="utf-8")).get("tables_sha256")
    print(f"{n} files; tables_sha256 {tables}")
    print("\n".join(problems) if problems else "identical (database by content, manifest without build fields)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
