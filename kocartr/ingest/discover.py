"""Discovery: the submissions tree <root>/<SITE>/<YYYY-MM>/<form>.<csv|xlsx>, one batch per site and month.

Declared non-site sources (dictionary code list data_source, e.g. LINKAGE for national linkage returns) have
folders of the same shape beside the site folders: <root>/LINKAGE/<YYYY-MM>/<form>.csv.

Nothing is skipped silently: every file under the root comes back in exactly one batch. Files that cannot be
read as a site-month's submission come back in batches carrying a `problem` (a file_rejects reason code): folders
not shaped SITE/YYYY-MM, files outside or nested below a site-month folder, file names differing only in case,
folder names shaped like a resident registration number (stored redacted, never in clear).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from kocartr.dictionary import load_dictionary
from kocartr.months import is_month
from kocartr.privacy import looks_like_rrn, redact


class SubmissionsLayoutError(ValueError):
    """The folder given as the submissions root is not shaped <SITE>/<YYYY-MM>/ (one line, says where to look)."""


@dataclass(frozen=True)
class Batch:
    site: str
    month: str
    files: tuple[Path, ...]
    problem: str | None = None  # a file_rejects reason_code applying to every file of this batch
    detail: str = ""  # what was expected, for the reject message (never a submitted value)

    @property
    def key(self) -> str:
        """Partition key: SITE/YYYY-MM for a well-formed batch."""
        return f"{self.site}/{self.month}"

    @property
    def ok(self) -> bool:
        return self.problem is None


def _files_below(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()))


def _entries(folder: Path) -> tuple[list[Path], list[Path]]:
    """(sub-folders, other entries: files, links, broken links), sorted."""
    items = sorted(folder.iterdir())
    return [p for p in items if p.is_dir()], [p for p in items if not p.is_dir()]


def _looks_like_root(folder: Path, sites: set[str]) -> bool:
    """A submissions root holds at least one <SITE>/<YYYY-MM>/ folder."""
    return any(
        m.is_dir() and is_month(m.name) for s in folder.iterdir() if s.is_dir() and s.name in sites for m in s.iterdir()
    )


def check_layout(root: Path, sites: set[str]) -> None:
    """Raise SubmissionsLayoutError when a non-empty root has no <SITE>/<YYYY-MM>/ folder (for example the
    generator's output folder, which holds submissions/ and ground_truth/), naming where they probably are."""
    if not root.is_dir():
        raise SubmissionsLayoutError(f"submissions folder {root} does not exist or is not a folder")
    if _looks_like_root(root, sites) or not any(p.is_file() for p in root.rglob("*")):
        return
    below = [p for p in sorted(root.iterdir()) if p.is_dir() and _looks_like_root(p, sites)]
    hint = (
        f"the submissions are probably in {below[0]}"
        if below
        else "expected <SITE>/<YYYY-MM>/<form>.csv|xlsx folders, e.g. S01/2026-05/lab.csv"
    )
    raise SubmissionsLayoutError(
        f"{redact(str(root))} is not a submissions folder (no <SITE>/<YYYY-MM>/ folders): {redact(hint)}"
    )


def _case_collisions(files: list[Path]) -> set[Path]:
    by_lower: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        by_lower[f.name.lower()].append(f)
    return {f for group in by_lower.values() if len(group) > 1 for f in group}


def _month_batches(site: str, month_dir: Path, sites: set[str]) -> list[Batch]:
    month = month_dir.name
    subdirs, direct = _entries(month_dir)
    nested = tuple(f for d in subdirs for f in _files_below(d))
    out: list[Batch] = []
    if looks_like_rrn(site) or looks_like_rrn(month):
        return [
            Batch(
                redact(site) or "",
                redact(month) or "",
                tuple(direct) + nested,
                "direct_identifier",
                "site or month folder name",
            )
        ]
    if site not in sites:
        return [
            Batch(
                site,
                month,
                tuple(direct) + nested,
                "unknown_site_folder",
                "a site code, e.g. " + ", ".join(sorted(sites)[:3]),
            )
        ]
    if not is_month(month):
        return [Batch(site, month, tuple(direct) + nested, "bad_month_folder", "YYYY-MM")]
    clash = _case_collisions(direct)
    out.append(Batch(site, month, tuple(f for f in direct if f not in clash)))
    if clash:
        out.append(Batch(site, month, tuple(sorted(clash)), "case_collision", "one file per form name"))
    if nested:
        out.append(
            Batch(
                site,
                month,
                nested,
                "unexpected_location",
                "<SITE>/<YYYY-MM>/<form>.csv|xlsx, not in a folder below the month folder",
            )
        )
    return out


def discover_batches(root: Path) -> list[Batch]:
    """Every site-month batch under root, sorted; every other file in a batch with a problem."""
    root = Path(root)
    d = load_dictionary()
    sites = set(d.codes("site")) | set(d.sources)
    check_layout(root, sites)
    batches: list[Batch] = []
    site_dirs, stray_root = _entries(root)
    if stray_root:
        batches.append(Batch("", "", tuple(stray_root), "unexpected_location", "<SITE>/<YYYY-MM>/<form>.csv|xlsx"))
    for site_dir in site_dirs:
        site = site_dir.name
        month_dirs, stray = _entries(site_dir)
        if stray:
            rrn = looks_like_rrn(site)
            batches.append(
                Batch(
                    redact(site) or "",
                    "",
                    tuple(stray),
                    "direct_identifier" if rrn else "unexpected_location",
                    "site folder name" if rrn else "<SITE>/<YYYY-MM>/<form>.csv|xlsx",
                )
            )
        for month_dir in month_dirs:
            batches.extend(_month_batches(site, month_dir, sites))
    return [b for b in batches if b.files]
