"""The site's own ids read back from its files: many CSVs parsed together (by column layout) give exactly what each
file read alone gives, for every kind of file ingest accepts."""

from __future__ import annotations

from pathlib import Path

from kocartr.dictionary import load_dictionary
from kocartr.feedback.site_ids import site_ids
from kocartr.ingest.reading import ROW, FileReject, read_file
from tests.ingest.helpers import clean_rows, csv_text, write

RRN = "900101-1234567"


def _one_by_one(root: Path, wanted: list[tuple[str, int, str | None]]) -> dict[tuple[str, int], tuple]:
    """Reference: every file read alone, parsed at once (no deferral), rows looked up one by one."""
    from kocartr.privacy import redact

    out = {}
    for f, r, form in wanted:
        try:
            read = read_file(Path(f).name, (root / f).read_bytes(), load_dictionary())
        except (OSError, FileReject):
            continue
        for sheet in read.sheets:
            if sheet.frame is None or form not in (None, sheet.form):
                continue
            for rec in sheet.frame.iter_rows(named=True):
                if rec[ROW] == r:
                    out[(f, r)] = (redact(rec.get("record_id")), redact(rec.get("patient_id")))
    return out


def _xlsx(path: Path, sheet: str, rows: list[dict]) -> None:
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(sheet)
    ws.write_row(0, 0, list(rows[0]))
    for i, r in enumerate(rows, start=1):
        ws.write_row(i, 0, list(r.values()))
    wb.close()


def test_site_ids_batched_equal_file_by_file(tmp_path):
    root = tmp_path / "submissions"
    lab = clean_rows("lab", 4)
    lab[2]["record_id"] = RRN  # shown redacted, never in clear
    lab[3]["specimen"] = "line one\nline two"  # a quoted line break: records are not lines
    write(root, "S01/2026-05/lab.csv", csv_text(lab))
    write(root, "S01/2026-06/lab.csv", csv_text(clean_rows("lab", 2, month="2026-06", start=10)))
    reordered = clean_rows("lab", 2, start=20)
    write(root, "S01/2026-07/lab.csv", csv_text(reordered, list(reversed(list(reordered[0])))))  # another layout
    write(root, "S01/2026-07/crs.csv", csv_text(clean_rows("crs", 2)).encode("cp949"), encoding="cp949")
    ragged = csv_text(clean_rows("icans", 3)).splitlines()
    ragged[2] += ",extra"  # a long row: read the exact (per-file) way
    write(root, "S01/2026-07/icans.csv", "\n".join(ragged) + "\n")
    _xlsx(root / "S01/2026-08/followup.xlsx", "followup", clean_rows("followup", 2))
    write(root, "S01/2026-08/hospitalization.csv", b"\x00\x01 not a csv")  # unreadable now: no ids
    (tmp_path / "outside.csv").write_text(csv_text(clean_rows("lab", 1)))
    wanted = [
        ("S01/2026-05/lab.csv", 2, "lab"),
        ("S01/2026-05/lab.csv", 4, "lab"),
        ("S01/2026-05/lab.csv", 5, "lab"),
        ("S01/2026-05/lab.csv", 9, "lab"),  # no such row
        ("S01/2026-06/lab.csv", 3, "lab"),
        ("S01/2026-07/lab.csv", 2, "lab"),
        ("S01/2026-07/crs.csv", 3, "crs"),
        ("S01/2026-07/icans.csv", 3, "icans"),
        ("S01/2026-07/icans.csv", 4, "icans"),
        ("S01/2026-08/followup.xlsx", 3, "followup"),
        ("S01/2026-08/followup.xlsx", 2, None),
        ("S01/2026-08/hospitalization.csv", 2, "hospitalization"),
        ("S01/2026-09/lab.csv", 2, "lab"),  # gone
        ("../outside.csv", 2, "lab"),  # climbs out of the root: never read
        (None, 2, "lab"),
        ("S01/2026-05/lab.csv", None, "lab"),
    ]
    got = site_ids(root, wanted)
    assert got == _one_by_one(root, [w for w in wanted if w[0] and w[1] and not w[0].startswith("..")])
    assert got[("S01/2026-05/lab.csv", 2)] == ("LAB-00001", "P00001")
    assert got[("S01/2026-05/lab.csv", 4)] == ("******-*******", "P00003")
    assert got[("S01/2026-05/lab.csv", 5)] == ("LAB-00004", "P00004")
    assert got[("S01/2026-06/lab.csv", 3)] == ("LAB-00011", "P00011")
    assert got[("S01/2026-07/lab.csv", 2)] == ("LAB-00020", "P00020")
    assert got[("S01/2026-07/crs.csv", 3)] == ("CRS-00002", "P00002")
    assert got[("S01/2026-07/icans.csv", 3)] == ("ICA-00002", "P00002")
    assert got[("S01/2026-08/followup.xlsx", 3)] == ("FOL-00002", "P00002")
    assert got[("S01/2026-08/followup.xlsx", 2)] == ("FOL-00001", "P00001")
    assert len(got) == 10  # nothing for the missing row, the unreadable, gone and outside files


def test_a_file_changed_since_ingest_gives_no_ids(tmp_path):
    """The ids come only from the bytes ingest read at that path (audit.ingest_ledger's SHA-256): a file edited or
    replaced afterwards may hold other records at the queried rows, and a wrong id in a site's workbook misleads."""
    import hashlib

    root = tmp_path / "submissions"
    kept, edited = "S01/2026-05/lab.csv", "S01/2026-06/lab.csv"
    write(root, kept, csv_text(clean_rows("lab", 2)))
    write(root, edited, csv_text(clean_rows("lab", 2, month="2026-06", start=10)))
    ingested = {f: {hashlib.sha256((root / f).read_bytes()).hexdigest()} for f in (kept, edited)}
    write(root, edited, csv_text(clean_rows("lab", 2, month="2026-06", start=30)))  # replaced after ingest
    wanted = [(kept, 2, "lab"), (edited, 2, "lab")]
    assert site_ids(root, wanted)[(edited, 2)] == ("LAB-00030", "P00030")  # without the ledger: the new file's id
    got = site_ids(root, wanted, ingested)
    assert got == {(kept, 2): ("LAB-00001", "P00001")}
    assert site_ids(root, wanted, {kept: ingested[kept]}) == got  # a path the ledger does not know: no ids
