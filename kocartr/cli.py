"""The `kocartr` command: the entry point for everything a user of the platform does."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _cmd_run(args: argparse.Namespace) -> int:
    from kocartr.ingest import demo_requested, key_settings_from_env
    from orchestration.runner import run_pipeline
    from orchestration.summary import format_summary

    # The environment is read here, at the entry point, and handed to the pipeline as explicit configuration.
    demo = args.demo or demo_requested()
    if demo:
        print("DEMO MODE: pseudonymizing with the published demo key. Never use demo mode for real patient data.")
    home = args.dagster_home or os.environ.get("DAGSTER_HOME")
    result = run_pipeline(
        Path(args.submissions),
        Path(args.warehouse),
        Path(args.release_dir),
        month=args.month,
        demo=demo,
        key_settings=key_settings_from_env(),
        lock_wait=args.lock_wait,
        dagster_home=Path(home) if home else None,
        verbose=args.verbose,
    )
    print(format_summary(result, Path(args.warehouse)))
    if args.timings:
        import dataclasses
        import json

        Path(args.timings).write_text(json.dumps(dataclasses.asdict(result), indent=2), encoding="utf-8")
    return 0 if result.success else 1


def _cmd_synth(args: argparse.Namespace) -> int:
    from kocartr.synth import generate

    summary = generate(
        Path(args.out),
        patients=args.patients,
        sites=args.sites,
        seed=args.seed,
        first_month=args.first_month,
        last_month=args.last_month,
    )
    for k, v in summary.items():
        print(f"{k}: {v}")
    return 0


def _cmd_template(args: argparse.Namespace) -> int:
    from kocartr.template import write_template

    write_template(Path(args.out))
    print(f"wrote {args.out}")
    return 0


def _cmd_queries(args: argparse.Namespace) -> int:
    import os

    import duckdb

    from kocartr.feedback import query_months, query_sites, write_site_queries
    from kocartr.privacy import redact
    from kocartr.warehouse import check_warehouse_path

    warehouse = Path(args.warehouse)
    check_warehouse_path(warehouse, must_exist=True)
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        raise ValueError(f"cannot open warehouse {warehouse}: {str(exc).splitlines()[0]}") from None
    try:
        months, sites = query_months(con), query_sites(con)
        if not months:
            raise ValueError(f"no site queries in {warehouse}: `kocartr run` builds them after the quality gates")
        month = args.month or months[-1]
        if month not in months:
            raise ValueError(f"unknown registry month {redact(month)!r}: queries exist for {', '.join(months)}")
        if args.site not in sites:
            raise ValueError(f"unknown site {redact(args.site)!r}: sites with queries are {', '.join(sites)}")
        root = args.submissions or os.environ.get("KOCARTR_SUBMISSIONS")
        counts = write_site_queries(con, args.site, month, Path(args.out), Path(root) if root else None)
    finally:
        con.close()
    n = sum(v for k, v in counts.items() if k != "site_verdicts")
    print(
        f"wrote {n} queries for site {args.site}, registry month {month}, to {args.out}"
        + ("" if root else " (site record ids not shown: give --submissions)")
    )
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from kocartr.release.__main__ import run_release

    return run_release(args)


def _cmd_status(args: argparse.Namespace) -> int:
    from orchestration.summary import status_lines

    print("\n".join(status_lines(Path(args.warehouse), Path(args.release_dir))))
    return 0


def _cmd_dbt_sync(args: argparse.Namespace) -> int:
    from kocartr.dbt_sync import check, sync

    if args.check:
        stale = check()
        for p in stale:
            print(f"stale: {p}")
        return 1 if stale else 0
    for written in sync():
        print(f"wrote {written}")
    return 0


# ---- key rotation (kocartr rekey) -------------------------------------------------------------------------------
def _cmd_rekey(args: argparse.Namespace) -> int:
    from kocartr.ingest import load_key
    from kocartr.ingest.rekey import read_new_key, rekey

    report = rekey(Path(args.warehouse), Path(args.submissions), load_key(args.demo), read_new_key(args.new_key_file))
    print(report.summary())
    return 0


def _add_rekey(sub) -> None:
    rk = sub.add_parser(
        "rekey",
        help="rotate the registry HMAC key of a warehouse (one transaction)",
        description="Re-key every patient and record key from the current key (KOCARTR_HMAC_KEY / "
        "KOCARTR_HMAC_KEY_FILE, or --demo) to the key in --new-key-file, re-reading "
        "the submission files recorded in the ingest ledger. Run `kocartr run` with "
        "the new key afterwards to rebuild the dbt layers.",
        epilog=_epilog(
            KEY_ENV,
            "KOCARTR_HMAC_KEY_FILE=/secure/old.key kocartr rekey --warehouse out/warehouse.duckdb "
            "--submissions /data/submissions --new-key-file /secure/new.key",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rk.add_argument("--warehouse", required=True, help="DuckDB warehouse file")
    rk.add_argument("--submissions", required=True, help="the submissions tree the warehouse was ingested from")
    rk.add_argument("--new-key-file", required=True, help="file holding the new key (hex or text)")
    rk.add_argument("--demo", action="store_true", help="the current key is the published demo key")
    _examples(
        rk,
        {
            "--warehouse": "--warehouse out/warehouse.duckdb",
            "--submissions": "--submissions /data/kocartr/submissions",
            "--new-key-file": "--new-key-file /secure/registry-2027.key",
            "--demo": "--demo (a demo warehouse moving to a real key)",
        },
    )
    rk.set_defaults(func=_cmd_rekey)


# ---- end key rotation --------------------------------------------------------------------------------------------


EXIT_CODES = """exit codes:
  0  success
  1  the run stopped: a blocking quality gate or a step failed, or there is nothing to release (empty registry);
     a release the warehouse's content forbids; `dbt-sync --check` found stale files; `release --verify` found
     problems
  2  refused before starting, one line on stderr: a bad argument or path, no pseudonymization key, the
     warehouse locked by another process, an existing release"""

KEY_ENV = """environment:
  KOCARTR_HMAC_KEY       the pseudonymization key itself (hex or text), kept apart from the warehouse
  KOCARTR_HMAC_KEY_FILE  else a file holding it (outside the warehouse)
  KOCARTR_DEMO=1         same as --demo: the published demo key (synthetic data only)"""

RUN_ENV = (
    KEY_ENV
    + """
  KOCARTR_LOCK_WAIT      seconds to wait for the warehouse's write lock (default 10; --lock-wait wins)
  DAGSTER_HOME           the Dagster instance that records the run (default: dagster_home/ beside the warehouse;
                         --dagster-home wins)
examples:
  kocartr run --submissions data/sample/submissions --warehouse out/warehouse.duckdb --demo
  KOCARTR_HMAC_KEY_FILE=/secure/registry.key kocartr run --submissions /data/kocartr/submissions \
--warehouse /data/kocartr/warehouse.duckdb --release-dir /data/kocartr/releases --month 2026-09"""
)

NO_ENV = "environment: none read"


def _epilog(environment: str | None, *examples: str) -> str:
    """A command's help epilog: the environment it reads, its examples, the exit codes (one layout everywhere)."""
    head = f"{environment}\n" if environment else ""
    label = "example" if len(examples) == 1 else "examples"
    body = f"{label}:\n" + "".join(f"  {e}\n" for e in examples) if examples else ""
    return head + body + EXIT_CODES


def _examples(parser: argparse.ArgumentParser, examples: dict[str, str]) -> argparse.ArgumentParser:
    """Append an example to each option's help (`--month 2026-09`); every option of every command has one
    (tests/orchestration/test_cli_help.py)."""
    for action in parser._actions:  # noqa: SLF001 (argparse has no public list of a parser's options)
        flag = next((o for o in action.option_strings if o.startswith("--")), None)
        if flag in examples:
            action.help = f"{action.help or ''}; e.g. {examples[flag]}".lstrip("; ")
    return parser


def _add_run(sub) -> None:
    run = sub.add_parser(
        "run",
        help="ingest a submissions folder and build the monthly dataset",
        description="Ingest every site-month batch up to the registry month, build the warehouse "
        "as of the month's last day (dbt layers and quality gates), compute the "
        "analyses and publish the month's immutable release. The terminal shows one line per step "
        "(with progress on long steps) and a summary; the full log goes to logs/ beside the warehouse.",
        epilog=_epilog(RUN_ENV),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--submissions", required=True, help="submissions tree: <SITE>/<YYYY-MM>/<form>.csv|xlsx")
    run.add_argument("--warehouse", required=True, help="DuckDB warehouse file (created if missing)")
    run.add_argument("--release-dir", default="out/releases", help="where monthly releases are published")
    run.add_argument("--month", help="registry month to build (YYYY-MM); default: the latest submitted")
    run.add_argument("--demo", action="store_true", help="use the published demo pseudonymization key")
    run.add_argument("--timings", help="write the run's stages, checks and per-step seconds to this JSON file")
    run.add_argument(
        "--dagster-home",
        metavar="DIR",
        help="the project's Dagster instance, where the run is recorded for `make ui` "
        "(default: env DAGSTER_HOME, else dagster_home/ beside the warehouse)",
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="stream Dagster's and dbt's full log to the terminal (default: one line per step; "
        "the full log goes to logs/run-*.log beside the warehouse)",
    )
    run.add_argument(
        "--lock-wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait for the warehouse's write lock when another process holds it "
        "(default 10; env KOCARTR_LOCK_WAIT)",
    )
    _examples(
        run,
        {
            "--submissions": "--submissions data/sample/submissions",
            "--warehouse": "--warehouse out/warehouse.duckdb",
            "--release-dir": "--release-dir /data/kocartr/releases",
            "--month": "--month 2026-09 (rebuilds a past month as of its own cut-off)",
            "--demo": "--demo (synthetic data only)",
            "--timings": "--timings out/timings.json",
            "--dagster-home": "--dagster-home out/dagster_home",
            "--verbose": "-v",
            "--lock-wait": "--lock-wait 60",
        },
    )
    run.set_defaults(func=_cmd_run)


def _add_synth_template(sub) -> None:
    synth = sub.add_parser(
        "synth",
        help="generate synthetic monthly site submissions with ground truth",
        description="Synthetic site submissions (OUT/submissions/) and the truth they were drawn from "
        "(OUT/ground_truth/, kept apart), with the defects sites make, for tests and demos.",
        epilog=_epilog(NO_ENV, "kocartr synth --out /tmp/synth --patients 200 --sites 3 --seed 7"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    synth.add_argument("--out", required=True, help="output folder: OUT/submissions/ and OUT/ground_truth/")
    synth.add_argument("--patients", type=int, default=400, help="patients to generate (default 400)")
    synth.add_argument("--sites", type=int, default=5, help="number of sites, S01.. (default 5)")
    synth.add_argument("--seed", type=int, default=1, help="random seed: same seed, same files (default 1)")
    synth.add_argument("--first-month", default="2021-04", help="first submission month, YYYY-MM (default 2021-04)")
    synth.add_argument("--last-month", default="2026-10", help="last submission month, YYYY-MM (default 2026-10)")
    _examples(
        synth,
        {
            "--out": "--out /tmp/synth",
            "--patients": "--patients 1000",
            "--sites": "--sites 3",
            "--seed": "--seed 7",
            "--first-month": "--first-month 2023-01",
            "--last-month": "--last-month 2024-06",
        },
    )
    synth.set_defaults(func=_cmd_synth)

    tpl = sub.add_parser(
        "template",
        help="write the site submission template (XLSX) from the dictionary",
        description="The XLSX template sites fill in: one sheet per form, columns, code lists and rules from the "
        "data dictionary, in Korean and English.",
        epilog=_epilog(NO_ENV, "kocartr template --out template.xlsx"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tpl.add_argument("--out", required=True, help="the XLSX file to write (one sheet per form)")
    _examples(tpl, {"--out": "--out out/ko-cartr-template.xlsx"})
    tpl.set_defaults(func=_cmd_template)


def _add_queries_release(sub) -> None:
    q = sub.add_parser(
        "queries",
        help="write a site's query workbook for a registry month (audit.site_queries)",
        description="What one site must fix, from audit.site_queries (built by `kocartr run` after every gate), "
        "as a bilingual workbook with the site's own record ids read back from its files.",
        epilog=_epilog(
            "environment:\n  KOCARTR_SUBMISSIONS    the submissions tree when --submissions is not given",
            "kocartr queries --site S01 --out S01-queries.xlsx --warehouse out/warehouse.duckdb "
            "--submissions data/sample/submissions",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("--site", required=True, help="the site's code")
    q.add_argument("--out", required=True, help="the workbook to write (XLSX)")
    q.add_argument("--warehouse", default="out/warehouse.duckdb", help="DuckDB warehouse file (read-only)")
    q.add_argument("--month", help="registry month (YYYY-MM); default: the latest with queries")
    q.add_argument(
        "--submissions", help="submissions tree, to show the site's own record ids (default: $KOCARTR_SUBMISSIONS)"
    )
    _examples(
        q,
        {
            "--site": "--site S01",
            "--out": "--out S01-queries.xlsx",
            "--warehouse": "--warehouse out/warehouse.duckdb",
            "--month": "--month 2026-09",
            "--submissions": "--submissions data/sample/submissions",
        },
    )
    q.set_defaults(func=_cmd_queries)

    from kocartr.release.__main__ import add_release_arguments

    rel = add_release_arguments(
        sub.add_parser(
            "release",
            help="publish an immutable release of a built warehouse (or --verify / --list releases)",
            description="Publish OUT/<cutoff>/ from a built warehouse (never overwrites), verify a published "
            "release, or list the releases.",
            epilog=_epilog(
                NO_ENV,
                "kocartr release --warehouse out/warehouse.duckdb --cutoff 2026-10-31 --out out/releases",
                "kocartr release --verify out/releases/2026-10-31",
            ),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    _examples(
        rel,
        {
            "--warehouse": "--warehouse out/warehouse.duckdb",
            "--cutoff": "--cutoff 2026-10-31",
            "--out": "--out out/releases",
            "--quality-summary": "--quality-summary out/quality.json",
            "--verify": "--verify out/releases/2026-10-31",
            "--list": "--list out/releases",
        },
    )
    rel.set_defaults(func=_cmd_release)


def _add_status_sync(sub) -> None:
    status = sub.add_parser(
        "status",
        help="what a warehouse holds: last built month, last batches, queries, releases",
        description="Read-only: last ingested batch per site, last built month, open queries "
        "by site, key table sizes and the releases published.",
        epilog=_epilog(NO_ENV, "kocartr status --warehouse out/warehouse.duckdb"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("--warehouse", default="out/warehouse.duckdb", help="DuckDB warehouse file (read-only)")
    status.add_argument("--release-dir", default="out/releases", help="where releases are published")
    _examples(
        status, {"--warehouse": "--warehouse out/warehouse.duckdb", "--release-dir": "--release-dir out/releases"}
    )
    status.set_defaults(func=_cmd_status)

    sync = sub.add_parser(
        "dbt-sync",
        help="regenerate dbt sources and code-list seeds from the dictionary",
        description="Regenerate the dbt sources, staging models and the code-list seed from "
        "data/dictionary/dictionary.yaml (run it after changing the dictionary).",
        epilog=_epilog(NO_ENV, "kocartr dbt-sync", "kocartr dbt-sync --check"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sync.add_argument("--check", action="store_true", help="only report stale generated files (exit 1 if any)")
    _examples(sync, {"--check": "--check (in CI)"})
    sync.set_defaults(func=_cmd_dbt_sync)


def build_parser() -> argparse.ArgumentParser:
    from kocartr import __version__

    p = argparse.ArgumentParser(
        prog="kocartr",
        description="Ko-CARTR registry data platform. `kocartr COMMAND --help` explains each command, its "
        "options with examples, the environment variables it reads and its exit codes.",
        epilog=_epilog(
            None, "kocartr run --submissions data/sample/submissions --warehouse out/warehouse.duckdb --demo"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"kocartr {__version__}")
    _examples(p, {"--version": "kocartr --version"})
    sub = p.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_synth_template(sub)
    _add_queries_release(sub)
    _add_status_sync(sub)
    _add_rekey(sub)
    from kocartr.release.analyze import add_analyze_parser  # subgroup questions on a release (own module)

    an = add_analyze_parser(sub)
    an.formatter_class = argparse.RawDescriptionHelpFormatter
    an.epilog = _epilog(
        NO_ENV,
        "kocartr analyze --release out/releases/2026-10-31 --endpoint OS "
        "--where \"PRODUCT = 'AXI_CEL' AND AGE >= 65\" --by DISGRP",
    )
    _examples(
        an,
        {
            "--release": "--release out/releases/2026-10-31",
            "--where": "--where \"PRODUCT = 'AXI_CEL' AND AGE >= 65\"",
            "--out": "--out /tmp/os_axicel_65",
        },
    )
    return p


def main(argv: list[str] | None = None) -> int:
    from kocartr.ingest.privacy import MissingKeyError
    from kocartr.release import ReleaseError
    from kocartr.warehouse import WarehouseError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    # Refusals of what the user asked for (bad path, existing release, missing key, locked warehouse): one line on
    # stderr, exit 2. A release the data forbids (ReleaseError) and a failed run or gate exit 1.
    except (ValueError, OSError, MissingKeyError, WarehouseError) as exc:
        return _error(args.command, exc, 2)
    except ReleaseError as exc:
        return _error(args.command, exc, 1)


def _error(command: str, exc: BaseException, code: int) -> int:
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    print(f"kocartr {command}: error: {text}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
