"""Render a release's HTML report in a real headless browser (Chromium from Debian's packages).

    python -m kocartr.release.render_check out/releases/2026-10-31/report.html [screenshot.png]

Returns / prints the screenshot path. Chromium runs with no network features and a throw-away profile.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    for c in CHROMIUM_CANDIDATES:
        if Path(c).is_file():
            return c
    return shutil.which("chromium")


def render_html(
    html_path: Path | str,
    png_path: Path | str | None = None,
    width: int = 1200,
    height: int = 4000,
    timeout: float = 120,
) -> Path:
    """Screenshot `html_path` with headless Chromium; returns the PNG path. Raises RuntimeError when Chromium is
    missing or fails, or writes no (or an empty) screenshot."""
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("Chromium not found (apt-get install chromium)")
    html_path = Path(html_path).resolve()
    png = Path(png_path) if png_path else Path(tempfile.mkdtemp(prefix="kocartr-render-")) / "report.png"
    png = png.resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    if not html_path.is_file():
        raise RuntimeError(f"no such report: {html_path}")
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="kocartr-chromium-") as profile:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            html_path.as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not png.is_file() or png.stat().st_size == 0 or "Page load failed" in proc.stderr:
        raise RuntimeError(f"Chromium failed (rc {proc.returncode}): {proc.stderr[-2000:]}")
    return png


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    print(render_html(argv[0], argv[1] if len(argv) > 1 else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
