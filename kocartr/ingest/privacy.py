"""Pseudonymization (keyed HMAC registry keys) and the registry key. RRN screening lives in kocartr.privacy.

PIPA (registry brief section 6): an RRN must never be ingested or stored, and linkage uses a keyed token whose
secret is held apart from the data. The key therefore never lives in the warehouse or the repository, except the
published demo key, which is public by design and announced on every use.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger("kocartr.ingest")

# PUBLIC demo key: published in the repository, so anything keyed with it is NOT pseudonymized against anyone
# who has the code. Only for `--demo` / KOCARTR_DEMO=1 on synthetic data.
DEMO_KEY: bytes = b"ko-cartr-demo-key-PUBLIC-not-secret-v1"
MIN_KEY_BYTES = 16


class MissingKeyError(RuntimeError):
    """No usable registry key: `kocartr run` must refuse to start."""


def decode_key(text: str) -> bytes:
    text = text.strip()
    # A hex string of even length is taken as hex (the documented way to pass a random key); else its UTF-8 bytes.
    if len(text) % 2 == 0 and re.fullmatch(r"[0-9a-fA-F]+", text or "x"):
        return bytes.fromhex(text)
    return text.encode("utf-8")


TRUE_WORDS = {"1", "true", "yes"}


def demo_requested() -> bool:
    """KOCARTR_DEMO=1 (read by entry points only; the pipeline gets demo mode through its configuration)."""
    return os.environ.get("KOCARTR_DEMO", "").strip().lower() in TRUE_WORDS


def key_settings_from_env() -> dict[str, str]:
    """Where the key comes from, as the environment says (entry points: the CLI, the Dagster code location)."""
    return {
        "hmac_key": os.environ.get("KOCARTR_HMAC_KEY", ""),
        "hmac_key_file": os.environ.get("KOCARTR_HMAC_KEY_FILE", ""),
    }


def load_key(demo: bool = False) -> bytes:
    """The registry HMAC key from the environment: KOCARTR_HMAC_KEY (hex or text) or KOCARTR_HMAC_KEY_FILE; the
    public demo key only when `demo` is true or KOCARTR_DEMO=1 (said as a warning). Raises MissingKeyError otherwise."""
    demo = demo or demo_requested()
    if demo:
        log.warning(
            "DEMO MODE: using the PUBLISHED demo HMAC key; registry keys are not secret. Never use on real data."
        )
    return resolve_key(**key_settings_from_env(), demo=demo)


def resolve_key(hmac_key: str = "", hmac_key_file: str = "", demo: bool = False) -> bytes:
    """The registry HMAC key from explicit settings: the key itself (hex or text), else a file holding it; the public
    demo key only in demo mode. Raises MissingKeyError when none is usable. Demo mode is announced by whoever
    chose it (`kocartr run` prints one banner, load_key warns) and by ingest in the run's log, not here: the pipeline
    resolves the key several times and the terminal showed the warning beside the banner."""
    if demo:
        return DEMO_KEY
    key: bytes | None = None
    if hmac_key:
        key = decode_key(hmac_key)
    elif hmac_key_file:
        path = Path(hmac_key_file)
        if not path.is_file():
            raise MissingKeyError(f"KOCARTR_HMAC_KEY_FILE points to {path}, which is not a readable file")
        key = decode_key(path.read_bytes().decode("utf-8", errors="strict"))
    if key is None:
        raise MissingKeyError(
            "No registry HMAC key: set KOCARTR_HMAC_KEY (hex or text) or KOCARTR_HMAC_KEY_FILE (a file kept outside "
            "the warehouse), or run in demo mode (--demo or KOCARTR_DEMO=1) on synthetic data only."
        )
    if len(key) < MIN_KEY_BYTES:
        raise MissingKeyError(f"The registry HMAC key is too short: at least {MIN_KEY_BYTES} bytes are required")
    if key == DEMO_KEY:
        log.warning("The configured HMAC key is the PUBLISHED demo key: registry keys are not secret.")
    return key


def patient_key(key: bytes, site_code: str, patient_id: str) -> str:
    """Registry patient key: hex HMAC-SHA256 over site_code + ':' + patient_id."""
    return hmac.new(key, f"{site_code}:{patient_id}".encode(), hashlib.sha256).hexdigest()


RECORD_PREFIX = "record:"  # record keys are domain-separated from patient keys (a record id may equal a patient id)
FINGERPRINT_LABEL = b"kocartr registry key fingerprint v1"


class KeyMismatchError(MissingKeyError):
    """The registry key differs from the one the warehouse was built with: keys would not link (refuse)."""


def key_fingerprint(key: bytes) -> str:
    """Identifies a key without revealing it: HMAC(key, fixed label). Stored in the warehouse at creation."""
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def check_fingerprint(stored: str | None, key: bytes) -> None:
    """Raise KeyMismatchError when a warehouse's stored fingerprint is not this key's (None: a new warehouse)."""
    if stored is not None and stored != key_fingerprint(key):
        raise KeyMismatchError(
            "the registry HMAC key differs from the key this warehouse was built with (fingerprints differ): its "
            "patient keys would not link to the registered patients. Use the original key, or rotate the "
            "warehouse to the new key with `kocartr rekey`."
        )


def _tokens(key: bytes, prefix: str, pairs: list[tuple[str, str]]) -> list[str]:
    """HMAC-SHA256 hex of prefix + site + ':' + value per pair, one at a time (the reference: _hmac_tokens, which
    keys whole columns, must equal it: tests/ingest/test_reading.py)."""
    base = hmac.new(key, digestmod=hashlib.sha256)  # keyed once; copies skip re-deriving the key pads
    out = []
    for s, v in pairs:
        h = base.copy()
        h.update(f"{prefix}{s}:{v}".encode())
        out.append(h.hexdigest())
    return out


_BLOCK = 64  # SHA-256's block size in bytes (RFC 2104's B)


def _hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The inner and outer padded keys of HMAC-SHA256 (RFC 2104): a key longer than a block is hashed first."""
    block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


@functools.cache
def _keying_db() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB that keys columns, opened at first use and kept (opening one costs ~12 ms of CPU,
    and an ingest keys a few columns per form and chunk). It holds no table: each call's cursor registers its
    identifiers and drops them on close. Results keep the input's row order (preserve_insertion_order, DuckDB's
    default, set here because the keys are matched to their rows by position)."""
    import duckdb

    return duckdb.connect(config={"preserve_insertion_order": True})


def _hmac_tokens(key: bytes, prefix: str, sites: pl.Series, values: pl.Series) -> pl.Series:
    """_tokens over whole columns (a null value stays null; a null site reads as ''): HMAC-SHA256 written out with
    DuckDB's sha256 (H(K^opad || H(K^ipad || message))), so millions of keys cost no Python loop. The pads go in
    as parameters of the private in-memory database: never into SQL text, a table or a log."""
    ipad, opad = _hmac_pads(key)
    ids = pl.DataFrame({"s": sites.cast(pl.String).fill_null(""), "v": values.cast(pl.String)})
    con = _keying_db().cursor()
    try:
        con.register("_ids", ids.to_arrow())
        keyed = con.sql(
            "SELECT CASE WHEN v IS NOT NULL"
            " THEN sha256($opad || unhex(sha256($ipad || encode($prefix || s || ':' || v)))) END AS t FROM _ids",
            params={"ipad": ipad, "opad": opad, "prefix": prefix},
        ).pl()
    finally:
        con.close()
    return keyed["t"].rename(values.name)


def patient_keys(key: bytes, sites: pl.Series, ids: pl.Series) -> pl.DataFrame:
    """Keys for the distinct (site, patient_id) pairs only: one HMAC per patient, not per lab row."""
    pairs = pl.DataFrame({"site_code": sites, "patient_id": ids}).unique(maintain_order=True).drop_nulls()
    keys = _hmac_tokens(key, "", pairs["site_code"], pairs["patient_id"])
    return pairs.with_columns(keys.alias("patient_key"))


def record_key(key: bytes, site_code: str, record_id: str) -> str:
    """One registry record key (see record_keys)."""
    return _tokens(key, RECORD_PREFIX, [(site_code, record_id)])[0]


def record_keys(key: bytes, sites: pl.Series, ids: pl.Series) -> pl.Series:
    """Registry record key per row: HMAC over 'record:' + site + ':' + the site's record ID (null stays null).
    Site record IDs are site-internal identifiers (sites build them from their patient IDs): never stored."""
    return _hmac_tokens(key, RECORD_PREFIX, sites, ids)
