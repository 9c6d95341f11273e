"""The readable summary `kocartr run` prints: what was ingested, which gates passed or failed and why, where to look."""

from __future__ import annotations

from pathlib import Path

from kocartr.warehouse import column_exists, table_exists
from orchestration.runner import PipelineResult

KEY_TABLES = ("adam.adsl", "adam.adtte", "adam.adae")  # and every table of schema analysis (analysis_tables)

# What to do about each kind of failure, said where the failure is named.
NEXT_BLOCKING = (
    "next: the failing records are in audit.dq_failing_records and the sites' query workbooks; rerun after the "
    "sites correct them"
)
NEXT_WARNING = "next: nothing blocks; the sites see the records in their query workbooks"
NEXT_STEP = "next: fix the cause named here, then run the same command again (nothing published is changed)"


def analysis_tables(con) -> list[str]:
    """Every table of schema analysis, as the analysis assets wrote them (a new analysis appears unlisted here)."""
    return [
        f"analysis.{t}"
        for (t,) in con.sql(
            "select table_name from information_schema.tables where table_schema = 'analysis' order by table_name"
        ).fetchall()
    ]


def linkage_line(con) -> str:
    """What the national linkage returns hold (current records per form, rows quarantined, each source's latest
    completeness date), or that none arrived."""
    from kocartr.dictionary import load_dictionary

    d = load_dictionary()
    forms = [n for n, f in d.forms.items() if not f.is_site_form and table_exists(con, f"raw.{n}")]
    counts = {
        n: con.sql(f"select count(*) from raw.{n} where _is_current and record_action = 'U'").fetchall()[0][0]
        for n in forms
    }
    if not any(counts.values()):
        return "linkage: no national linkage returns"
    quarantined = con.sql(
        "select count(distinct (source_file, source_row)) from audit.quarantine where list_contains(?, site_code)",
        params=[sorted(d.sources)],
    ).fetchall()[0][0]
    complete = con.sql(
        "select linkage_source, max(complete_through) from raw.linkage_completeness "
        "where _is_current and record_action = 'U' group by 1 order by 1"
    ).fetchall()
    return (
        "linkage: "
        + ", ".join(f"{n} {c}" for n, c in counts.items() if n != "linkage_completeness")
        + f" records; {quarantined} rows quarantined; complete through "
        + (", ".join(f"{src} {day}" for src, day in complete) or "no date")
    )


def _rejected(con) -> str:
    """'3 files rejected (120 rows read, 1 not read)': the rows a rejected file held are not in the rows received."""
    has_rows = column_exists(con, "audit.file_rejects", "rows_read")
    rows = "coalesce(sum(rows_read), 0), count(distinct source_file) filter (where rows_read is null)"
    n, read, unread = con.sql(
        f"select count(distinct source_file), {rows if has_rows else 'null, null'} from audit.file_rejects"
    ).fetchall()[0]
    if not n or read is None:
        return f"{n} files rejected"
    from kocartr.ingest.pipeline import rows_read_note

    return f"{n} files rejected{rows_read_note(read, unread)}"


def _warehouse_lines(warehouse: Path) -> list[str]:
    import duckdb

    if not warehouse.exists():
        return ["warehouse: not created"]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        lines = []
        if table_exists(con, "audit.ingest_ledger"):
            files, received, accepted, quarantined = con.sql(
                "select count(*), coalesce(sum(rows_received), 0), coalesce(sum(rows_accepted), 0), "
                "coalesce(sum(rows_quarantined), 0) from audit.ingest_ledger"
            ).fetchall()[0]
            lines.append(
                f"ingest: {files} files, {received} rows received = {accepted} accepted + "
                f"{quarantined} quarantined; {_rejected(con)}"
            )
            rules = con.sql(
                "select rule, count(distinct (source_file, source_row)) as n from audit.quarantine "
                "group by rule order by n desc, rule"
            ).fetchall()
            if rules:
                lines.append("quarantine by rule: " + ", ".join(f"{r} {n}" for r, n in rules))
            lines.append(linkage_line(con))
        counts = []
        for table in [*KEY_TABLES, *analysis_tables(con)]:
            n = con.sql(f"select count(*) from {table}").fetchall()[0][0] if table_exists(con, table) else "not built"
            counts.append(f"{table} {n}")
        lines.append("rows: " + ", ".join(counts))
        return lines
    finally:
        con.close()


def site_failure_lines(warehouse: Path, month: str) -> list[str]:
    """Checks that fail at a site (its own share over the rule's threshold), also when they pass overall."""
    import duckdb
    import polars as pl

    from expectations import site_verdicts

    if not warehouse.is_file():
        return []
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        if not table_exists(con, "audit.dq_results"):
            return []
        failed = site_verdicts(con, month).filter(~pl.col("passed"))
    finally:
        con.close()
    if failed.is_empty():
        return ["per-site verdicts: every check passes at every site"]
    checks = failed.group_by("check_name", maintain_order=True).agg(pl.all())
    lines = [
        f"per-site verdicts: {checks.height} check(s) FAILED at one or more sites (the rule's threshold applied "
        "to each site's own share); those that pass overall are listed here, the others above"
    ]
    for r in checks.sort("check_name").iter_rows(named=True):
        if not all(r["overall_passed"]):
            continue
        effect = (
            "blocks"
            if r["blocks"][0] and r["severity"][0] == "critical"
            else ("fails the check" if r["blocks"][0] else "reported, does not block (config)")
        )
        sites = ", ".join(
            f"{site} {n}/{d} ({share:.1%})"
            for site, n, d, share in zip(r["site_code"], r["rows_failing"], r["rows_checked"], r["failing_share"])
        )
        lines.append(
            f"  - {r['check_name']} [{r['severity'][0]}], passes overall, FAILED at {sites} "
            f"(> {r['threshold'][0]:.1%}); {effect}; next: the site's query workbook lists the records"
        )
    return lines


def format_summary(result: PipelineResult, warehouse: Path) -> str:
    out = [f"Ko-CARTR run for registry month {result.month}", ""]
    for stage in result.stages:
        status = "succeeded" if stage.success else "FAILED"
        out.append(f"[{stage.job}] {stage.partition}: {status}")
        failed = [c for c in stage.checks if not c.passed]
        out.append(f"  checks: {len(stage.checks) - len(failed)} passed, {len(failed)} failed")
        for c in sorted(failed, key=lambda c: (not c.blocking, c.asset, c.check)):
            kind = "BLOCKING" if c.blocking else c.severity.lower()
            out.append(f"  - {kind} {c.asset} :: {c.check}: {c.description}".rstrip(": "))
        if any(c.blocking for c in failed):
            out.append(f"    {NEXT_BLOCKING}")
        elif failed:
            out.append(f"    {NEXT_WARNING}")
        if stage.failed_steps:
            out.append(f"  failed steps: {', '.join(stage.failed_steps)}")
            for step in stage.failed_steps:
                if stage.errors.get(step):
                    out.append(f"  - {step}: {stage.errors[step]}")
            out.append(f"    {NEXT_STEP}")
        if stage.skipped_steps:
            out.append(f"  not run (stopped by a failure upstream): {', '.join(stage.skipped_steps)}")
    out.append("")
    out.extend(_warehouse_lines(warehouse))
    out.extend(site_failure_lines(warehouse, result.month))
    out.append("")
    for label, path in (("release", result.release_path), ("site query workbooks", result.queries_path)):
        if path and Path(path).is_dir():
            out.append(f"{label}: {path}")
    if result.log_file:
        out.append(f"full log: {result.log_file}")
    if result.dagster_home:
        out.append(f"Dagster instance (runs, partitions, check results; `make ui`): {result.dagster_home}")
    if result.release_state:
        fingerprint = result.release_metadata.get("tables_sha256", "")
        out.append(
            f"release {Path(result.release_path).name}: {result.release_state}"
            + (f"; fingerprint (tables_sha256) {fingerprint}" if fingerprint else "")
        )
    if result.stopped:
        out.append(f"STOPPED: {result.stopped}")
    elif result.success:
        out.append(f"OK: warehouse {warehouse}")
    else:
        out.append(
            "STOPPED: a blocking quality gate or a step failed; see above. Failing records are in "
            "audit.dq_results and audit.quarantine; `kocartr queries --site CODE` writes a site's queries."
        )
    return "\n".join(out)


def status_lines(warehouse: Path, release_dir: Path) -> list[str]:
    """`kocartr status`: what the warehouse holds now (read-only; nothing is built)."""
    import duckdb

    from kocartr.release import list_releases
    from kocartr.warehouse import WarehouseError, check_warehouse_path

    check_warehouse_path(warehouse, must_exist=True)
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        raise WarehouseError(
            f"warehouse {warehouse} cannot be read now ({str(exc).splitlines()[0]}); a run may be writing it"
        ) from None
    try:
        out = [f"warehouse: {warehouse}"]
        built = (
            con.sql("select data_cutoff from intermediate.int_data_cutoff").fetchall()[0][0]
            if table_exists(con, "intermediate.int_data_cutoff")
            else None
        )
        out.append(f"last built month: {built.isoformat()[:7] + f' (cut-off {built})' if built else 'none'}")
        if table_exists(con, "audit.ingest_ledger"):
            latest = con.sql(
                "select site_code, max(submission_month), count(*) from audit.ingest_ledger "
                "where site_code is not null group by site_code order by site_code"
            ).fetchall()
            out.append(
                "last ingested batch per site: "
                + (", ".join(f"{s} {m} ({n} files in all)" for s, m, n in latest) or "none")
            )
            queries = con.sql("""
                select site_code, count(distinct (source_file, source_row)) from audit.quarantine
                group by site_code order by site_code""").fetchall()
            rejects = dict(
                con.sql("select coalesce(site_code, '?'), count(*) from audit.file_rejects group by 1").fetchall()
            )
            sites = sorted({s for s, _ in queries} | set(rejects))
            open_rows = dict(queries)
            out.append(
                "open queries by site (quarantined rows / rejected files): "
                + (", ".join(f"{s} {open_rows.get(s, 0)}/{rejects.get(s, 0)}" for s in sites) or "none")
            )
    finally:
        con.close()
    out.extend(_warehouse_lines(warehouse)[-1:])  # the row counts
    releases = list_releases(release_dir) if release_dir.is_dir() else []
    out.append(f"releases in {release_dir}: " + (", ".join(p.name for p in releases) or "none"))
    return out
