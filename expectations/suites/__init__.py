"""The suites, one per layer, as declarative Rule objects (expectations.rules.Rule).

`all_rules()` builds them once from the data dictionary; rules with source="dictionary" are generated, the rest
are written by hand with their reason.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from expectations import volume
from expectations.config import LAYERS
from expectations.rules import Rule
from expectations.suites import adam, marts, raw, staging

if TYPE_CHECKING:
    from kocartr.dictionary import Dictionary

SUITES: dict[str, Callable[[Dictionary], list[Rule]]] = {
    "raw": raw.rules,
    "staging": staging.rules,
    "marts": marts.rules,
    "adam": adam.rules,
}


@lru_cache(maxsize=4)
def _build(dictionary_path: str | None) -> tuple[Rule, ...]:
    from kocartr.dictionary import load_dictionary

    d = load_dictionary(dictionary_path) if dictionary_path else load_dictionary()
    out: list[Rule] = []
    for layer in LAYERS:
        out.extend(SUITES[layer](d))
    out.extend(volume.rules(d))  # volume rules span the layers (expectations/volume.py)
    names = [r.name for r in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"duplicate rule names: {sorted(dupes)}")
    for r in out:
        r.validate()
    return tuple(out)


def all_rules(dictionary_path: str | None = None) -> tuple[Rule, ...]:
    return _build(str(dictionary_path) if dictionary_path else None)


def rules_for_layer(layer: str) -> list[Rule]:
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; layers are {LAYERS}")
    return [r for r in all_rules() if r.layer == layer]


def rules_for_table(table: str) -> list[Rule]:
    return [r for r in all_rules() if r.table == table]


def tables(layer: str | None = None) -> list[str]:
    """Tables (assets) that have checks, in suite order."""
    return list(dict.fromkeys(r.table for r in all_rules() if layer is None or r.layer == layer))
