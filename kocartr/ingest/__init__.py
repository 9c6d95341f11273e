"""Ingestion: every submitted row lands in raw.<form> (pseudonymized, versioned) or in audit.quarantine with a
bilingual reason; every unreadable file lands in audit.file_rejects; audit.ingest_ledger accounts for the rest.

Public API (the CLI and Dagster wire around these):
    discover_batches(root) -> list[Batch]
    ingest(con, root, key, batches=None) -> IngestReport
    load_key(demo=False) -> bytes        the key as the environment names it (entry points)
    resolve_key(hmac_key, hmac_key_file, demo) -> bytes   the key from explicit settings (the pipeline)
    check_warehouse_key(path, key)      refuses a key the warehouse was not built with
"""

from kocartr.ingest.discover import Batch, SubmissionsLayoutError, discover_batches
from kocartr.ingest.pipeline import FileResult, IngestError, IngestReport, check_warehouse_key, ingest
from kocartr.ingest.privacy import (
    DEMO_KEY,
    KeyMismatchError,
    MissingKeyError,
    demo_requested,
    key_settings_from_env,
    load_key,
    patient_key,
    resolve_key,
)

__all__ = [
    "Batch",
    "DEMO_KEY",
    "FileResult",
    "IngestError",
    "IngestReport",
    "KeyMismatchError",
    "MissingKeyError",
    "SubmissionsLayoutError",
    "check_warehouse_key",
    "demo_requested",
    "discover_batches",
    "ingest",
    "key_settings_from_env",
    "load_key",
    "patient_key",
    "resolve_key",
]
