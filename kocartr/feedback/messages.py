"""Korean and English texts of the queries the registry writes itself (quality-check failures, follow-up visits).

Ingest's row and file messages come with the quarantine (kocartr.ingest.messages). The Korean text never quotes an
English identifier: fields and forms are named by their dictionary `label_ko`, checks by their Kahn category.
"""

from __future__ import annotations

import re

# Kahn et al. (eGEMs 2016) subcategories, as a data manager reads them.
KAHN_KO = {
    ("conformance", "value"): "값 형식·코드 점검",
    ("conformance", "relational"): "서식 간 연결 점검",
    ("conformance", "computational"): "계산값 점검",
    ("completeness", "atemporal"): "자료 누락 점검",
    ("completeness", "per_site"): "기관별 자료 완전성 점검",
    ("plausibility", "uniqueness"): "중복 점검",
    ("plausibility", "atemporal"): "값 타당성 점검",
    ("plausibility", "temporal"): "날짜 순서 점검",
}
VISIT_STATE_KO = {"OVERDUE": "기한이 지났으나 아직 제출 기간 내", "MISSED": "제출 기간이 끝났으나 미제출"}
VISIT_STATE_EN = {
    "OVERDUE": "overdue (past its target date, window still open)",
    "MISSED": "missed (the contact window closed without a follow-up form)",
}
_UNIT_KO = {"D": "일", "M": "개월", "Y": "년"}


def timepoint_ko(code: str) -> str:
    """D100 -> 100일, M6 -> 6개월, Y1 -> 1년 (fct_followup_schedule timepoints)."""
    unit, n = code[:1], code[1:]
    return f"{n}{_UNIT_KO[unit]}" if unit in _UNIT_KO and n.isdigit() else "예정"


def check_message(
    category: str, subcategory: str, form_ko: str | None, field_ko: str | None, reason: str
) -> tuple[str, str]:
    """(English, Korean) of one record failing a quality check."""
    what = f"'{field_ko}' 항목" if field_ko else "이 레코드"
    where = f"{form_ko} 서식의 " if form_ko else ""
    kind = KAHN_KO.get((category, subcategory), "자료 품질 점검")
    ko = f"{where}{what}이(가) {kind}를 통과하지 못했습니다. 원자료를 확인하여 수정하거나 맞는 값임을 회신해 주십시오."
    return f"This record fails a quality check: {reason}", ko


def visit_message(timepoint: str, state: str, due: str) -> tuple[str, str]:
    en = (
        f"Follow-up {timepoint} (form due by {due}) has not been received: {VISIT_STATE_EN.get(state, state)}. "
        "Send the follow-up form, or report the patient's death or loss to follow-up."
    )
    ko = (
        f"{timepoint_ko(timepoint)} 추적 관찰 서식(기한 {due})이 접수되지 않았습니다: "
        f"{VISIT_STATE_KO.get(state, '미제출')}. 추적 관찰 서식을 제출하거나 사망 또는 추적 소실을 알려 주십시오."
    )
    return en, ko


_ASCII_NAME = re.compile(r"\s?\((?:\{field\}|[a-z][a-z0-9_]*)\)")  # "(field)", "(site_code)": the English name


def ingest_message_ko(
    source: str, rule: str, field_ko: str | None, expected: str | None, fallback: str | None
) -> str | None:
    """Korean text of an ingest query: ingest's Korean template with the field named by its Korean label only and
    the technical expectation (codes, formats) left to the Expected column, so no English sits in the sentence."""
    from kocartr.ingest.messages import REJECT_MESSAGES, RULE_MESSAGES, render

    table = RULE_MESSAGES if source == "quarantine" else REJECT_MESSAGES
    template = table.get(rule, (None, None))[1]
    if template is None:
        return None if fallback is None else _ASCII_NAME.sub("", fallback)
    # an expectation without English words (a row number, YYYY-MM) reads well inside the sentence
    plain = expected is not None and not re.search(r"[a-z]{2,}", expected)
    return render(
        _ASCII_NAME.sub("", template),
        field=field_ko or "",
        field_ko=field_ko or "해당",
        expected=(expected or "") if plain else EXPECTED_COLUMN_KO,
    )


EXPECTED_COLUMN_KO = "'기대값' 열 참조"
