"""Ingestion: every submitted row lands in raw.<form> (pseudonymized, versioned) or in audit.quarantine with a
bilingual reason; every unreadable file lands in audit.file_rejects; audit.ingest_ledger accounts for the rest.

Public API (the CLI and Dagster wire around these):
    discover_batches(root) -> list[Batch]
    ingest(con, root, key, batches=None) -> IngestReport
    load_key(demo=False) -> bytes
    check_warehouse_key(path, key)      refuses a key the warehouse was not built with
"""

from kocartr.ingest.discover import Batch, SubmissionsLayoutError, discover_batches
from kocartr.ingest.pipeline import FileResult, IngestError, IngestReport, check_warehouse_key, ingest
from kocartr.ingest.privacy import DEMO_KEY, KeyMismatchError, MissingKeyError, demo_requested, load_key, patient_key

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
    "load_key",
    "patient_key",
]
