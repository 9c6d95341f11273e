"""Ingestion: every submitted row lands in raw.<form> (pseudonymized, versioned) or in audit.quarantine with a
bilingual reason; every unreadable file lands in audit.file_rejects; audit.ingest_ledger accounts for the rest.

Public API (the CLI and Dagster wire around these):
    discover_batches(root) -> list[Batch]
    ingest(con, root, key, batches=None) -> IngestReport
    load_key(demo=False) -> bytes
"""

from kocartr.ingest.discover import Batch, discover_batches
from kocartr.ingest.pipeline import FileResult, IngestError, IngestReport, ingest
from kocartr.ingest.privacy import DEMO_KEY, MissingKeyError, demo_requested, load_key, patient_key

__all__ = ["Batch", "DEMO_KEY", "FileResult", "IngestError", "IngestReport", "MissingKeyError", "demo_requested",
           "discover_batches", "ingest", "load_key", "patient_key"]
