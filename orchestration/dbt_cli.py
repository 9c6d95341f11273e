"""The project's one dbt parse: made when the project files change, reused by every build (dbt_build.py) and test."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kocartr.paths import CONFIG_DIR, DBT_PROJECT_DIR

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
_SOURCE_DIRS = ("models", "seeds", "macros", "tests")


def manifest_is_stale(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    manifest = project_dir / "target" / "manifest.json"
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    watched = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    # data/config holds the clinical-rule seeds (seed-paths in dbt_project.yml)
    for folder in [project_dir / sub for sub in _SOURCE_DIRS] + [CONFIG_DIR]:
        watched.extend(p for p in folder.rglob("*") if p.is_file())
    return any(p.exists() and p.stat().st_mtime > built for p in watched)


# The one parse of the project, shared by every run and invocation. Its profile path is never opened (`dbt parse`
# does not connect); its file name names the DuckDB catalog of every node, so only a warehouse of the same name
# ("warehouse.duckdb", the default) reuses it, and any other name gets a full parse of its own (correct, slower).
PARSE_WAREHOUSE = "warehouse.duckdb"
PARTIAL_PARSE = "partial_parse.msgpack"


def ensure_manifest(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Run `dbt parse` (~6 s CPU) only when the project files changed. The warehouse path and the cut-off are not
    parse inputs: each invocation gets the parse stamped with its own profile (`reuse_parse`), and the cut-off
    macro reads its environment variable only when dbt executes a node."""
    manifest = project_dir / "target" / "manifest.json"
    if manifest_is_stale(project_dir) or not (project_dir / "target" / PARTIAL_PARSE).exists():
        parsed = _parse(project_dir)
        _FRESH.clear()
        _FRESH[(str(manifest), manifest.stat().st_mtime_ns)] = parsed
    return manifest


# The parse this process made (dbt's Manifest), for the manifest file it wrote: the run that found the project
# changed builds with it (dbt_build.parsed_project) instead of loading the files it has just written.
_FRESH: dict[tuple[str, int], Any] = {}


def fresh_parse(manifest: Path) -> Any | None:
    """dbt's Manifest behind `manifest` if this process parsed it, else None."""
    return _FRESH.get((str(manifest), manifest.stat().st_mtime_ns))


def _parse(project_dir: Path) -> Any:
    """Parse in this process (dbt is loaded for the builds anyway) into a private folder, then move the results into
    target/ (manifest last, the staleness marker): two runs starting together never read a half-written manifest,
    and each writes complete files. Returns dbt's Manifest."""
    import tempfile

    from dbt.cli.main import dbtRunner

    from orchestration.dbt_build import close_dbt_duckdb, write_profiles

    target = project_dir / "target"
    target.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".parse-", dir=target) as scratch:
        profiles = write_profiles(str(target / PARSE_WAREHOUSE), Path(scratch) / "profiles", project_dir)
        result = dbtRunner().invoke(
            ["parse", "--project-dir", str(project_dir), "--profiles-dir", str(profiles), "--target-path", scratch]
            + ["--quiet", "--log-level-file", "none", "--no-send-anonymous-usage-stats"]  # no dbt.log growing
        )
        close_dbt_duckdb()
        if not result.success:
            raise RuntimeError(f"dbt parse failed: {result.exception}")
        for name in (PARTIAL_PARSE, "manifest.json"):
            os.replace(Path(scratch) / name, target / name)
    return result.result


def project_profiles(project_dir: Path = DBT_PROJECT_DIR) -> tuple[dict[str, Any], dict[str, Any]]:
    """The project's profiles.yml, and within it the output of the profile's target (path, threads, settings)."""
    import yaml

    profiles = yaml.safe_load((project_dir / "profiles.yml").read_text(encoding="utf-8"))
    profile = profiles["kocartr"]
    return profiles, profile["outputs"][profile["target"]]


def _profile_settings(project_dir: Path = DBT_PROJECT_DIR) -> dict[str, Any]:
    """The DuckDB `settings` of the project's profile, part of the profile's checksum."""
    return dict(project_profiles(project_dir)[1].get("settings") or {})


def profile_hash(warehouse: str) -> str:
    """The checksum dbt (dbt-duckdb 1.11) keeps of this project's profile in its partial parse: sha256 of the
    pretty-printed, sorted connection keys of the profile in profiles.yml for that warehouse path. A mismatch only
    costs a full parse (dbt checks it), and a test compares it with dbt's own computation."""
    import hashlib
    import pprint

    database = Path(warehouse).name.lstrip(".").split(".")[0]  # DuckDB names the catalog after the file name
    keys: dict[str, Any] = {
        "attach": None,
        "config_options": None,
        "database": database,
        "disable_transactions": False,
        "extensions": None,
        "external_root": ".",
        "filesystems": None,
        "path": warehouse,
        "plugins": None,
        "remote": None,
        "schema": "main",
        "settings": _profile_settings(),
        "use_credential_provider": None,
    }
    return hashlib.sha256(pprint.pformat(sorted(keys.items())).encode("utf-8")).hexdigest()


def reuse_parse(warehouse: str, target_path: Path, project_dir: Path = DBT_PROJECT_DIR) -> bool:
    """Give a dbt invocation writing to `target_path` the project's parse, stamped with the profile of `warehouse`,
    so that dbt re-reads only changed files instead of parsing the project again (it compares the profile's
    checksum, and the path is part of the profile). dagster-dbt copies the parse only when none is there yet.
    False (dbt then parses in full) when there is no parse or the warehouse file has another name."""
    import msgpack

    source = project_dir / "target" / PARTIAL_PARSE
    if Path(warehouse).name != PARSE_WAREHOUSE or not source.exists():
        return False
    state = msgpack.unpackb(source.read_bytes(), raw=False, strict_map_key=False)
    state["state_check"]["profile_hash"] = {"name": "sha256", "checksum": profile_hash(warehouse)}
    target_path.mkdir(parents=True, exist_ok=True)
    (target_path / PARTIAL_PARSE).write_bytes(msgpack.packb(state))
    return True
