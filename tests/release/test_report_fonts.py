"""The Korean font embedded in the report: a subset of Noto Sans CJK KR holding the page's characters, the same
bytes on every build (a release rebuild must not change the report for a time stamp)."""

from __future__ import annotations

import pytest

from kocartr.release.fonts import find_korean_font, font_face_css, subset_font

pytestmark = pytest.mark.skipif(find_korean_font() is None, reason="fonts-noto-cjk not installed")


def test_subset_holds_the_page_characters_and_is_deterministic():
    from io import BytesIO

    from fontTools.ttLib import TTFont

    src = find_korean_font()
    a, b = subset_font("환자 흐름 등록", src), subset_font("환자 흐름 등록", src)
    assert a == b
    cmap = TTFont(BytesIO(a)).getBestCmap()
    assert all(ord(ch) in cmap for ch in "환자흐름등록") and ord("값") not in cmap
    css, embedded = font_face_css("보고서")
    assert embedded and css.startswith("@font-face") and "data:font/otf;base64," in css


def test_cached_subset_is_the_fresh_subset_and_keyed_by_the_characters(tmp_path):
    from kocartr.release.fonts import cached_subset_font

    src = find_korean_font()
    fresh = subset_font("환자 등록", src)
    assert cached_subset_font("환자 등록", src, tmp_path) == fresh  # written
    (kept,) = tmp_path.glob("*.otf")
    assert kept.read_bytes() == fresh
    assert cached_subset_font("환자 등록", src, tmp_path) == fresh  # read back
    assert cached_subset_font("환자 흐름", src, tmp_path) != fresh
    assert len(list(tmp_path.glob("*.otf"))) == 2 and not list(tmp_path.glob("*.tmp"))
