"""Bilingual (English / Korean) messages for site data managers: one template per rule and per reject reason.

Templates may use {field} (dictionary field name), {field_ko} (its Korean label) and {expected} (what the
dictionary expects, rendered per field or per row). They never contain a submitted value: values reach the
quarantine only through `value_redacted`.
"""

from __future__ import annotations

# Row-level rules (audit.quarantine.rule).
RULE_MESSAGES: dict[str, tuple[str, str]] = {
    "direct_identifier": (
        "Field '{field}' holds a value shaped like a resident registration number (direct identifier). "
        "Remove it and resend the row; the registry never stores RRNs.",
        "'{field_ko}' ({field}) 항목에 주민등록번호 형태의 값(직접 식별자)이 있습니다. "
        "해당 값을 삭제하고 다시 제출하십시오. "
        "레지스트리는 주민등록번호를 저장하지 않습니다.",
    ),
    "required": (
        "Field '{field}' is required but blank. Expected: {expected}.",
        "필수 항목 '{field_ko}' ({field})이(가) 비어 있습니다. 기대값: {expected}.",
    ),
    "required_if": (
        "Field '{field}' is blank but required here ({expected}).",
        "'{field_ko}' ({field}) 항목이 비어 있으나 이 경우 필수입니다 ({expected}).",
    ),
    "invalid_integer": (
        "Field '{field}' is not a whole number. Expected: {expected}.",
        "'{field_ko}' ({field}) 항목이 정수가 아닙니다. 기대값: {expected}.",
    ),
    "invalid_decimal": (
        "Field '{field}' is not a number. Expected: {expected}.",
        "'{field_ko}' ({field}) 항목이 숫자가 아닙니다. 기대값: {expected}.",
    ),
    "out_of_range": (
        "Field '{field}' is outside the plausible range. Expected: {expected}.",
        "'{field_ko}' ({field}) 항목 값이 허용 범위를 벗어났습니다. 기대값: {expected}.",
    ),
    "invalid_date": (
        "Field '{field}' is not a valid date. Expected: {expected}.",
        "'{field_ko}' ({field}) 항목이 올바른 날짜가 아닙니다. 기대값: {expected}.",
    ),
    "ambiguous_date": (
        "Field '{field}' is a date with a two-digit year or whose day and month order cannot be told apart; it was "
        "not guessed. Expected: {expected}.",
        "'{field_ko}' ({field}) 항목의 날짜는 연도가 두 자리이거나 일/월 순서를 구분할 수 없어 추정하지 않았습니다. "
        "기대값: {expected}.",
    ),
    "unknown_code": (
        "Field '{field}' holds a code that is not in the code list. Expected: {expected}.",
        "'{field_ko}' ({field}) 항목의 코드가 코드 목록에 없습니다. 기대값: {expected}.",
    ),
    "code_not_allowed": (
        "Field '{field}' holds a code that is not allowed together with the related field. Expected: {expected}.",
        "'{field_ko}' ({field}) 항목의 코드는 관련 항목 값과 함께 사용할 수 없습니다. 기대값: {expected}.",
    ),
    "pattern": (
        "Field '{field}' does not have the expected format. Expected: {expected}.",
        "'{field_ko}' ({field}) 항목의 형식이 올바르지 않습니다. 기대값: {expected}.",
    ),
    "unregistered_patient": (
        "Field '{field}' holds a patient key that is not registered in the registry (the agency returned a record "
        "for a patient the registry did not send). Expected: {expected}.",
        "'{field_ko}' ({field}) 항목의 환자 키가 레지스트리에 등록되어 있지 않습니다 "
        "(레지스트리가 보내지 않은 환자의 레코드가 반환됨). 기대값: {expected}.",
    ),
    "date_order": (
        "Dates are in the wrong order: expected {expected}.",
        "날짜 순서가 올바르지 않습니다. 기대: {expected}.",
    ),
    "duplicate_record": (
        "Record ID appears more than once in this file; the first occurrence (row {expected}) was kept and this "
        "row was not loaded. Send one row per record ID.",
        "이 파일에 같은 레코드 ID가 두 번 이상 있습니다. 첫 번째 행({expected}행)만 반영되었고 이 행은 반영되지 "
        "않았습니다. 레코드 ID당 한 행만 제출하십시오.",
    ),
    "site_mismatch": (
        "site_code does not match the site folder of the submission. Expected: {expected}.",
        "기관 코드(site_code)가 제출 폴더의 기관과 다릅니다. 기대값: {expected}.",
    ),
    "month_mismatch": (
        "submission_month does not match the month folder of the submission. Expected: {expected}.",
        "제출 월(submission_month)이 제출 폴더의 월과 다릅니다. 기대값: {expected}.",
    ),
    "column_count": (
        "This row does not have the same number of columns as the header (expected {expected}); its values "
        "cannot be trusted. Check for stray commas or line breaks.",
        "이 행의 열 개수가 헤더와 다릅니다 (기대: {expected}). 값이 어긋났을 수 있으니 쉼표나 줄바꿈을 확인하십시오.",
    ),
}

# File-level reasons (audit.file_rejects.reason_code). {expected} carries a safe detail (column names, sheet).
REJECT_MESSAGES: dict[str, tuple[str, str]] = {
    "empty": ("The file is empty.", "파일이 비어 있습니다."),
    "truncated": (
        "The file is truncated (it ends in the middle of a row or character). Export it again and resend.",
        "파일이 잘려 있습니다 (행 또는 문자 중간에서 끝남). 다시 내보내어 제출하십시오.",
    ),
    "binary": (
        "The file is not a text CSV (binary content). Save it as CSV (UTF-8 or CP949) or XLSX.",
        "파일이 텍스트 CSV가 아닙니다 (이진 데이터). CSV(UTF-8 또는 CP949) 또는 XLSX로 저장하십시오.",
    ),
    "unknown_encoding": (
        "The text encoding could not be read as UTF-8 or CP949/EUC-KR.",
        "파일 인코딩을 UTF-8 또는 CP949/EUC-KR로 읽을 수 없습니다.",
    ),
    "malformed_csv": (
        "The CSV could not be parsed (unbalanced quotes or broken structure).",
        "CSV 구조가 올바르지 않아 읽을 수 없습니다 (따옴표 불일치 등).",
    ),
    "unreadable_xlsx": (
        "The Excel workbook could not be opened (damaged or not an .xlsx file).",
        "엑셀 파일을 열 수 없습니다 (손상되었거나 .xlsx 형식이 아님).",
    ),
    "unsupported_format": (
        "Only .csv and .xlsx files are accepted. Expected: {expected}.",
        ".csv 및 .xlsx 파일만 접수합니다. 기대: {expected}.",
    ),
    "unknown_form": (
        "The file or sheet name is not a registry form. Expected: {expected}.",
        "파일 또는 시트 이름이 레지스트리 서식명이 아닙니다. 기대: {expected}.",
    ),
    "missing_columns": (
        "Required columns are missing: {expected}. Use the registry template.",
        "필수 열이 없습니다: {expected}. 레지스트리 양식을 사용하십시오.",
    ),
    "duplicate_columns": (
        "Column names appear more than once: {expected}.",
        "열 이름이 중복되었습니다: {expected}.",
    ),
    "no_header": ("The file has no header row.", "파일에 헤더 행이 없습니다."),
    "wrong_site_folder": (
        "No row's site_code matches the site folder; the file seems to be in the wrong folder. Expected: {expected}.",
        "모든 행의 기관 코드가 폴더의 기관과 다릅니다. 파일이 잘못된 폴더에 있는 것 같습니다. 기대: {expected}.",
    ),
    "wrong_month_folder": (
        "No row's submission_month matches the month folder; the file seems to be in the wrong folder. "
        "Expected: {expected}.",
        "모든 행의 제출 월이 폴더의 월과 다릅니다. 파일이 잘못된 폴더에 있는 것 같습니다. 기대: {expected}.",
    ),
    "unknown_site_folder": (
        "The site folder is not a registry site code. Expected: {expected}.",
        "기관 폴더 이름이 레지스트리 기관 코드가 아닙니다. 기대: {expected}.",
    ),
    "form_not_for_source": (
        "This form is not submitted from this folder (linkage returns and site forms have their own folders). "
        "Expected: {expected}.",
        "이 서식은 이 폴더에서 제출하지 않습니다 (연계 자료와 기관 서식은 각자의 폴더를 사용). 기대: {expected}.",
    ),
    "bad_month_folder": (
        "The month folder is not a calendar month written YYYY-MM (e.g. 'november' or 2026-13); the file was not "
        "read. Expected: {expected}.",
        "월 폴더 이름이 YYYY-MM 형식의 달이 아니므로 (예: 'november', 2026-13) 파일을 읽지 않았습니다. "
        "기대: {expected}.",
    ),
    "unexpected_location": (
        "The file is not inside a <SITE>/<YYYY-MM>/ folder. Expected: {expected}.",
        "파일이 <기관>/<YYYY-MM>/ 폴더 안에 있지 않습니다. 기대: {expected}.",
    ),
    "outside_root": (
        "The file is a link pointing outside the submissions folder and was not read.",
        "파일이 제출 폴더 밖을 가리키는 링크이므로 읽지 않았습니다.",
    ),
    "direct_identifier": (
        "The {expected} holds a value shaped like a resident registration number; the file was not read and the "
        "value is not stored. Rename it and resend.",
        "{expected}에 주민등록번호 형태의 값이 있어 파일을 읽지 않았으며 그 값은 저장하지 않았습니다. "
        "이름을 바꾸어 다시 제출하십시오.",
    ),
    "case_collision": (
        "Another file in the same folder has the same name apart from upper/lower case ({expected}); neither was "
        "read, since which one is meant cannot be known. Keep one and resend.",
        "같은 폴더에 대소문자만 다른 같은 이름의 파일이 있어 ({expected}) 어느 것도 읽지 않았습니다. 하나만 남겨 다시 "
        "제출하십시오.",
    ),
    "deferred_later_month": (
        "The month folder is later than the registry month being built ({expected}); the file will be ingested "
        "with that later month.",
        "월 폴더가 현재 작성 중인 레지스트리 월({expected})보다 늦습니다. 해당 월 처리 시 반영됩니다.",
    ),
}


def render(template: str, field: str = "", field_ko: str | None = None, expected: str = "") -> str:
    return template.format(field=field, field_ko=field_ko or field, expected=expected)


def reject_message(reason: str, expected: str = "") -> tuple[str, str]:
    en, ko = REJECT_MESSAGES[reason]
    return render(en, expected=expected), render(ko, expected=expected)
