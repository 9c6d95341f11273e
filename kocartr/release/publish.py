"""Atomic, immutable, verifiable monthly releases.

A release of cut-off C is the folder `<out_dir>/<C>/` (C = YYYY-MM-DD):

    kocartr_release.duckdb        read-only DuckDB: schemas marts, adam, analysis, regulatory
    parquet/<schema>/<table>.parquet   one file per table (sorted by all columns, zstd) - byte-identical on rebuild
    hta_outcomes_<C>.xlsx         HTA workbook (suppressed counts)           - kocartr.release.workbook
    figures/*.png                 KM / CIF curves by product                 - kocartr.release.figures
    report.html                   static self-contained report               - kocartr.release.report
    README.md, columns.csv        investigator guide and column descriptions - kocartr.release.guide
    manifest.json                 cut-off, versions, row counts, SHA-256 of every file, quality-gate summary

How atomicity is obtained: everything is built in `<out_dir>/.building-<C>-<pid>-<token>/`, verified against
its own manifest, made read-only, fsync'ed, then published with one `os.rename` to `<out_dir>/<C>`. Readers
(`list_releases`) only see `YYYY-MM-DD` folders; a killed build leaves a `.building-*` folder that readers ignore
and the next build removes. An existing release is never overwritten (`ReleaseExistsError`), and rename(2)
itself refuses to replace a non-empty folder if two builds race.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from kocartr.privacy import rrn_sql, scan_release
from kocartr.release.config import ReleaseConfig, load_release_config

RELEASE_DB = "kocartr_release.duckdb"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
BUILDING_PREFIX = ".building-"
STAGE_DELAY_ENV = "KOCARTR_RELEASE_STAGE_DELAY"  # tests: seconds to sleep after each stage (kill-safety tests)
_RELEASE_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ReleaseError(RuntimeError):
    """A release cannot be built from this warehouse (privacy, cut-off or integrity problem)."""


class ReleaseExistsError(ReleaseError, FileExistsError):
    """The release of this cut-off exists already; releases are immutable."""


# --------------------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------------------
def _stage(name: str) -> None:
    delay = os.environ.get(STAGE_DELAY_ENV)
    if delay:
        print(f"release-stage {name}", file=sys.stderr, flush=True)
        time.sleep(float(delay))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def tables_fingerprint(cutoff: str, dictionary_version: str, tables: dict[str, Any]) -> str:
    """SHA-256 of the release's data content (cut-off, dictionary version, every table's rows, schema and Parquet
    hash). Independent of the code commit and the build time: equal for byte-identical rebuilds. This is the
    "manifest hash" printed in the workbook and the report (a file cannot contain its own hash)."""
    return hashlib.sha256(
        _canonical({"cutoff": cutoff, "dictionary_version": dictionary_version, "tables": tables})
    ).hexdigest()


def code_version() -> dict[str, Any]:
    """Package version and, when available, the git commit (manifest only: never enters tables or files)."""
    from kocartr import __version__
    from kocartr.paths import REPO_ROOT

    out: dict[str, Any] = {"package": __version__, "git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            out["git_dirty"] = bool(dirty.stdout.strip()) if dirty.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _make_writable(path: Path) -> None:
    for root, _dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for f in files:
            try:
                os.chmod(os.path.join(root, f), 0o644)
            except FileNotFoundError:
                pass


def cleanup_stale_builds(out_dir: Path) -> list[Path]:
    """Remove `.building-*` folders left by killed builds (their process is gone). Returns what was removed."""
    removed: list[Path] = []
    if not out_dir.is_dir():
        return removed
    for d in sorted(out_dir.glob(BUILDING_PREFIX + "*")):
        m = re.match(r"^\.building-.+-(\d+)-[0-9a-f]+$", d.name)
        pid = int(m.group(1)) if m else None
        if pid is not None and pid != os.getpid() and _pid_alive(pid):
            continue  # another build is running right now
        _make_writable(d)
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def list_releases(out_dir: Path | str, verified: bool = False) -> list[Path]:
    """Published releases (oldest first): `YYYY-MM-DD` folders holding a manifest; optionally only those that
    verify. In-progress and killed builds (`.building-*`) are never listed."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    found = [
        p for p in sorted(out_dir.iterdir()) if p.is_dir() and _RELEASE_NAME.match(p.name) and (p / MANIFEST).is_file()
    ]
    if verified:
        found = [p for p in found if not verify_release(p)]
    return found


def _fsync_tree(path: Path) -> None:
    for root, _dirs, files in os.walk(path):
        for f in files:
            fd = os.open(os.path.join(root, f), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


def _fsync_dir(path: Path) -> None:
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _set_read_only(path: Path) -> None:
    for root, _dirs, files in os.walk(path, topdown=False):
        for f in files:
            os.chmod(os.path.join(root, f), 0o444)
        os.chmod(root, 0o555)


# --------------------------------------------------------------------------------------------------------------
# checks on what enters a release
# --------------------------------------------------------------------------------------------------------------
def forbidden_columns(config: ReleaseConfig | None = None, dictionary=None) -> dict[str, str]:
    """Column names that must never enter a release -> why: free-text fields of the dictionary (type `text`)
    and configured direct identifiers."""
    from kocartr.dictionary import load_dictionary

    config = config or load_release_config()
    dictionary = dictionary or load_dictionary()
    out = {c: "direct identifier" for c in config.direct_identifier_columns}
    for form in dictionary.forms.values():
        for f in dictionary.all_fields(form.name):
            if f.is_free_text:
                out[f.name.lower()] = f"free text (dictionary form {form.name})"
    return out


def _source_tables(con, schemas: Iterable[str]) -> list[tuple[str, str, str]]:
    """(schema, table, kind) of the warehouse's tables and views in those schemas, sorted."""
    schemas = list(schemas)
    if not schemas:
        return []
    ph = ",".join("?" * len(schemas))
    rows = con.execute(
        f"""SELECT schema_name, table_name, 'table' FROM duckdb_tables()
            WHERE database_name = current_database() AND schema_name IN ({ph})
            UNION ALL
            SELECT schema_name, view_name, 'view' FROM duckdb_views()
            WHERE database_name = current_database() AND schema_name IN ({ph}) AND NOT internal
            ORDER BY 1, 2""",
        schemas + schemas,
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _columns(con, schema: str, table: str) -> list[tuple[str, str, str | None]]:
    return [
        (r[0], r[1], r[2])
        for r in con.execute(
            """SELECT column_name, data_type, comment FROM duckdb_columns()
           WHERE database_name = current_database() AND schema_name = ? AND table_name = ?
           ORDER BY column_index""",
            [schema, table],
        ).fetchall()
    ]


def row_filter(con, schema: str, table: str, config: ReleaseConfig) -> str | None:
    """SQL predicate selecting the rows of a table that enter the release (None = all rows): the configured
    `row_filters`, and NOT is_after_cutoff for tables that flag events after the cut-off."""
    preds = []
    custom = config.row_filters.get(f"{schema}.{table}")
    if custom:
        preds.append(f"({custom})")
    if any(c[0] == "is_after_cutoff" for c in _columns(con, schema, table)):
        preds.append("NOT coalesce(is_after_cutoff, false)")
    return " AND ".join(preds) or None


def _relation(con, schema: str, table: str, config: ReleaseConfig) -> str:
    fq = f"{_qi(schema)}.{_qi(table)}"
    pred = row_filter(con, schema, table, config)
    return f"(SELECT * FROM {fq} WHERE {pred})" if pred else fq


SCORECARD_TABLE = ("audit", "dq_scorecard")  # expectations/scorecard.py: per site and month
SCORECARD_COLUMNS = (
    "site_code",
    "month",
    "completeness",
    "followup_timeliness",
    "quarantine_rate",
    "plausibility_checks",
    "plausibility_checks_failed",
    "plausibility_failure_rate",
    "checks_failed_at_site",
    "checks_failed_at_site_names",
)


def read_scorecard(con, cutoff: date) -> list[dict[str, Any]]:
    """Per site, the data-quality scorecard row of the latest month on or before the cut-off (rates and check
    counts only: no patient or form counts). [] when the warehouse has no scorecard."""
    cols = [c[0] for c in _columns(con, *SCORECARD_TABLE)]
    if "site_code" not in cols or "month" not in cols:
        return []
    keep = [c for c in SCORECARD_COLUMNS if c in cols]
    rows = con.execute(
        f"""SELECT {", ".join(_qi(c) for c in keep)} FROM {_qi(SCORECARD_TABLE[0])}.{_qi(SCORECARD_TABLE[1])}
            WHERE month <= ? QUALIFY row_number() OVER (PARTITION BY site_code ORDER BY month DESC) = 1
            ORDER BY site_code""",
        [cutoff.strftime("%Y-%m")],
    ).fetchall()
    out = []
    for r in rows:
        d = dict(zip(keep, r))
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 4)
        out.append(d)
    return out


def check_source(
    con,
    tables: list[tuple[str, str, str]],
    cutoff: date,
    config: ReleaseConfig,
    forbidden: dict[str, str],
    values: bool = True,
) -> list[str]:
    """Everything that forbids publishing: identifier/free-text columns, RRN-shaped values, dates after the
    cut-off, analysis rows of another cut-off. Returns the problems (empty = publishable). `values` False: all but
    the RRN-shaped values (the release checks those on each table's rows before it copies them, `_copy_tables`)."""
    problems = []
    for schema, table, _kind in tables:
        fq = _relation(con, schema, table, config)
        for name, dtype, _comment in _columns(con, schema, table):
            key = f"{schema}.{table}.{name}".lower()
            if name.lower() in forbidden and key not in config.allowed_columns:
                problems.append(f"{schema}.{table}.{name}: {forbidden[name.lower()]} must not enter a release")
                continue
            if values and dtype.upper() == "VARCHAR":
                hits = con.execute(f"SELECT count(*) FROM {fq} WHERE {rrn_sql(_qi(name))}").fetchall()[0][0]
                if hits:
                    problems.append(
                        f"{schema}.{table}.{name}: {hits} value(s) shaped like a resident registration number"
                    )
            if name.lower() == "data_cutoff":
                bad = con.execute(
                    f"SELECT count(*) FROM {fq} WHERE CAST({_qi(name)} AS VARCHAR) <> ?", [cutoff.isoformat()]
                ).fetchall()[0][0]
                if bad:
                    problems.append(f"{schema}.{table}: {bad} row(s) with data_cutoff other than {cutoff}")
            elif (
                dtype.upper() == "DATE" or dtype.upper().startswith("TIMESTAMP")
            ) and name.lower() not in config.cutoff_exempt_columns:
                later = con.execute(
                    f"SELECT count(*), max({_qi(name)}) FROM {fq} WHERE CAST({_qi(name)} AS DATE) > ?", [cutoff]
                ).fetchall()[0]
                if later[0]:
                    problems.append(
                        f"{schema}.{table}.{name}: {later[0]} value(s) after the cut-off {cutoff} (latest {later[1]})"
                    )
    return problems


# --------------------------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------------------------
def _write_parquet(arrow_table, path: Path) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed writer options: same rows (sorted) + same library versions -> same bytes.
    pq.write_table(
        arrow_table,
        path,
        compression="zstd",
        compression_level=3,
        row_group_size=1_000_000,
        use_dictionary=True,
        write_statistics=True,
        version="2.6",
    )


def _copy_tables(src, dst, tables: list, tmp: Path, config: ReleaseConfig, exporter, dictionary) -> dict | None:
    """Copy each released table into the release database and its Parquet file, and write its CSV and XPT files
    when its schema is exported, all from the same rows, sorted by all columns (the physical order never depends
    on how the warehouse was written). Before anything of a table is written, its text values are checked for
    RRN-shaped ones (`rrn_sql`, as `check_source` checks them, on the rows in hand: the warehouse is read once);
    on a hit nothing more is written and None is returned (the caller refuses with `check_source`'s list).
    Returns the warehouse's column comments and the rows of each copied table: {"comments", "copied"}."""
    from kocartr.privacy import arrow_rrn_counts
    from kocartr.release.exports import EXPORT_SCHEMAS

    comments: dict[tuple[str, str, str], str] = {}
    copied: dict[tuple[str, str], int] = {}  # (schema, table) -> rows, Parquet already written
    for schema, table, _kind in tables:
        cols = _columns(src, schema, table)
        rel = _relation(src, schema, table, config)
        arrow = src.sql(f"SELECT * FROM {rel} ORDER BY ALL").to_arrow_table()
        if any(arrow_rrn_counts(arrow, [n for n, t, _c in cols if t.upper() == "VARCHAR"], dst).values()):
            return None
        dst.register("_src", arrow)
        dst.execute(f"CREATE TABLE {_qi(schema)}.{_qi(table)} AS SELECT * FROM _src")
        dst.unregister("_src")
        _write_parquet(arrow, tmp / "parquet" / schema / f"{table}.parquet")  # written once, never re-read
        copied[(schema, table)] = arrow.num_rows
        comments.update({(schema, table, name): comment for name, _t, comment in cols if comment})
        if schema in EXPORT_SCHEMAS:  # the release database's column types, as the exports read them before
            columns = [
                (n, t, _description(comments, schema, table, n, dictionary)) for n, t, _ in _columns(dst, schema, table)
            ]
            exporter.add(dst, arrow, schema, table, columns)
        del arrow
        _stage(f"copied {schema}.{table}")
    return {"comments": comments, "copied": copied}


def _description(comments: dict, schema: str, table: str, column: str, dictionary) -> str:
    """A released column's description: the warehouse comment, else the dictionary / ADaM definition."""
    from kocartr.release import guide

    return comments.get((schema, table, column)) or guide.describe_column(column, dictionary) or ""


def _describe_columns(dst, released: list, comments: dict, dictionary) -> list[dict]:
    """Every released column with its description (the warehouse comment, else the dictionary / ADaM definition),
    also written as a comment in the release database."""
    col_docs = []
    dst.execute("BEGIN TRANSACTION")  # one commit for every comment, not one per column (~3 s on the sample)
    for schema, table, _k in released:
        for name, dtype, _c in _columns(dst, schema, table):
            desc = _description(comments, schema, table, name, dictionary)
            col_docs.append({"schema": schema, "table": table, "column": name, "type": dtype, "description": desc})
            if desc:
                quoted = "'" + desc.replace("'", "''") + "'"
                dst.execute(f"COMMENT ON COLUMN {_qi(schema)}.{_qi(table)}.{_qi(name)} IS {quoted}")
    dst.execute("COMMIT")
    return col_docs


def _table_meta(dst, released: list, copied: dict, col_docs: list[dict], tmp: Path) -> dict[str, Any]:
    """Rows, columns and Parquet file (with its SHA-256) of each released table; tables made inside the release
    (regulatory views) get their Parquet here, sorted by all columns."""
    table_meta: dict[str, Any] = {}
    for schema, table, _k in released:
        parquet_rel = Path("parquet") / schema / f"{table}.parquet"
        if (schema, table) in copied:
            rows = copied[(schema, table)]
        else:
            arrow = dst.sql(f"SELECT * FROM {_qi(schema)}.{_qi(table)} ORDER BY ALL").to_arrow_table()
            _write_parquet(arrow, tmp / parquet_rel)
            rows = arrow.num_rows
        table_meta[f"{schema}.{table}"] = {
            "rows": rows,
            "columns": [[d["column"], d["type"]] for d in col_docs if d["schema"] == schema and d["table"] == table],
            "parquet": parquet_rel.as_posix(),
            "parquet_sha256": sha256_file(tmp / parquet_rel),
        }
        _stage(f"parquet {schema}.{table}")
    return table_meta


def _write_extras(tmp: Path, db_path: Path, context: dict, config: ReleaseConfig) -> None:
    """The HTA workbook, the figures and the report, read from the finished release database (read-only)."""
    import copy

    import duckdb

    from kocartr.release import figures, outcomes, report, workbook

    cut = context["cutoff"]
    ro = duckdb.connect(str(db_path), read_only=True)
    try:
        # The suppressed outcomes are read and decided once; each output gets its own copy, as if it had built
        # them itself (nothing one of them adds to its copy can reach another).
        pub = outcomes.build_outcomes(ro, config)
        workbook.write_workbook(ro, tmp / f"hta_outcomes_{cut}.xlsx", context, config, copy.deepcopy(pub))
        _stage("workbook")
        figs = figures.write_figures(ro, tmp / "figures", context, config, copy.deepcopy(pub))
        _stage("figures")
        report.write_report(ro, tmp / "report.html", context, config, figs, pub)
        _stage("report")
    finally:
        ro.close()


def _write_manifest(tmp: Path, context: dict, schemas: tuple[str, ...], table_meta: dict, forbidden) -> dict:
    """manifest.json: what was released, from which code and data, and every file's SHA-256."""
    files = {}
    for p in sorted(tmp.rglob("*")):
        if p.is_file():
            files[p.relative_to(tmp).as_posix()] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    cut = context["cutoff"]
    manifest = {
        "manifest_format": MANIFEST_FORMAT,
        "release": cut,
        "cutoff": cut,
        "dictionary_version": context["dictionary_version"],
        "code_version": code_version(),
        "built_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "tables_sha256": context["tables_sha256"],
        "suppression_threshold": context["threshold"],
        "schemas": list(schemas) + ["regulatory"],
        "tables": table_meta,
        "row_counts": {k: v["rows"] for k, v in table_meta.items()},
        "files": files,
        "quality_summary": context["quality_summary"],
        "site_scorecard": context["scorecard"],
        "excluded_column_names": sorted(forbidden),
        "notes": context["regulatory_notes"],
    }
    with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        fh.write("\n")
    _stage("manifest")
    return manifest


def _checked_copy(src, db_path: Path, tables: list, tmp: Path, schemas, cutoff: date, config, exporter, dictionary):
    """Check the warehouse's tables and copy them into the new release database (`_copy_tables`); refuses with
    `check_source`'s list of problems (every value checked in the warehouse, as before any copy) on any problem.
    Returns the open release database, the column comments and the copied tables' rows."""
    import duckdb

    forbidden = forbidden_columns(config, dictionary)  # names only, read from the dictionary in hand
    copy = None
    if not check_source(src, tables, cutoff, config, forbidden, values=False):
        dst = duckdb.connect(str(db_path))
        for schema in schemas:
            dst.execute(f"CREATE SCHEMA IF NOT EXISTS {_qi(schema)}")
        copy = _copy_tables(src, dst, tables, tmp, config, exporter, dictionary)
        if copy is None:
            dst.close()
    if copy is None:
        problems = check_source(src, tables, cutoff, config, forbidden) or ["RRN-shaped values in the warehouse"]
        raise ReleaseError("refusing to publish:\n  " + "\n  ".join(problems))
    return dst, copy["comments"], copy["copied"]


def _build_into(
    tmp: Path,
    warehouse: Path,
    cutoff: date,
    schemas: tuple[str, ...],
    quality_summary: dict | None,
    config: ReleaseConfig,
    dictionary,
    extras: bool,
) -> dict[str, Any]:
    import duckdb

    from kocartr.release import exports, guide, regulatory

    cut = cutoff.isoformat()
    forbidden = forbidden_columns(config, dictionary)
    db_path = tmp / RELEASE_DB
    # 1. read the warehouse read-only (never a writer), check, copy into a new DuckDB file (+ Parquet, CSV, XPT)
    exporter = exports.Exporter(tmp, {}, cutoff)
    src = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = _source_tables(src, schemas)
        scorecard = read_scorecard(src, cutoff)
        exporter.table_labels = _table_comments(src, schemas)
        dst, comments, copied = _checked_copy(src, db_path, tables, tmp, schemas, cutoff, config, exporter, dictionary)
    finally:
        src.close()
    try:
        # 2. regulatory views, built from the copied marts/adam inside the release database
        notes = regulatory.build_regulatory_views(dst, cutoff, config, dictionary)
        _stage("regulatory")
        # 3. column descriptions; 4. one Parquet per table (the copied tables' files were written in step 1)
        released = _source_tables(dst, schemas + ("regulatory",))
        col_docs = _describe_columns(dst, released, comments, dictionary)
        table_meta = _table_meta(dst, released, copied, col_docs, tmp)
    finally:
        dst.execute("CHECKPOINT")
        dst.close()
    if Path(str(db_path) + ".wal").exists():  # pragma: no cover - a clean close leaves none
        raise ReleaseError("release database left a WAL file after close")
    context = {
        "cutoff": cut,
        "dictionary_version": dictionary.version,
        "tables_sha256": tables_fingerprint(cut, dictionary.version, table_meta),
        "threshold": config.threshold,
        "quality_summary": quality_summary or {},
        "package_version": code_version()["package"],
        "regulatory_notes": notes,
        "scorecard": (quality_summary or {}).get("sites") or scorecard,
    }
    # 5. guide, define.xml (the CSV and XPT files were written in step 1), workbook, figures and report (read from the
    # finished release database, read-only); 6. the manifest
    guide.write_guide(tmp, context, table_meta, col_docs)
    (tmp / "define.xml").write_text(exports.define_xml(exporter.datasets, cutoff, dictionary.version), encoding="utf-8")
    _stage("exports")
    if extras:
        _write_extras(tmp, db_path, context, config)
    return _write_manifest(tmp, context, schemas, table_meta, forbidden)


def _table_comments(con, schemas: Iterable[str]) -> dict[str, str]:
    """`schema.table` -> the table's description (dbt model docs persisted as DuckDB comments)."""
    schemas = list(schemas)
    rows = con.execute(
        f"""SELECT schema_name, table_name, comment FROM duckdb_tables()
                           WHERE schema_name IN ({",".join("?" * len(schemas))}) AND comment IS NOT NULL""",
        schemas,
    ).fetchall()
    return {f"{s}.{t}": c for s, t, c in rows}


def publish_release(
    warehouse: Path | str,
    cutoff: date,
    out_dir: Path | str,
    schemas: Iterable[str] = ("marts", "adam", "analysis"),
    quality_summary: dict | None = None,
    *,
    config: ReleaseConfig | None = None,
    dictionary=None,
    extras: bool = True,
) -> Path:
    """Build the release of `cutoff` from `warehouse` (opened read-only) and publish it atomically as
    `out_dir/<cutoff>/`. Raises ReleaseExistsError if that release exists, ReleaseError if the warehouse holds
    something that must not be released or the built folder fails verification. Returns the release path."""
    from kocartr.dictionary import load_dictionary

    warehouse, out_dir = Path(warehouse), Path(out_dir)
    if isinstance(cutoff, datetime):
        cutoff = cutoff.date()
    if not isinstance(cutoff, date):
        cutoff = date.fromisoformat(str(cutoff))
    if not warehouse.is_file():
        raise FileNotFoundError(f"warehouse not found: {warehouse}")
    config = config or load_release_config()
    dictionary = dictionary or load_dictionary()
    final = out_dir / cutoff.isoformat()
    if final.exists():
        raise ReleaseExistsError(f"release {final} exists; releases are immutable (build another cut-off)")
    out_dir.mkdir(parents=True, exist_ok=True)
    cleanup_stale_builds(out_dir)
    tmp = out_dir / f"{BUILDING_PREFIX}{cutoff.isoformat()}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        _stage("start")
        _build_into(tmp, warehouse, cutoff, tuple(schemas), quality_summary, config, dictionary, extras)
        # Final scan with the one screening function: every file and folder name, every text cell and number of
        # every table (once, in the release database: Parquet, CSV and XPT files hold the same values, and are
        # scanned for their headers), every part of the workbook (cells, sheet names), every text file.
        found = scan_release(tmp, RELEASE_DB)
        if found:
            raise ReleaseError(
                "refusing to publish, identifiers in the built release:\n  " + "\n  ".join(map(str, found))
            )
        _stage("scanned")
        _set_read_only(tmp)
        problems = verify_release(tmp)
        if problems:
            raise ReleaseError("built release does not verify:\n  " + "\n  ".join(problems))
        _fsync_tree(tmp)
        _stage("verified")
        if final.exists():
            raise ReleaseExistsError(f"release {final} appeared during the build; not overwritten")
        try:
            os.rename(tmp, final)  # the one publishing step
        except OSError as exc:  # ENOTEMPTY/EEXIST: a concurrent build won the race
            raise ReleaseExistsError(f"release {final} exists; not overwritten ({exc})") from exc
        _fsync_dir(out_dir)
        _stage("published")
        return final
    except BaseException:
        if tmp.exists():
            _make_writable(tmp)
            shutil.rmtree(tmp, ignore_errors=True)
        raise


# --------------------------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------------------------
def verify_release(path: Path | str, check_modes: bool = True, check_database: bool = True) -> list[str]:
    """Problems with a release folder (empty list = it verifies): manifest readable; exactly the files it lists,
    each with its size and SHA-256; row counts equal in the Parquet files and the DuckDB file; the data
    fingerprint recomputes; files read-only."""
    path = Path(path)
    problems: list[str] = []
    mf = path / MANIFEST
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"manifest unreadable: {exc}"]
    files = manifest.get("files") or {}
    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()} - {MANIFEST}
    for rel in sorted(set(files) - present):
        problems.append(f"missing file {rel}")
    for rel in sorted(present - set(files)):
        problems.append(f"file not in manifest {rel}")
    for rel in sorted(set(files) & present):
        p = path / rel
        if p.stat().st_size != files[rel].get("bytes"):
            problems.append(f"size differs {rel}")
        elif sha256_file(p) != files[rel].get("sha256"):
            problems.append(f"SHA-256 differs {rel}")
        if check_modes and p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            problems.append(f"file is writable {rel}")
    if check_modes and mf.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        problems.append("manifest.json is writable")
    tables = manifest.get("tables") or {}
    if tables_fingerprint(manifest.get("cutoff", ""), manifest.get("dictionary_version", ""), tables) != manifest.get(
        "tables_sha256"
    ):
        problems.append("tables_sha256 does not match the table entries")
    if problems:
        return problems
    import pyarrow.parquet as pq

    for name, meta in sorted(tables.items()):
        pfile = path / meta["parquet"]
        if files.get(meta["parquet"], {}).get("sha256") != meta.get("parquet_sha256"):
            problems.append(f"{name}: Parquet hash differs between tables and files")
        if pq.read_metadata(pfile).num_rows != meta["rows"]:
            problems.append(f"{name}: Parquet row count differs from the manifest")
    if check_database and (path / RELEASE_DB).is_file():
        import duckdb

        try:
            con = duckdb.connect(str(path / RELEASE_DB), read_only=True)
        except Exception as exc:  # noqa: BLE001 - report, do not raise
            return problems + [f"release database does not open read-only: {exc}"]
        try:
            for name, meta in sorted(tables.items()):
                schema, table = name.split(".", 1)
                try:
                    n = con.sql(f"SELECT count(*) FROM {_qi(schema)}.{_qi(table)}").fetchall()[0][0]
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"{name}: not readable in the release database ({exc})")
                    continue
                if n != meta["rows"]:
                    problems.append(f"{name}: {n} rows in the release database, manifest says {meta['rows']}")
        finally:
            con.close()
    return problems
