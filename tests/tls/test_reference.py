"""The IANA reference tables: counted against the registry CSVs, spot-checked, and free of drift."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from agent.tls import reference

ROOT = Path(__file__).resolve().parents[2]
IANA_DIR = ROOT / "data" / "iana"
DATA_DIR = ROOT / "agent" / "tls" / "data"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_iana_tables", ROOT / "scripts" / "gen_iana_tables.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assigned(path: Path, pattern: str) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    return [
        (row[0], row[1])
        for row in rows
        if re.fullmatch(pattern, row[0]) and not row[1].startswith(("Reserved", "Unassigned"))
    ]


def test_counts_match_the_registry() -> None:
    suites = reference.cipher_suites()
    expected = _assigned(IANA_DIR / "tls-parameters-4.csv", r"0x[0-9A-F]{2},0x[0-9A-F]{2}")
    assert len(expected) == 356
    assert len(suites) == 356
    assert sum(1 for s in suites if s.signalling) == 2
    assert {s.iana_name for s in suites if s.signalling} == {
        "TLS_FALLBACK_SCSV",
        "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    }
    assert sorted(s.id for s in suites) == sorted(
        int(v.replace("0x", "").replace(",", ""), 16) for v, _ in expected
    )
    groups = reference.named_groups()
    assert len(groups) == len(_assigned(IANA_DIR / "tls-parameters-8.csv", r"\d+")) == 57
    mlkem = {g.name for g in groups if "MLKEM" in g.name}
    assert mlkem == {
        "MLKEM512",
        "MLKEM768",
        "MLKEM1024",
        "SecP256r1MLKEM768",
        "X25519MLKEM768",
        "SecP384r1MLKEM1024",
        "curveSM2MLKEM768",
    }
    assert {
        g.name for g in groups if g.post_quantum and not g.obsolete and g.name != "curveSM2MLKEM768"
    } >= mlkem - {"curveSM2MLKEM768"}


def test_suite_spot_checks() -> None:
    suite = reference.cipher_suite(0xC02F)
    assert suite is not None
    assert suite.iana_name == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert (suite.key_exchange, suite.authentication, suite.cipher, suite.key_bits) == (
        "ECDHE",
        "RSA",
        "AES-128",
        128,
    )
    assert (suite.mode, suite.mac, suite.prf, suite.forward_secrecy, suite.export) == (
        "AEAD",
        "AEAD",
        "SHA256",
        True,
        False,
    )
    assert suite.openssl_name == "ECDHE-RSA-AES128-GCM-SHA256"
    assert reference.cipher_suite("ECDHE-RSA-AES128-GCM-SHA256") is suite
    assert reference.strength(suite) == ("strong", "AEAD with forward secrecy")

    export = reference.cipher_suite("TLS_RSA_EXPORT_WITH_RC4_40_MD5")
    assert export is not None and export.id == 0x0003
    assert (export.export, export.key_bits, export.mode, export.mac, export.cipher) == (
        True,
        40,
        "stream",
        "MD5",
        "RC4-40",
    )
    assert reference.strength(export)[0] == "insecure"

    triple = reference.cipher_suite(0x000A)
    assert triple is not None and (triple.cipher, triple.key_bits, triple.mode) == (
        "3DES",
        112,
        "CBC",
    )
    assert reference.strength(triple) == ("weak", "64-bit block cipher (Sweet32)")

    tls13 = reference.cipher_suite("TLS_CHACHA20_POLY1305_SHA256")
    assert (
        tls13 is not None
        and tls13.is_tls13
        and tls13.id == 0x1303
        and tls13.min_version == "TLSv1.3"
    )
    aegis = reference.cipher_suite(0x1307)
    assert aegis is not None and (aegis.iana_name, aegis.cipher, aegis.mode) == (
        "TLS_AEGIS_128L_SHA256",
        "AEGIS-128L",
        "AEAD",
    )
    integrity = reference.cipher_suite("TLS_SHA384_SHA384")
    assert integrity is not None and integrity.is_tls13 and integrity.cipher == "NULL"
    assert reference.strength(integrity)[0] == "insecure"
    gost13 = reference.cipher_suite("TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_S")
    assert gost13 is not None and gost13.is_tls13 and gost13.mode == "AEAD"
    gost12 = reference.cipher_suite("TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC")
    assert (
        gost12 is not None
        and not gost12.is_tls13
        and (gost12.mode, gost12.mac) == ("stream", "OMAC")
    )
    sm4 = reference.cipher_suite(0x00C6)
    assert sm4 is not None and (sm4.iana_name, sm4.prf, sm4.is_tls13) == (
        "TLS_SM4_GCM_SM3",
        "SM3",
        True,
    )
    ascon = reference.cipher_suite("TLS_ASCONAEAD128_SHA256")
    assert ascon is not None and (ascon.cipher, ascon.mode) == ("Ascon-AEAD-128", "AEAD")
    pwd = reference.cipher_suite("TLS_ECCPWD_WITH_AES_256_GCM_SHA384")
    assert pwd is not None and (pwd.key_exchange, pwd.authentication, pwd.prf) == (
        "ECCPWD",
        "password",
        "SHA384",
    )
    psk = reference.cipher_suite("TLS_PSK_DHE_WITH_AES_128_CCM_8")
    assert psk is not None and (psk.key_exchange, psk.authentication, psk.cipher_mode) == (
        "DHE",
        "PSK",
        "CCM_8",
    )
    anon = reference.cipher_suite("TLS_DH_anon_WITH_AES_256_GCM_SHA384")
    assert anon is not None and reference.strength(anon)[0] == "insecure"
    cbc = reference.cipher_suite("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384")
    assert (
        cbc is not None
        and reference.strength(cbc)[0] == "acceptable"
        and cbc.min_version == "TLSv1.2"
    )
    static = reference.cipher_suite("TLS_RSA_WITH_AES_128_CBC_SHA")
    assert (
        static is not None
        and reference.strength(static)[0] == "weak"
        and static.min_version == "SSLv3"
    )
    fallback = reference.cipher_suite(0x5600)
    assert (
        fallback is not None and fallback.signalling and fallback.iana_name == "TLS_FALLBACK_SCSV"
    )
    assert reference.suite_name(0x0A0A) == "UNKNOWN_0x0A0A"


def test_every_suite_has_complete_attributes() -> None:
    for suite in reference.cipher_suites():
        if suite.signalling:
            continue
        assert suite.mode in ("AEAD", "CBC", "stream", "none"), suite
        assert suite.key_exchange and suite.authentication and suite.cipher and suite.mac, suite
        assert suite.openssl_name, suite
        assert reference.strength(suite)[0] in reference.STRENGTHS


def test_group_spot_checks() -> None:
    hybrid = reference.group("X25519MLKEM768")
    assert hybrid is not None
    assert (hybrid.id, hybrid.kind, hybrid.post_quantum, hybrid.classical_group) == (
        4588,
        "hybrid-pq",
        True,
        "x25519",
    )
    assert hybrid.key_share_length == 32 + 1184
    assert reference.group(4587) is not None and reference.group(4587).key_share_length == 65 + 1184  # type: ignore[union-attr]
    mlkem = reference.group("MLKEM1024")
    assert mlkem is not None and (mlkem.kind, mlkem.key_share_length) == ("pq-kem", 1568)
    x25519 = reference.group(29)
    assert x25519 is not None and (
        x25519.name,
        x25519.kind,
        x25519.key_share_length,
        x25519.post_quantum,
    ) == ("x25519", "ecdhe", 32, False)
    p256 = reference.group("secp256r1")
    assert p256 is not None and (p256.id, p256.bits, p256.key_share_length, p256.recommended) == (
        23,
        256,
        65,
        "Y",
    )
    ffdhe = reference.group("ffdhe3072")
    assert ffdhe is not None and (ffdhe.id, ffdhe.kind, ffdhe.bits) == (257, "ffdhe", 3072)
    kyber = reference.group(25497)
    assert kyber is not None and kyber.obsolete and kyber.name == "X25519Kyber768Draft00"
    assert reference.group("GC256A").kind == "gost"  # type: ignore[union-attr]
    assert reference.group_name(9999) == "unknown_9999"


def test_suites_for_version() -> None:
    tls13 = reference.suites_for_version("TLSv1.3")
    assert {s.id for s in tls13} >= {0x1301, 0x1302, 0x1303, 0x1304, 0x1305}
    assert all(s.is_tls13 for s in tls13)
    tls10 = reference.suites_for_version("TLSv1.0")
    assert all(s.mode != "AEAD" and s.mac not in ("SHA256", "SHA384") for s in tls10)
    assert reference.cipher_suite(0x002F) in tls10
    tls12 = reference.suites_for_version("TLSv1.2")
    assert set(tls10) < set(tls12)
    assert len(tls12) + len(tls13) == 354


def test_regenerating_gives_the_committed_json(tmp_path: Path) -> None:
    generator = _generator()
    has_openssl = shutil.which("openssl") is not None
    fresh = generator.generate(IANA_DIR, use_openssl=has_openssl)
    for file_name, text in fresh.items():
        committed = json.loads((DATA_DIR / file_name).read_text(encoding="utf-8"))
        regenerated = json.loads(text)
        if file_name == "cipher_suites.json":
            for document in (committed, regenerated):
                for item in document["items"]:
                    # which names this machine's openssl lists varies with its version; the names do not
                    item.pop("openssl_name_source", None)
                    if not has_openssl:
                        item.pop("openssl_name", None)
        assert regenerated == committed, f"{file_name} drifted: run scripts/gen_iana_tables.py"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_derived_openssl_names_agree_with_openssl() -> None:
    # The naming convention used for suites the local openssl does not list must
    # reproduce every name it does list.
    generator = _generator()
    listed = generator.openssl_names()
    assert len(listed) > 100
    for suite_id, name in listed.items():
        suite = reference.cipher_suite(suite_id)
        assert suite is not None, name
        assert (
            generator.derived_openssl_name(
                suite.iana_name, generator.parse_suite_name(suite.iana_name)
            )
            == name
        )
        assert suite.openssl_name == name


def test_parse_suite_name_rejects_unknown_tokens() -> None:
    generator = _generator()
    with pytest.raises(ValueError, match="unknown key exchange"):
        generator.parse_suite_name("TLS_FOO_WITH_AES_128_CBC_SHA")
    with pytest.raises(ValueError, match="not a TLS suite"):
        generator.parse_suite_name("SSL_RSA_WITH_RC4_128_MD5")


def test_registry_copies_are_the_documented_snapshots() -> None:
    """data/iana holds IANA's files unchanged: their SHA-256 is the one data/iana/README.md records."""
    readme = (IANA_DIR / "README.md").read_text()
    for name in ("tls-parameters-4.csv", "tls-parameters-8.csv"):
        digest = hashlib.sha256((IANA_DIR / name).read_bytes()).hexdigest()
        section = readme.split(f"## {name}", 1)[1]
        assert f"SHA-256: `{digest}`" in section, name
