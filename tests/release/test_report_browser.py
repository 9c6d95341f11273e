"""The published report of a release built by the real pipeline (the session's run on a generated set), read in
headless Chromium as a reader sees it: the patient flow, Table 1, median follow-up, the response table, both
languages (the CSS switch: #en / #ko) and the embedded Korean font. A screenshot of each section and language is
saved in the test's tmp folder and its path printed (pytest -s, or the captured output of a failure)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from kocartr.release.config import load_release_config
from kocartr.release.render_check import find_chromium

MARKER = load_release_config().marker

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (apt-get install chromium)")

SECTIONS = ("sec-flow", "sec-table1", "sec-followup", "sec-response", "sec-toxicity", "sec-survival", "sec-methods")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def release(pipeline_run) -> Path:
    result, _warehouse, _work = pipeline_run
    path = Path(result.release_path)
    assert (path / "report.html").is_file(), "the pipeline run published no report"
    return path


@pytest.fixture(scope="module")
def seen(release: Path, tmp_path_factory) -> dict[str, dict[str, str]]:
    """{lang: {section id: visible text}} for 'en', 'ko' and both (''), with a screenshot of each."""
    pytest.importorskip("websockets", reason="websockets (a dagster-webserver dependency) drives Chromium")
    from kocartr.release.render_check import Browser

    shots = tmp_path_factory.mktemp("report-sections")
    out: dict[str, dict[str, str]] = {}
    with Browser(width=1200, height=1400) as b:
        for lang in ("en", "ko", ""):
            b.open((release / "report.html").resolve().as_uri() + (f"#{lang}" if lang else ""))
            out[lang] = {s: b.text(f"#{s}") for s in SECTIONS}
            out[lang]["_fonts"] = b.evaluate("[...document.fonts].map(f => f.family + ':' + f.status).join(',')")
            for s in SECTIONS:
                png = b.screenshot(f"#{s}", shots / f"{s}-{lang or 'both'}.png")
                assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                print(f"screenshot: {png}")
    return out


def _release_db(release: Path):
    return duckdb.connect(str(release / "kocartr_release.duckdb"), read_only=True)


def test_flow_diagram_counts_registration_to_evaluable(seen, release):
    en = seen["en"]["sec-flow"]
    for step in ("Registered", "CAR-T ordered", "Apheresis / leukapheresis", "Infused (day 0)", "Evaluable for CRS"):
        assert step in en, step
    with _release_db(release) as con:
        registered, infused = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_infused) FROM marts.dim_patient"
        ).fetchone()
    # the boxes carry the counts of the release's own tables (large enough never to be suppressed here)
    assert re.search(rf"\b{registered}\s*Registered", en) and re.search(rf"\b{infused}\s*Infused", en)
    assert "Not infused" in en and "Infused fewer than 45 days" in en


def test_table_one_by_disease_group_and_product_names(seen, release):
    t1 = seen["en"]["sec-table1"]
    for row in (
        "Age, years, median (IQR)",
        "Sex, n (%)",
        "ECOG performance status",
        "Prior lines of therapy",
        "Prior HCT",
        "Bridging therapy",
        "CAR-HEMATOTOX",
    ):
        assert row in t1, row
    with _release_db(release) as con:
        labels = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT p.product_label FROM adam.adsl a JOIN marts.dim_product p "
                "ON a.PRODUCT = p.product_code WHERE a.INFFL = 'Y'"
            ).fetchall()
        ]
        codes = [r[0] for r in con.execute("SELECT DISTINCT PRODUCT FROM adam.adsl WHERE INFFL = 'Y'").fetchall()]
    assert any(lbl in t1 for lbl in labels)  # product names, not codes
    assert not any(re.search(rf"\b{c}\b", t1) for c in codes if c and "_" in c)
    assert "All patients" not in t1 and "Large B-cell lymphoma" in t1


def test_median_follow_up_is_the_reverse_km_table(seen, release):
    from kocartr.release.report import load_labels

    fu = seen["en"]["sec-followup"]
    assert "Median follow-up, months (95% CI)" in fu and "Reverse Kaplan-Meier" in fu
    names = {("DISGRP", k): v["en"] for k, v in load_labels()["codes"]["disease_group"].items()}
    lines = {tuple(line.split("\t")[:2]): line.split("\t") for line in fu.splitlines() if "\t" in line}
    with _release_db(release) as con:
        names |= {
            ("PRODUCT", c): lbl
            for c, lbl in con.execute("SELECT product_code, product_label FROM marts.dim_product").fetchall()
        }
        rows = con.execute(
            "SELECT stratum_variable, stratum, n, median_months FROM analysis.median_followup "
            "WHERE stratum_variable IN ('DISGRP', 'PRODUCT')"
        ).fetchall()
    shown = 0
    for sv, stratum, n, median in rows:
        cells = lines.get(({"DISGRP": "Disease group", "PRODUCT": "Product"}[sv], names.get((sv, stratum), "")))
        if cells is None:
            continue
        assert cells[2] in (str(n), MARKER), cells
        if cells[4] != MARKER:  # the reverse-KM median of the release's table, in months
            assert cells[4].startswith("NR" if median is None else f"{median:.1f} ("), cells
            shown += 1
    # small strata are hidden jointly across disease group and product, but not every one: the fixture's large
    # strata keep their follow-up (a release that hides them all is no use to a reader)
    assert shown, fu[:600]


def test_response_table_with_exact_cis(seen):
    rs = seen["en"]["sec-response"]
    assert "Best response by day 90" in rs and "Complete response" in rs and "Clopper-Pearson" in rs
    # Every response cell is either a count with its proportion and exact CI, or the suppression marker (small
    # strata are hidden jointly across disease group and product): never a bare count; large cells are published.
    shown = re.findall(r"\d+ \(\d+\.\d%\) \[\d+\.\d% - \d+\.\d%\]", rs)
    assert shown, rs[:500]
    assert not re.search(r"\d+ \(\d+\.\d%\)(?! \[)", rs), rs[:500]


def test_both_languages_and_the_embedded_korean_font(seen):
    for s in SECTIONS:
        en, ko, both = seen["en"][s], seen["ko"][s], seen[""][s]
        assert not HANGUL.search(en), (s, en[:200])  # #en hides the Korean text
        assert HANGUL.search(ko), (s, ko[:200])
        assert HANGUL.search(both) and len(both) > len(en)
    assert "환자 흐름" in seen["ko"]["sec-flow"] and "Patient flow" not in seen["ko"]["sec-flow"]
    assert "추적 관찰 기간 중앙값" in seen["ko"]["sec-followup"]
    assert "KoCARTR Noto Sans KR:loaded" in seen["ko"]["_fonts"]


def test_cif_numbers_at_risk_at_month_0_are_the_km_risk_set(release):
    """Delayed entry: the cumulative-incidence figures' at-risk row at month 0 is the survival risk set (patients
    registered after infusion are not yet at risk), not the stratum size."""
    from kocartr.release import outcomes

    cfg = load_release_config()
    with _release_db(release) as con:
        pub = outcomes.build_outcomes(con, cfg)
        km0 = dict(
            con.execute(
                "SELECT stratum, n_at_risk FROM analysis.survival_estimates WHERE endpoint = 'PFS' "
                "AND stratum_variable = 'DISGRP' AND row_type = 'risk_table' AND time_months = 0"
            ).fetchall()
        )
    grid = [
        r for r in pub.at_risk(pub.cif, cfg, "DISGRP") if r["endpoint"] == "NRM" and r["stratum_variable"] == "DISGRP"
    ]
    shown = {r["stratum"]: r["values"][0][0] for r in grid if not r["values"][0][1]}
    assert shown and all(v == km0[s] for s, v in shown.items()), (shown, km0)
    sizes = {s.stratum: s.n for s in pub.cif_summary if s.endpoint == "NRM" and s.stratum_variable == "DISGRP"}
    assert all(v <= sizes[s] for s, v in shown.items())
