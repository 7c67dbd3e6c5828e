"""Properties of cipher suites and groups, read from their IANA names (data, not if-chains).

Each property is a name predicate; :data:`SUITE_PROPERTIES` lists them so the
rules and the inventory share one vocabulary.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping

TLS13_PREFIXES = ("TLS_AES_", "TLS_CHACHA20_", "TLS_SM4_")


def _has(*fragments: str) -> Callable[[str], bool]:
    return lambda name: any(fragment in name.upper() for fragment in fragments)


def _static_rsa(name: str) -> bool:
    return name.upper().startswith(
        ("TLS_RSA_WITH_", "SSL_RSA_WITH_", "TLS_RSA_EXPORT", "SSL_RSA_EXPORT")
    )


def _static_dh(name: str) -> bool:
    upper = name.upper()
    return bool(re.match(r"^(TLS|SSL)_(EC)?DH_(RSA|DSS|ECDSA)_", upper))


def _weak_bulk(name: str) -> bool:
    upper = name.upper()
    return (
        "EXPORT" in upper
        or "_DES40_" in upper
        or "_RC4_40_" in upper
        or "_RC2_CBC_40_" in upper
        or bool(re.search(r"_DES_CBC_(SHA|MD5)", upper))
    )


def _cbc(name: str) -> bool:
    return "_CBC" in name.upper()


#: Property name -> predicate over an IANA suite name.
SUITE_PROPERTIES: Mapping[str, Callable[[str], bool]] = {
    "null_encryption": lambda name: (
        "_WITH_NULL_" in name.upper() or name.upper() == "TLS_NULL_WITH_NULL_NULL"
    ),
    "anonymous": _has("_ANON_"),
    "export_or_weak": _weak_bulk,
    "rc4": _has("_RC4_"),
    "triple_des": _has("3DES_EDE", "_3DES_"),
    "static_rsa": _static_rsa,
    "static_dh": _static_dh,
    "cbc": _cbc,
    "md5_mac": lambda name: name.upper().endswith("_MD5"),
    "sha1_mac": lambda name: name.upper().endswith("_SHA"),
    "non_nist_bulk": _has("CHACHA20", "CAMELLIA", "ARIA", "SEED", "IDEA", "SM4"),
}


def suite_has(name: str, prop: str) -> bool:
    return prop in suite_properties(name)


@functools.lru_cache(maxsize=4096)
def suite_properties(name: str) -> frozenset[str]:
    """Every property in :data:`SUITE_PROPERTIES` the suite has."""
    return frozenset(prop for prop, predicate in SUITE_PROPERTIES.items() if predicate(name))


#: Elliptic-curve groups below 224 bits (glossary: ECC >= 224).
WEAK_EC_GROUPS = frozenset(
    {
        "sect163k1",
        "sect163r1",
        "sect163r2",
        "sect193r1",
        "sect193r2",
        "secp160k1",
        "secp160r1",
        "secp160r2",
        "secp192k1",
        "secp192r1",
    }
)


def is_post_quantum_group(name: str) -> bool:
    """Hybrid or pure ML-KEM / Kyber key exchange (e.g. X25519MLKEM768)."""
    upper = name.upper()
    return "MLKEM" in upper or "KYBER" in upper


#: Which rule flags a suite property (the inventory shows these ids next to each suite).
PROPERTY_RULES: Mapping[str, str] = {
    "null_encryption": "C1",
    "anonymous": "C2",
    "export_or_weak": "C3",
    "rc4": "C4",
    "triple_des": "C5",
    "static_rsa": "C6",
    "static_dh": "C7",
    "cbc": "C8",
    "md5_mac": "C9",
    "sha1_mac": "C10",
    "non_nist_bulk": "C11",
}


def suite_rule_ids(name: str, protocol: str) -> tuple[str, ...]:
    """Rule ids that flag this suite on this protocol (TLS 1.3 suites: only C11)."""
    props = suite_properties(name)
    return tuple(
        rule_id
        for prop, rule_id in PROPERTY_RULES.items()
        if prop in props and (protocol != "TLSv1.3" or rule_id == "C11")
    )
