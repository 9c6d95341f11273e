"""Discovery: the submissions tree <root>/<SITE>/<YYYY-MM>/<form>.<csv|xlsx>, one batch per site and month.

Nothing is skipped silently: folders not shaped SITE/YYYY-MM and files outside a site-month folder come back as
batches carrying a `problem`, whose files ingest records in audit.file_rejects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kocartr.dictionary import load_dictionary

MONTH_RE = re.compile(r"20[0-9]{2}-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class Batch:
    site: str
    month: str
    files: tuple[Path, ...]
    problem: str | None = None  # a file_rejects reason_code applying to every file of this batch

    @property
    def key(self) -> str:
        """Partition key: SITE/YYYY-MM for a well-formed batch."""
        return f"{self.site}/{self.month}"

    @property
    def ok(self) -> bool:
        return self.problem is None


def _files_below(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()))


def discover_batches(root: Path) -> list[Batch]:
    """Every site-month batch under root, sorted; misplaced files as batches with a problem."""
    root = Path(root)
    sites = set(load_dictionary().codes("site"))
    batches: list[Batch] = []
    stray_root = tuple(sorted(p for p in root.iterdir() if not p.is_dir()))
    if stray_root:
        batches.append(Batch("", "", stray_root, "unexpected_location"))
    for site_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        site = site_dir.name
        stray = tuple(sorted(p for p in site_dir.iterdir() if not p.is_dir()))
        if stray:
            batches.append(Batch(site, "", stray, "unexpected_location"))
        for month_dir in sorted(p for p in site_dir.iterdir() if p.is_dir()):
            month = month_dir.name
            direct = tuple(sorted(p for p in month_dir.iterdir() if not p.is_dir()))
            nested = tuple(f for d in sorted(p for p in month_dir.iterdir() if p.is_dir()) for f in _files_below(d))
            if site not in sites:
                batches.append(Batch(site, month, direct + nested, "unknown_site_folder"))
                continue
            if not MONTH_RE.fullmatch(month):
                batches.append(Batch(site, month, direct + nested, "bad_month_folder"))
                continue
            batches.append(Batch(site, month, direct))
            if nested:
                batches.append(Batch(site, month, nested, "unexpected_location"))
    return batches
