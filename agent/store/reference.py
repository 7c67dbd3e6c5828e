"""Fill the IANA reference tables from :mod:`agent.tls.reference` so a snapshot describes itself.

Loaded once per database (when the tables are empty). If the generated data
is missing or unreadable the tables stay empty and the next writer retries.
"""

from __future__ import annotations

import logging

from sqlite_utils import Database

log = logging.getLogger(__name__)


def load_iana_tables(db: Database) -> None:
    """Load the cipher-suite and group registries unless already loaded."""
    if db.execute("SELECT count(*) FROM iana_cipher_suites").fetchone()[0]:
        return
    try:
        from agent.tls import reference

        suites = reference.cipher_suites()
        groups = reference.named_groups()
    except Exception as exc:  # generated package data; never block the store on it
        log.warning("IANA reference data not loaded: %s", exc)
        return
    db.conn.executemany(
        "INSERT OR IGNORE INTO iana_cipher_suites (code, name, key_exchange, authentication, cipher, mac,"
        " strength_bits, recommended, protocols, openssl_name, mode, forward_secrecy, export, strength,"
        " strength_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                suite.hex or f"0x{suite.id:04X}",
                suite.iana_name,
                suite.key_exchange,
                suite.authentication,
                suite.cipher,
                suite.mac,
                suite.key_bits,
                suite.recommended,
                "TLSv1.3"
                if suite.is_tls13
                else (f"{suite.min_version}+" if suite.min_version else suite.protocol),
                suite.openssl_name,
                suite.mode,
                int(suite.forward_secrecy),
                int(suite.export),
                *reference.strength(suite),
            )
            for suite in suites
        ],
    )
    db.conn.executemany(
        "INSERT OR IGNORE INTO iana_groups (code, name, kind, strength_bits, post_quantum, recommended, obsolete)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                g.id,
                g.name,
                g.kind,
                g.strength_bits,
                int(g.post_quantum),
                g.recommended,
                int(g.obsolete),
            )
            for g in groups
        ],
    )
