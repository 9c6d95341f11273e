"""Render a release's HTML report in a real headless browser (Chromium from Debian's packages).

    python -m kocartr.release.render_check out/releases/2026-10-31/report.html [screenshot.png]

Returns / prints the screenshot path. Chromium runs with no network features and a throw-away profile.

`Browser` drives Chromium over the DevTools protocol (websockets, a Dagster webserver dependency) to read what a
reader sees: the visible text of a section (innerText leaves out what CSS hides, e.g. the other language), whether
the embedded font loaded, and a screenshot of one element.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

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


CHROMIUM_FLAGS = (
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
)


class Browser:
    """Headless Chromium driven over the DevTools protocol; use as a context manager."""

    def __init__(self, width: int = 1200, height: int = 1400, timeout: float = 60) -> None:
        self.width, self.height, self.timeout = width, height, timeout
        self._id = 0

    def __enter__(self) -> Browser:
        from websockets.sync.client import connect

        chromium = find_chromium()
        if chromium is None:
            raise RuntimeError("Chromium not found (apt-get install chromium)")
        self._profile = tempfile.TemporaryDirectory(prefix="kocartr-chromium-")
        self._proc = subprocess.Popen(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self._profile.name}",
                "--remote-debugging-port=0",
                f"--window-size={self.width},{self.height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        port = self._devtools_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=self.timeout) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self._ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=self.timeout)
        self.call("Page.enable")
        return self

    def _devtools_port(self) -> int:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                return int(m.group(1))
        raise RuntimeError("Chromium exited before its DevTools endpoint was up")

    def __exit__(self, *exc: object) -> None:
        self._ws.close()
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self._proc.kill()
        self._profile.cleanup()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv(timeout=self.timeout))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def open(self, url: str) -> None:
        """Load `url` and wait for the document and its fonts."""
        self.call("Page.navigate", url=url)
        self.evaluate(
            "new Promise(r => { const go = () => document.fonts.ready.then(() => r(true)); "
            "document.readyState === 'complete' ? go() : addEventListener('load', go); })"
        )

    def text(self, selector: str) -> str:
        return self.evaluate(f"document.querySelector({json.dumps(selector)}).innerText")

    def screenshot(self, selector: str, png: Path | str) -> Path:
        """A PNG of one element (the whole element, beyond the viewport if it is taller)."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect(); "
            "return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; })()"
        )
        res = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip={**box, "scale": 1})
        out = Path(png)
        out.write_bytes(base64.b64decode(res["data"]))
        return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    print(render_html(argv[0], argv[1] if len(argv) > 1 else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
