"""Immutable versioned monthly releases: read-only DuckDB + Parquet + manifest, HTA workbook, figures, report,
regulatory views. Entry point: `publish_release`; readers: `list_releases`, `verify_release`."""

from kocartr.release.publish import (
    ReleaseError,
    ReleaseExistsError,
    cleanup_stale_builds,
    list_releases,
    publish_release,
    verify_release,
)

__all__ = [
    "ReleaseError",
    "ReleaseExistsError",
    "cleanup_stale_builds",
    "list_releases",
    "publish_release",
    "verify_release",
]
