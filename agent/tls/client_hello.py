"""Hand-built ClientHellos for SSL 2.0, SSL 3.0 and TLS 1.0 to 1.3.

Only the hello is built: enumeration needs nothing past the server's first flight. TLS 1.3
key shares are real (X25519, X448, NIST curves, ML-KEM via `cryptography`, RFC 7919 FFDHE by
modular exponentiation) where they can be made, and random bytes of the right length otherwise.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
from collections.abc import Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

from agent.tls import dh_groups, reference
from agent.tls.wire import (
    SSL2_CIPHERS,
    VERSIONS,
    ContentType,
    ExtensionType,
    HandshakeType,
    encode_handshake,
    encode_record,
)

TLS_FALLBACK_SCSV = 0x5600
TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF

#: Groups offered when none are given: classic curves, FFDHE and the ML-KEM hybrids.
DEFAULT_GROUPS: tuple[int, ...] = (29, 23, 24, 25, 30, 4588, 4587, 4589, 256, 257, 258)

#: Every TLS 1.2/1.3 SignatureScheme worth offering, legacy ones included (a scanner must not be picky).
SIGNATURE_ALGORITHMS: tuple[int, ...] = (
    0x0403, 0x0503, 0x0603,  # ecdsa_secp{256,384,521}r1_sha{256,384,512}
    0x0807, 0x0808,  # ed25519, ed448
    0x0804, 0x0805, 0x0806,  # rsa_pss_rsae_sha{256,384,512}
    0x0809, 0x080A, 0x080B,  # rsa_pss_pss_sha{256,384,512}
    0x0401, 0x0501, 0x0601,  # rsa_pkcs1_sha{256,384,512}
    0x0904, 0x0905, 0x0906,  # mldsa{44,65,87}
    0x081A, 0x081B, 0x081C,  # ecdsa_brainpoolP{256,384,512}r1tls13_sha{256,384,512}
    0x0303, 0x0301, 0x0302,  # ecdsa/rsa/dsa sha224
    0x0203, 0x0201, 0x0202,  # ecdsa/rsa/dsa sha1
    0x0402, 0x0502, 0x0602,  # dsa sha256/384/512
)  # fmt: skip

#: Largest ClientHello body we send for suite enumeration (some servers reject bigger ones).
MAX_SUITES_PER_HELLO = 128


@dataclasses.dataclass(frozen=True, slots=True)
class HelloSpec:
    """What a ClientHello offers."""

    version: str  # a name from wire.VERSIONS
    suites: tuple[int, ...]
    server_name: str | None = None
    groups: tuple[int, ...] = DEFAULT_GROUPS
    #: TLS 1.3: groups to send a key share for; empty asks the server to pick (HelloRetryRequest).
    key_share_groups: tuple[int, ...] = ()
    fallback_scsv: bool = False
    #: TLS <= 1.2 only: also list these versions in supported_versions (one probe, several versions).
    supported_versions: tuple[str, ...] = ()


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def _vector(data: bytes, length_size: int) -> bytes:
    return len(data).to_bytes(length_size, "big") + data


def _extension(ext_type: int, data: bytes) -> bytes:
    return _u16(ext_type) + _vector(data, 2)


def _is_hostname(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return bool(name)
    return False


#: curveSM2 (GB/T 32918.5) base point, uncompressed: a valid public point when no SM2 backend exists.
_SM2_GENERATOR = bytes.fromhex(
    "04"
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


def key_share_bytes(group_id: int) -> bytes:
    """A public key share for `group_id` (no private key is kept: the handshake stops at the ServerHello)."""
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    point = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    curves: dict[int, ec.EllipticCurve] = {
        23: ec.SECP256R1(),
        24: ec.SECP384R1(),
        25: ec.SECP521R1(),
        26: ec.BrainpoolP256R1(),
        27: ec.BrainpoolP384R1(),
        28: ec.BrainpoolP512R1(),
        31: ec.BrainpoolP256R1(),  # brainpoolP256r1tls13: the same curve, a TLS 1.3 code point
        32: ec.BrainpoolP384R1(),
        33: ec.BrainpoolP512R1(),
    }
    if group_id == 29:
        return x25519.X25519PrivateKey.generate().public_key().public_bytes(*raw)
    if group_id == 30:
        return x448.X448PrivateKey.generate().public_key().public_bytes(*raw)
    if group_id in curves:
        return ec.generate_private_key(curves[group_id]).public_key().public_bytes(*point)
    if group_id == 41:
        return _SM2_GENERATOR
    if group_id in (4588, 4587, 4589, 4590, 513, 514):
        mlkem = _mlkem_public(1024 if group_id in (4589, 514) else 768)
        if mlkem is not None:
            if group_id == 4588:  # X25519MLKEM768: ML-KEM first, then X25519
                return mlkem + key_share_bytes(29)
            if group_id == 4587:  # SecP256r1MLKEM768: ECDH first
                return key_share_bytes(23) + mlkem
            if group_id == 4589:
                return key_share_bytes(24) + mlkem
            if group_id == 4590:  # curveSM2MLKEM768: ECDH first, like the NIST-curve hybrids
                return _SM2_GENERATOR + mlkem
            return mlkem
    if group_id in dh_groups.rfc7919_group_ids():  # g^x mod p with a throw-away 256-bit x
        return dh_groups.ffdhe_public_value(group_id, 2 + secrets.randbits(256))
    item = reference.group(group_id)
    length = item.key_share_length if item and item.key_share_length else 32
    return os.urandom(length)


def _mlkem_public(level: int) -> bytes | None:
    try:
        from cryptography.hazmat.primitives.asymmetric import mlkem
    except ImportError:  # pragma: no cover - older cryptography
        return None
    key_class = {768: "MLKEM768PrivateKey", 1024: "MLKEM1024PrivateKey"}[level]
    try:
        private = getattr(mlkem, key_class).generate()
        return bytes(private.public_key().public_bytes_raw())
    except Exception:  # noqa: BLE001 - backend without ML-KEM: fall back to random bytes
        return None


def _extensions(spec: HelloSpec) -> bytes:
    version = VERSIONS[spec.version]
    parts: list[bytes] = []
    if spec.server_name and _is_hostname(spec.server_name):
        name = (
            spec.server_name.encode("idna")
            if not spec.server_name.isascii()
            else spec.server_name.encode()
        )
        entry = b"\x00" + _vector(name, 2)
        parts.append(_extension(ExtensionType.SERVER_NAME, _vector(entry, 2)))
    if spec.groups:
        parts.append(
            _extension(
                ExtensionType.SUPPORTED_GROUPS, _vector(b"".join(_u16(g) for g in spec.groups), 2)
            )
        )
    parts.append(_extension(ExtensionType.EC_POINT_FORMATS, _vector(b"\x00", 1)))
    if version >= VERSIONS["TLSv1.2"]:
        schemes = b"".join(_u16(s) for s in SIGNATURE_ALGORITHMS)
        parts.append(_extension(ExtensionType.SIGNATURE_ALGORITHMS, _vector(schemes, 2)))
    if version < VERSIONS["TLSv1.3"]:
        parts.append(_extension(ExtensionType.RENEGOTIATION_INFO, b"\x00"))
        if spec.supported_versions:
            listed = b"".join(_u16(VERSIONS[name]) for name in spec.supported_versions)
            parts.append(_extension(ExtensionType.SUPPORTED_VERSIONS, _vector(listed, 1)))
    else:
        parts.append(_extension(ExtensionType.SUPPORTED_VERSIONS, _vector(_u16(version), 1)))
        parts.append(_extension(ExtensionType.PSK_KEY_EXCHANGE_MODES, _vector(b"\x01", 1)))
        shares = b"".join(_u16(g) + _vector(key_share_bytes(g), 2) for g in spec.key_share_groups)
        parts.append(_extension(ExtensionType.KEY_SHARE, _vector(shares, 2)))
    return b"".join(parts)


def client_hello_body(spec: HelloSpec) -> bytes:
    """The ClientHello handshake body (RFC 5246 7.4.1.2 / RFC 8446 4.1.2)."""
    version = VERSIONS[spec.version]
    if version < VERSIONS["SSLv3"]:
        raise ValueError("use ssl2_client_hello for SSLv2")
    if not spec.suites:
        raise ValueError("a ClientHello needs at least one cipher suite")
    legacy_version = min(version, VERSIONS["TLSv1.2"])
    suites = list(spec.suites) + ([TLS_FALLBACK_SCSV] if spec.fallback_scsv else [])
    session_id = os.urandom(32) if version >= VERSIONS["TLSv1.3"] else b""
    body = (
        _u16(legacy_version)
        + os.urandom(32)
        + _vector(session_id, 1)
        + _vector(b"".join(_u16(s) for s in suites), 2)
        + _vector(b"\x00", 1)  # compression: null only
    )
    if version > VERSIONS["SSLv3"]:
        body += _vector(_extensions(spec), 2)
    return body


def client_hello(spec: HelloSpec) -> bytes:
    """The ClientHello as it goes on the wire: one handshake record (split if over 2^14)."""
    message = encode_handshake(HandshakeType.CLIENT_HELLO, client_hello_body(spec))
    record_version = VERSIONS["SSLv3"] if spec.version == "SSLv3" else VERSIONS["TLSv1.0"]
    chunks = [message[i : i + 2**14] for i in range(0, len(message), 2**14)]
    return b"".join(encode_record(ContentType.HANDSHAKE, record_version, chunk) for chunk in chunks)


def ssl2_client_hello(cipher_kinds: Sequence[int] = tuple(SSL2_CIPHERS)) -> bytes:
    """An SSL 2.0 CLIENT-HELLO offering `cipher_kinds` (2-byte record header)."""
    challenge = os.urandom(16)
    specs = b"".join(kind.to_bytes(3, "big") for kind in cipher_kinds)
    message = (
        b"\x01"  # CLIENT-HELLO
        + _u16(VERSIONS["SSLv2"])
        + _u16(len(specs))
        + _u16(0)  # session id length
        + _u16(len(challenge))
        + specs
        + challenge
    )
    return bytes([0x80 | (len(message) >> 8), len(message) & 0xFF]) + message
