#!/usr/bin/env python3
"""Regenerate agent/tls/data/cipher_suites.json and groups.json from the IANA registry CSVs.

Every attribute follows from the IANA name by a small grammar; nothing is typed per suite:

    TLS_<kex>[_EXPORT|_EXPORT1024]_WITH_<cipher>[_<bits>][_<mode>]_<mac|prf>   (TLS <= 1.2)
    TLS_<cipher>[_<bits>][_<mode>]_<prf>                                         (TLS 1.3 style)

OpenSSL names come from the local `openssl ciphers -V ALL:COMPLEMENTOFALL:@SECLEVEL=0` where it
knows the suite, else from OpenSSL's historical naming convention ("derived").

    python scripts/gen_iana_tables.py [--iana-dir DIR] [--out-dir DIR] [--no-openssl]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IANA_DIR = ROOT / "data" / "iana"
DEFAULT_OUT_DIR = ROOT / "agent" / "tls" / "data"
OPENSSL_CIPHER_STRING = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"

# --- the grammar's vocabulary ------------------------------------------------------------------

#: Key-exchange token -> (key exchange, authentication, forward secrecy, OpenSSL name prefix).
KEY_EXCHANGES: dict[str, tuple[str, str, bool, str]] = {
    "NULL": ("NULL", "NULL", False, "NULL"),
    "RSA": ("RSA", "RSA", False, ""),
    "DH_DSS": ("DH", "DSS", False, "DH-DSS"),
    "DH_RSA": ("DH", "RSA", False, "DH-RSA"),
    "DHE_DSS": ("DHE", "DSS", True, "DHE-DSS"),
    "DHE_RSA": ("DHE", "RSA", True, "DHE-RSA"),
    "DH_anon": ("DH", "anon", True, "ADH"),
    "KRB5": ("KRB5", "KRB5", False, "KRB5"),
    "PSK": ("PSK", "PSK", False, "PSK"),
    "DHE_PSK": ("DHE", "PSK", True, "DHE-PSK"),
    "PSK_DHE": ("DHE", "PSK", True, "DHE-PSK"),
    "RSA_PSK": ("RSA", "PSK", False, "RSA-PSK"),
    "ECDH_ECDSA": ("ECDH", "ECDSA", False, "ECDH-ECDSA"),
    "ECDHE_ECDSA": ("ECDHE", "ECDSA", True, "ECDHE-ECDSA"),
    "ECDH_RSA": ("ECDH", "RSA", False, "ECDH-RSA"),
    "ECDHE_RSA": ("ECDHE", "RSA", True, "ECDHE-RSA"),
    "ECDH_anon": ("ECDH", "anon", True, "AECDH"),
    "ECDHE_PSK": ("ECDHE", "PSK", True, "ECDHE-PSK"),
    "SRP_SHA": ("SRP", "SRP", False, "SRP"),
    "SRP_SHA_RSA": ("SRP", "RSA", False, "SRP-RSA"),
    "SRP_SHA_DSS": ("SRP", "DSS", False, "SRP-DSS"),
    "ECCPWD": ("ECCPWD", "password", True, "ECCPWD"),
    "GOSTR341112_256": ("GOST-VKO", "GOST", True, "GOST2012"),
}

#: Cipher algorithm token -> (cipher name, default key bits, effective security bits, OpenSSL stem).
#: Effective bits differ from key bits for 3DES (meet-in-the-middle: 112).
CIPHERS: dict[str, tuple[str, int, int | None, str]] = {
    "NULL": ("NULL", 0, None, "NULL"),
    "AES": ("AES", 0, None, "AES"),
    "CAMELLIA": ("Camellia", 0, None, "CAMELLIA"),
    "ARIA": ("ARIA", 0, None, "ARIA"),
    "SEED": ("SEED", 128, None, "SEED"),
    "IDEA": ("IDEA", 128, None, "IDEA"),
    "DES40": ("DES", 40, None, "DES"),
    "DES": ("DES", 56, None, "DES"),
    "3DES": ("3DES", 168, 112, "DES-CBC3"),
    "RC4": ("RC4", 128, None, "RC4"),
    "RC2": ("RC2", 128, None, "RC2"),
    "CHACHA20": ("ChaCha20", 256, None, "CHACHA20"),
    "AEGIS": ("AEGIS", 0, None, "AEGIS"),
    "SM4": ("SM4", 128, None, "SM4"),
    "KUZNYECHIK": ("Kuznyechik", 256, None, "KUZNYECHIK"),
    "MAGMA": ("Magma", 256, None, "MAGMA"),
    "28147": ("GOST28147", 256, None, "GOST89"),
    "ASCONAEAD": ("Ascon-AEAD", 0, None, "ASCON"),
}

#: Mode token -> (mode class, mode name). Mode class is AEAD, CBC, stream or none.
MODES: dict[str, tuple[str, str]] = {
    "CBC": ("CBC", "CBC"),
    "GCM": ("AEAD", "GCM"),
    "CCM": ("AEAD", "CCM"),
    "CCM_8": ("AEAD", "CCM_8"),
    "POLY1305": ("AEAD", "Poly1305"),
    "MGM": ("AEAD", "MGM"),
    "CTR": ("stream", "CTR"),
    "CNT": ("stream", "CNT"),
    "EDE": ("CBC", "CBC"),
}

#: The last token: a record MAC for stream/CBC suites, a PRF hash for AEAD ones.
HASHES = {"SHA": "SHA1", "SHA256": "SHA256", "SHA384": "SHA384", "SHA512": "SHA512",
          "MD5": "MD5", "SM3": "SM3", "ASCONHASH256": "Ascon-Hash256", "NULL": "NULL",
          "IMIT": "GOST28147-IMIT", "OMAC": "OMAC"}  # fmt: skip

#: Ciphers that are AEAD by construction, without a mode token.
AEAD_CIPHERS = {"AEGIS", "ASCONAEAD"}
STREAM_CIPHERS = {"RC4"}

#: GOST TLS 1.3 suites (RFC 9367): "MGM_L" / "MGM_S" (light/strong re-keying).
MGM_VARIANTS = {"L", "S"}


def _split_alg_bits(token: str) -> tuple[str, int | None]:
    """'ASCONAEAD128' -> ('ASCONAEAD', 128); '128L' handled by caller; 'AES' -> ('AES', None)."""
    match = re.fullmatch(r"([A-Z]+?)(\d+)", token)
    if match and match.group(1) in CIPHERS:
        return match.group(1), int(match.group(2))
    return token, None


def parse_suite_name(name: str) -> dict[str, Any]:
    """The attributes of a cipher suite, from its IANA name alone."""
    if not name.startswith("TLS_"):
        raise ValueError(f"not a TLS suite name: {name}")
    body = name[4:]
    export = False
    if "_WITH_" in body:
        kex_token, cipher_part = body.split("_WITH_", 1)
        for suffix in ("_EXPORT1024", "_EXPORT"):
            if kex_token.endswith(suffix):
                export, kex_token = True, kex_token.removesuffix(suffix)
        if kex_token not in KEY_EXCHANGES:
            raise ValueError(f"unknown key exchange {kex_token!r} in {name}")
        key_exchange, authentication, forward_secrecy, _ = KEY_EXCHANGES[kex_token]
        protocol = "legacy"
    else:
        kex_token, cipher_part = "", body
        key_exchange, authentication, forward_secrecy = "any", "any", True
        protocol = "tls13"
    tokens = cipher_part.split("_")
    variant = None
    if tokens[-1] in MGM_VARIANTS:  # GOST TLS 1.3: ..._MGM_L
        variant = tokens.pop()
        protocol = "tls13"
        key_exchange, authentication = "any", "any"
    mac_token = None
    if tokens[-1] in HASHES and len(tokens) > 1:
        mac_token = tokens.pop()
    if tokens[0] in ("SHA256", "SHA384") and len(tokens) == 1:  # RFC 9150 integrity-only
        mac_token, tokens = tokens[0], ["NULL"]
    if tokens == ["8"]:
        raise ValueError(name)
    alg, bits = _split_alg_bits(tokens[0])
    if alg not in CIPHERS:
        raise ValueError(f"unknown cipher {alg!r} in {name}")
    cipher_name, default_bits, effective, openssl_stem = CIPHERS[alg]
    mode_class, mode_name = ("none", "none") if alg == "NULL" else ("", "")
    rest = tokens[1:]
    bits_suffix = ""
    while rest:
        token = rest.pop(0)
        if token.isdigit() or re.fullmatch(r"\d+L", token):
            bits = int(token.rstrip("L"))
            bits_suffix = "L" if token.endswith("L") else ""
        elif token == "CCM" and rest[:1] == ["8"]:
            rest.pop(0)
            mode_class, mode_name = MODES["CCM_8"]
        elif token in MODES:
            mode_class, mode_name = MODES[token]
            if token == "EDE":
                rest = [t for t in rest if t != "CBC"]
        elif token == "CBC":
            mode_class, mode_name = MODES["CBC"]
        else:
            raise ValueError(f"unknown token {token!r} in {name}")
    if not mode_class:
        if alg in AEAD_CIPHERS:
            mode_class, mode_name = "AEAD", cipher_name
        elif alg in STREAM_CIPHERS:
            mode_class, mode_name = "stream", "stream"
        else:
            raise ValueError(f"no mode in {name}")
    key_bits = bits if bits is not None else default_bits
    effective_bits = min(key_bits, effective) if effective else key_bits
    if export:
        effective_bits = min(effective_bits, 56 if "EXPORT1024" in name else 40)
    if mode_class == "AEAD":
        mac = "AEAD"
        prf = HASHES[mac_token] if mac_token else "SHA256"
    else:
        mac = HASHES[mac_token] if mac_token else "NULL"
        prf = mac if mac in ("SHA256", "SHA384", "SM3") else "legacy"
    if protocol == "tls13" and mac_token in ("SHA256", "SHA384") and alg == "NULL":
        mac, prf = "HMAC-" + HASHES[mac_token], HASHES[mac_token]
    return {
        "protocol": protocol,
        "key_exchange": key_exchange,
        "authentication": authentication,
        "cipher": f"{cipher_name}-{bits}{bits_suffix}" if bits is not None else cipher_name,
        "cipher_mode": mode_name + (f"-{variant}" if variant else ""),
        "key_bits": effective_bits,
        "mode": mode_class,
        "mac": mac,
        "prf": prf,
        "forward_secrecy": forward_secrecy,
        "export": export,
        "min_version": _min_version(protocol, mode_class, mac),
        "_kex_token": kex_token,
        "_alg": alg,
        "_bits": bits,
        "_mac_token": mac_token,
    }  # fmt: skip


def _min_version(protocol: str, mode: str, mac: str) -> str:
    """The oldest protocol version the suite is defined for (AEAD and SHA-2 MACs need TLS 1.2)."""
    if protocol == "tls13":
        return "TLSv1.3"
    if mode == "AEAD" or mac in ("SHA256", "SHA384", "SM3"):
        return "TLSv1.2"
    return "SSLv3"


def derived_openssl_name(name: str, attrs: dict[str, Any]) -> str:
    """OpenSSL's historical naming convention, for suites the local openssl does not list."""
    if attrs["protocol"] == "tls13":
        return name
    prefix = KEY_EXCHANGES[attrs["_kex_token"]][3]
    alg, bits, mode = attrs["_alg"], attrs["_bits"], attrs["cipher_mode"]
    stem = CIPHERS[alg][3]
    if alg == "NULL":
        cipher = "NULL"
        prefix = "" if prefix in ("", "NULL") else prefix
    elif alg == "3DES":
        cipher = "DES-CBC3"
    elif alg in ("DES", "DES40", "RC2", "IDEA"):
        cipher = f"{stem}-CBC"
    elif alg in ("RC4", "SEED"):
        cipher = stem
    elif alg == "CHACHA20":
        cipher = "CHACHA20-POLY1305"
    elif alg == "AES" and attrs["key_exchange"] == "SRP":
        cipher = f"AES-{bits}-CBC"  # OpenSSL spells the SRP suites out
    elif alg == "AES" and attrs["authentication"] == "PSK" and mode == "CBC":
        cipher = f"AES{bits}-CBC"  # ... and the AES-CBC PSK suites name the mode
    else:
        cipher = f"{stem}{bits or ''}"
        if mode in ("GCM", "CCM"):
            cipher += f"-{mode}"
        elif mode == "CCM_8":
            cipher += "-CCM8"
        elif mode not in ("CBC",):
            cipher += f"-{mode}"
    if attrs["_kex_token"] == "ECDHE_RSA" and alg == "ARIA":
        prefix = "ECDHE"  # OpenSSL's ARIA names drop the RSA of ECDHE-RSA
    mac_token = attrs["_mac_token"]
    parts = [p for p in (("EXP" if attrs["export"] else ""), prefix, cipher) if p]
    if attrs["mode"] == "AEAD":
        if mode == "GCM" and mac_token:
            parts.append(mac_token)
    elif mac_token and alg != "NULL" or alg == "NULL" and mac_token:
        parts.append(mac_token)
    return "-".join(parts)


# --- reading the registry ----------------------------------------------------------------------


def _rows(path: Path) -> Iterator[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if header[:4] != ["Value", "Description", "DTLS-OK", "Recommended"]:
            raise ValueError(f"unexpected header in {path}: {header}")
        yield from reader


def _suite_id(value: str) -> int | None:
    match = re.fullmatch(r"0x([0-9A-Fa-f]{2}),0x([0-9A-Fa-f]{2})", value.strip())
    return int(match.group(1) + match.group(2), 16) if match else None


def openssl_names() -> dict[int, str]:
    """Suite id -> name from the local openssl, or {} when openssl is absent."""
    openssl = shutil.which("openssl")
    if not openssl:
        return {}
    out = subprocess.run(
        [openssl, "ciphers", "-V", OPENSSL_CIPHER_STRING],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    names: dict[int, str] = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "-":
            suite_id = _suite_id(fields[0])
            if suite_id is not None:
                names[suite_id] = fields[2]
    return names


def build_suites(iana_dir: Path, use_openssl: bool = True) -> list[dict[str, Any]]:
    known = openssl_names() if use_openssl else {}
    suites = []
    for value, description, dtls, recommended, reference, *_ in _rows(
        iana_dir / "tls-parameters-4.csv"
    ):
        suite_id = _suite_id(value)
        if suite_id is None or not description.startswith("TLS_"):
            continue  # ranges, Reserved (GREASE), Unassigned
        record: dict[str, Any] = {
            "id": suite_id,
            "hex": f"0x{suite_id:04X}",
            "iana_name": description,
        }
        if description.endswith("_SCSV"):
            record.update(
                signalling=True, protocol="scsv", openssl_name=None, openssl_name_source=None
            )
        else:
            attrs = parse_suite_name(description)
            if suite_id in known:
                openssl_name, source = known[suite_id], "openssl"
            elif use_openssl:
                openssl_name, source = derived_openssl_name(description, attrs), "derived"
            else:
                openssl_name, source = None, None
            record.update({k: v for k, v in attrs.items() if not k.startswith("_")})
            record.update(signalling=False, openssl_name=openssl_name, openssl_name_source=source)
        record.update(dtls_ok=dtls == "Y", recommended=recommended or None, reference=reference)
        suites.append(record)
    return suites


#: Group-name patterns -> kind; the first match wins.
GROUP_KINDS: tuple[tuple[str, str], ...] = (
    (r".+(MLKEM|Kyber)\d+.*", "hybrid-pq"),
    (r"MLKEM\d+", "pq-kem"),
    (r"ffdhe\d+", "ffdhe"),
    (r"GC(256|512)[A-D]", "gost"),
    (r"curveSM2", "sm2"),
    (r"arbitrary_explicit_.*", "explicit"),
    (r"(sec[pt]\d+[kr]\d|brainpoolP\d+r1(tls13)?|x25519|x448)", "ecdhe"),
)

#: RFC 7919 appendix A estimates of security strength for the FFDHE groups (by modulus size).
FFDHE_STRENGTH = {2048: 103, 3072: 125, 4096: 150, 6144: 175, 8192: 192}
#: FIPS 203: ML-KEM parameter set -> module rank k (encapsulation key = 384k + 32 bytes) and NIST category bits.
MLKEM = {512: (2, 128), 768: (3, 192), 1024: (4, 256)}


def _ec_bits(name: str) -> int:
    special = {"x25519": 255, "x448": 448, "curveSM2": 256}
    if name in special:
        return special[name]
    return int(re.search(r"\d+", name).group(0))  # type: ignore[union-attr]


def _ec_share_length(name: str, bits: int) -> int:
    if name in ("x25519", "x448"):
        return math.ceil(bits / 8)
    return 1 + 2 * math.ceil(bits / 8)  # uncompressed point


def group_attributes(name: str) -> dict[str, Any]:
    kind = next((k for pattern, k in GROUP_KINDS if re.fullmatch(pattern, name)), None)
    if kind is None:
        raise ValueError(f"unknown group kind: {name}")
    attrs: dict[str, Any] = {"kind": kind, "post_quantum": kind in ("pq-kem", "hybrid-pq")}
    if kind in ("ecdhe", "sm2", "gost"):
        bits = _ec_bits(name)
        attrs.update(
            bits=bits, strength_bits=bits // 2, key_share_length=_ec_share_length(name, bits)
        )
    elif kind == "ffdhe":
        bits = int(name.removeprefix("ffdhe"))
        attrs.update(bits=bits, strength_bits=FFDHE_STRENGTH[bits], key_share_length=bits // 8)
    elif kind == "pq-kem":
        level = int(name.removeprefix("MLKEM"))
        rank, strength = MLKEM[level]
        attrs.update(bits=level, strength_bits=strength, key_share_length=384 * rank + 32)
    elif kind == "hybrid-pq":
        match = re.fullmatch(r"(.+?)(MLKEM|Kyber)(\d+)(Draft00)?", name)
        assert match
        classic = {"X25519": "x25519", "SecP256r1": "secp256r1", "SecP384r1": "secp384r1",
                   "curveSM2": "curveSM2"}[match.group(1)]  # fmt: skip
        level = int(match.group(3))
        rank, strength = MLKEM[level]
        classic_bits = _ec_bits(classic)
        attrs.update(
            bits=level,
            strength_bits=strength,
            classical_group=classic,
            key_share_length=_ec_share_length(classic, classic_bits) + 384 * rank + 32,
        )
    else:
        attrs.update(bits=None, strength_bits=None, key_share_length=None)
    return attrs


def build_groups(iana_dir: Path) -> list[dict[str, Any]]:
    groups = []
    for value, description, dtls, recommended, reference, *_ in _rows(
        iana_dir / "tls-parameters-8.csv"
    ):
        if not value.isdigit() or description.startswith(("Reserved", "Unassigned")):
            continue
        name = description.split(" (")[0].strip()
        record: dict[str, Any] = {
            "id": int(value),
            "name": name,
            "obsolete": "(OBSOLETE)" in description,
        }
        record.update(group_attributes(name))
        record.update(dtls_ok=dtls == "Y", recommended=recommended or None, reference=reference)
        groups.append(record)
    return groups


def render(records: list[dict[str, Any]], source: str) -> str:
    """One record per line, so a registry update shows as a readable diff."""
    lines = ",\n".join("  " + json.dumps(record, sort_keys=False) for record in records)
    return f'{{"source": {json.dumps(source)}, "count": {len(records)}, "items": [\n{lines}\n]}}\n'


def generate(iana_dir: Path, use_openssl: bool = True) -> dict[str, str]:
    """File name -> JSON text."""
    return {
        "cipher_suites.json": render(
            build_suites(iana_dir, use_openssl), "IANA tls-parameters-4 (TLS Cipher Suites)"
        ),
        "groups.json": render(
            build_groups(iana_dir), "IANA tls-parameters-8 (TLS Supported Groups)"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iana-dir", type=Path, default=DEFAULT_IANA_DIR)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--no-openssl", action="store_true", help="leave openssl_name empty")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for file_name, text in generate(args.iana_dir, not args.no_openssl).items():
        (args.out_dir / file_name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out_dir / file_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
