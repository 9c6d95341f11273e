"""Korean font embedded in the HTML report: Noto Sans CJK KR (SIL Open Font License 1.1, Debian fonts-noto-cjk),
subset to the characters the report uses and inlined as a data: URI, so the report reads the same on a machine
without Korean fonts and needs no network. fontTools comes with matplotlib.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path

FONT_FAMILY = "KoCARTR Noto Sans KR"
FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
)
KR_NAME = "Noto Sans CJK KR"


def find_korean_font() -> tuple[Path, int] | None:
    """(collection path, font number of the KR face), or None when fonts-noto-cjk is not installed."""
    from fontTools.ttLib import TTCollection

    for path in FONT_CANDIDATES:
        if path.is_file():
            with TTCollection(str(path), lazy=True) as coll:
                for i, font in enumerate(coll.fonts):
                    if font["name"].getDebugName(1) == KR_NAME:
                        return path, i
    return None


def subset_font(text: str, source: tuple[Path, int]) -> bytes:
    """The KR face reduced to the glyphs of `text` (OpenType/CFF bytes). Deterministic for a given font file."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(str(source[0]), fontNumber=source[1], lazy=False, recalcTimestamp=False)  # same bytes each run
    options = subset.Options()
    options.name_IDs = ["*"]  # keep the licence and copyright names (OFL)
    options.notdef_outline = True
    sub = subset.Subsetter(options)
    sub.populate(text=text)
    sub.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def font_cache_dir() -> Path:
    """Where subset fonts are kept between releases: $KOCARTR_CACHE_DIR, else the user's cache folder."""
    root = os.environ.get("KOCARTR_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(root) / "kocartr" / "fonts"


def cached_subset_font(chars: str, source: tuple[Path, int], cache: Path | None = None) -> bytes:
    """`subset_font`, kept on disk: subsetting the CJK face costs ~3 s CPU per release, and a month's report
    usually holds the same characters as the last one. Keyed by the characters, the font file's bytes, its face
    and the fontTools version, so a hit returns exactly the bytes a fresh subset would (the report stays
    deterministic). An unwritable cache only costs the subsetting."""
    import fontTools

    cache = font_cache_dir() if cache is None else cache
    key = hashlib.sha256()
    with open(source[0], "rb") as fh:
        key.update(hashlib.file_digest(fh, "sha256").digest())
    key.update(f"{source[1]}|{fontTools.version}|{chars}".encode())
    path = cache / f"{key.hexdigest()}.otf"
    if path.is_file():
        return path.read_bytes()
    data = subset_font(chars, source)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # whole files only: two releases at once may both write it
    except OSError:
        pass
    return data


def font_face_css(text: str) -> tuple[str, bool]:
    """An @font-face rule embedding the subset font for `text`, and whether a font was embedded (the CSS falls
    back to system fonts when fonts-noto-cjk is absent)."""
    source = find_korean_font()
    if source is None:
        return "", False
    chars = "".join(sorted(set(text) | set(" 0123456789")))
    data = base64.b64encode(cached_subset_font(chars, source)).decode()
    css = f'@font-face{{font-family:"{FONT_FAMILY}";src:url(data:font/otf;base64,{data}) format("opentype")}}'
    return css, True
