"""Fill the IANA reference tables from ``agent.tls.reference`` so a snapshot describes itself.

The prober package owns the generated data (``agent/tls/data/*.json``). Until
it is present nothing is loaded; the next writer that opens the database fills
the tables once it is.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlite_utils import Database

log = logging.getLogger(__name__)


def _records(reference: Any, names: Iterable[str]) -> list[Any]:
    for name in names:
        value = getattr(reference, name, None)
        if value is None:
            continue
        if callable(value):
            value = value()
        if isinstance(value, Mapping):
            value = list(value.values())
        return list(value)
    return []


def _field(record: Any, *names: str) -> Any:
    for name in names:
        if isinstance(record, Mapping) and name in record:
            return record[name]
        if hasattr(record, name):
            return getattr(record, name)
    return None


def load_iana_tables(db: Database) -> None:
    """Load (once) the cipher-suite and group registries; a no-op when already filled or absent."""
    if db.execute("SELECT count(*) FROM iana_cipher_suites").fetchone()[0]:
        return
    try:
        reference = importlib.import_module("agent.tls.reference")
    except ImportError:
        return
    try:
        suites = _records(reference, ("CIPHER_SUITES", "cipher_suites", "SUITES"))
        groups = _records(reference, ("GROUPS", "groups", "NAMED_GROUPS"))
    except Exception as exc:  # the generated data is another package's; never block the store on it
        log.warning("IANA reference data not loaded: %s", exc)
        return
    suite_rows = []
    for suite in suites:
        code = _field(suite, "code", "value", "id")
        name = _field(suite, "name", "iana_name")
        if code is None or not name:
            continue
        protocols = _field(suite, "protocols", "versions")
        suite_rows.append(
            (
                f"0x{code:04X}" if isinstance(code, int) else str(code),
                name,
                _field(suite, "key_exchange", "kex"),
                _field(suite, "authentication", "auth"),
                _field(suite, "cipher", "encryption", "bulk"),
                _field(suite, "mac", "hash"),
                _field(suite, "strength_bits", "bits", "strength"),
                _field(suite, "recommended"),
                ", ".join(protocols) if isinstance(protocols, (list, tuple)) else protocols,
            )
        )
    db.conn.executemany(
        "INSERT OR IGNORE INTO iana_cipher_suites (code, name, key_exchange, authentication, cipher, mac,"
        " strength_bits, recommended, protocols) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            tuple(str(v) if isinstance(v, (list, tuple, dict)) else v for v in row)
            for row in suite_rows
        ],
    )
    group_rows = []
    for group in groups:
        code = _field(group, "code", "value", "id")
        name = _field(group, "name")
        if code is None or not name:
            continue
        group_rows.append(
            (
                int(code),
                name,
                _field(group, "kind", "type"),
                _field(group, "strength_bits", "bits", "strength"),
                int(bool(_field(group, "post_quantum", "pq", "is_post_quantum"))),
                _field(group, "recommended"),
            )
        )
    db.conn.executemany(
        "INSERT OR IGNORE INTO iana_groups (code, name, kind, strength_bits, post_quantum, recommended)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        group_rows,
    )
