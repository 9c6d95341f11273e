"""The data dictionary: a typed view of data/dictionary/dictionary.yaml, the one source of truth for forms.

Everything that needs to know a form, a field or a code list (validation, the synthetic generator, the site
template, generated dbt sources and code-list seeds) goes through `load_dictionary()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kocartr.paths import DICTIONARY_FILE

FIELD_TYPES = ("string", "text", "integer", "decimal", "date", "code")


class DictionaryError(ValueError):
    """The dictionary file itself is inconsistent (a bug in the dictionary, not in a submission)."""


@dataclass(frozen=True)
class Code:
    code: str
    label: str
    label_ko: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CodeList:
    name: str
    codes: tuple[Code, ...]
    description: str = ""

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.codes)

    def attribute(self, code: str, key: str, default: Any = None) -> Any:
        for c in self.codes:
            if c.code == code:
                return c.attributes.get(key, default)
        return default


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    description: str
    label_ko: str | None = None
    code_list: str | None = None
    multiple: bool = False
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    pattern: str | None = None
    cibmtr: str | None = None
    required_if: dict[str, tuple[str, ...]] = field(default_factory=dict)
    allowed_by: str | None = None
    range_by: str | None = None

    @property
    def is_free_text(self) -> bool:
        return self.type == "text"

    @property
    def codes_from(self) -> str:
        """The code list of a code field (load_dictionary guarantees one exists)."""
        if self.code_list is None:
            raise DictionaryError(f"field {self.name} is not a code field")
        return self.code_list


@dataclass(frozen=True)
class Form:
    name: str
    description: str
    grain: str
    fields: tuple[Field, ...]  # form-specific fields only (common fields are on the Dictionary)
    date_order: tuple[tuple[str, str], ...] = ()
    label_ko: str | None = None
    cibmtr: str | None = None
    grade_standard: str | None = None

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"form {self.name!r} has no field {name!r}")


@dataclass(frozen=True)
class Dictionary:
    version: str
    common_fields: tuple[Field, ...]
    forms: dict[str, Form]
    code_lists: dict[str, CodeList]

    def form(self, name: str) -> Form:
        try:
            return self.forms[name]
        except KeyError:
            raise KeyError(f"unknown form {name!r}; forms are {sorted(self.forms)}") from None

    def all_fields(self, form: str) -> tuple[Field, ...]:
        """Common fields first, then the form's own, in submission column order."""
        return self.common_fields + self.form(form).fields

    def columns(self, form: str) -> list[str]:
        return [f.name for f in self.all_fields(form)]

    def codes(self, code_list: str) -> tuple[str, ...]:
        return self.code_lists[code_list].values

    def allowed_codes(self, field: Field, controlling: Field) -> dict[str, tuple[str, ...]]:
        """For a field with `allowed_by`: controlling code -> the codes the field may take.

        The set is the controlling code's attribute named after the field (analyte.unit) or its plural
        (response_criteria.responses), several codes separated by ';'. Codes without it constrain nothing.
        """
        out = {}
        for c in self.code_lists[controlling.codes_from].codes:
            for key in (field.name, field.name + "s"):
                if key in c.attributes:
                    out[c.code] = tuple(str(c.attributes[key]).split(";"))
                    break
        return out


def _parse_field(raw: dict[str, Any], where: str) -> Field:
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        raise DictionaryError(f"{where}: field {raw.get('name')!r} has unknown type {ftype!r}")
    required_if = {k: tuple(str(v) for v in vals) for k, vals in (raw.get("required_if") or {}).items()}
    return Field(
        name=raw["name"],
        type=ftype,
        required=bool(raw.get("required", False)),
        description=raw.get("description", ""),
        label_ko=raw.get("label_ko"),
        code_list=raw.get("code_list"),
        multiple=bool(raw.get("multiple", False)),
        min=raw.get("min"),
        max=raw.get("max"),
        unit=raw.get("unit"),
        pattern=raw.get("pattern"),
        cibmtr=raw.get("cibmtr"),
        required_if=required_if,
        allowed_by=raw.get("allowed_by"),
        range_by=raw.get("range_by"),
    )


def _parse_code_list(name: str, raw: dict[str, Any]) -> CodeList:
    codes = []
    for item in raw["codes"]:
        if isinstance(item, dict):
            codes.append(
                Code(
                    str(item["code"]),
                    item.get("label", str(item["code"])),
                    item.get("label_ko"),
                    dict(item.get("attributes") or {}),
                )
            )
        else:
            codes.append(Code(str(item), str(item)))
    return CodeList(name=name, codes=tuple(codes), description=raw.get("description", ""))


def _check(d: Dictionary) -> None:
    """Fail fast on references that do not resolve, so a typo in the YAML never becomes a silent pass."""
    for form in d.forms.values():
        names = {f.name for f in d.all_fields(form.name)}
        if len(names) != len(d.all_fields(form.name)):
            raise DictionaryError(f"form {form.name}: duplicate field names")
        for f in d.all_fields(form.name):
            if f.type == "code" and f.code_list not in d.code_lists:
                raise DictionaryError(f"form {form.name}: field {f.name} names unknown code list {f.code_list!r}")
            for other in f.required_if:
                if other not in names:
                    raise DictionaryError(f"form {form.name}: {f.name}.required_if names unknown field {other}")
            for dep in (f.allowed_by, f.range_by):
                if dep is not None and dep not in names:
                    raise DictionaryError(f"form {form.name}: {f.name} depends on unknown field {dep}")
            if f.allowed_by:
                controlling = next(x for x in d.all_fields(form.name) if x.name == f.allowed_by)
                if not d.allowed_codes(f, controlling):
                    raise DictionaryError(
                        f"form {form.name}: {f.name}.allowed_by={f.allowed_by}, but no code of "
                        f"'{controlling.code_list}' has an attribute {f.name} or {f.name}s"
                    )
        for a, b in form.date_order:
            for n in (a, b):
                if n not in names or form.field(n).type != "date":
                    raise DictionaryError(f"form {form.name}: date_order names {n}, not a date field")


def parse_dictionary(raw: dict[str, Any]) -> Dictionary:
    common = tuple(_parse_field(f, "common_fields") for f in raw["common_fields"])
    forms = {}
    for name, body in raw["forms"].items():
        forms[name] = Form(
            name=name,
            description=body.get("description", ""),
            grain=body.get("grain", ""),
            fields=tuple(_parse_field(f, f"form {name}") for f in body["fields"]),
            date_order=tuple(tuple(pair) for pair in body.get("date_order", [])),
            label_ko=body.get("label_ko"),
            cibmtr=body.get("cibmtr"),
            grade_standard=body.get("grade_standard"),
        )
    code_lists = {name: _parse_code_list(name, body) for name, body in raw["code_lists"].items()}
    d = Dictionary(version=str(raw["version"]), common_fields=common, forms=forms, code_lists=code_lists)
    _check(d)
    return d


@lru_cache(maxsize=4)
def load_dictionary(path: Path | str = DICTIONARY_FILE) -> Dictionary:
    import yaml

    with open(path, encoding="utf-8") as fh:
        return parse_dictionary(yaml.safe_load(fh))
