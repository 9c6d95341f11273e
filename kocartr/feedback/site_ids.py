"""The site's own record and patient ids, read back from its submission files at workbook-build time.

The warehouse keeps site-issued identifiers only keyed (HMAC) or not at all, so a query names the record by its
lineage (`source_file` relative to the submissions root, spreadsheet `source_row`, header = row 1), and only the
site's own workbook shows the ids, taken from the site's own file (screened: an RRN-shaped value is redacted).
Nothing read here is written to the warehouse.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from kocartr.ingest.reading import ROW, FileReject, read_file
from kocartr.privacy import redact

SiteIds = tuple[str | None, str | None]  # (record_id, patient_id) as the site wrote them


def _rows_of_file(path: Path, form: str | None, rows: set[int]) -> dict[int, SiteIds]:
    from kocartr.dictionary import load_dictionary

    try:
        read = read_file(path.name, path.read_bytes(), load_dictionary())
    except (OSError, FileReject):
        return {}  # the file is gone or unreadable now: the workbook says so, the query stays
    out: dict[int, SiteIds] = {}
    for sheet in read.sheets:
        if sheet.frame is None or (form is not None and sheet.form != form):
            continue
        have = set(sheet.frame.columns)
        cols = [c for c in (ROW, "record_id", "patient_id") if c in have]
        for rec in sheet.frame.select(cols).iter_rows(named=True):
            if rec[ROW] in rows:
                # an id cell holding a resident registration number is shown redacted, never in clear
                out[int(rec[ROW])] = (redact(rec.get("record_id")), redact(rec.get("patient_id")))
    return out


def site_ids(root: Path, wanted: Iterable[tuple[str, int, str | None]]) -> dict[tuple[str, int], SiteIds]:
    """{(source_file, source_row): (record_id, patient_id)} for the (source_file, source_row, form) asked for.
    A file outside `root` (a path that climbs out) is never read."""
    root = Path(root).resolve()
    by_file: dict[tuple[str, str | None], set[int]] = defaultdict(set)
    for f, r, form in wanted:
        if f and r is not None:
            by_file[(f, form)].add(int(r))
    out: dict[tuple[str, int], SiteIds] = {}
    for (f, form), rows in by_file.items():
        path = (root / f).resolve()
        if root not in path.parents:
            continue
        for row, ids in _rows_of_file(path, form, rows).items():
            out[(f, row)] = ids
    return out
