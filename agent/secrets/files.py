"""Classify a mounted file by its content: certificate(s), private key, public key, PFX or opaque.

Only facts leave this module: certificate facts (via :mod:`agent.tls.certificates`),
key type and size, public-key fingerprints, and a keyed hash for change detection.
The content itself is never returned, logged or put in an error message.

    hasher = KeyedHasher.load_or_create(Path("/var/lib/cryptoscope/secret-hash.key"))
    facts = classify_content("tls.crt", data, mode=0o440, hasher=hasher)
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import os
import re
import secrets
from collections import OrderedDict
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from agent.secrets.model import ContentKind, FileFacts, KeyFacts
from agent.tls.certificates import CertificateError, certificate_info, load_pem_certificates
from agent.tls.model import CertificateInfo

#: Bytes of HMAC key material. The key lives in a 0600 file beside the database, never in it.
HASH_KEY_BYTES = 32

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
_CERTIFICATE_LABELS = frozenset({b"CERTIFICATE", b"TRUSTED CERTIFICATE", b"X509 CERTIFICATE"})
_PRIVATE_KEY_LABELS = frozenset(
    {
        b"PRIVATE KEY",
        b"RSA PRIVATE KEY",
        b"EC PRIVATE KEY",
        b"DSA PRIVATE KEY",
        b"OPENSSH PRIVATE KEY",
    }
)
_ENCRYPTED_KEY_LABELS = frozenset({b"ENCRYPTED PRIVATE KEY"})
_PUBLIC_KEY_LABELS = frozenset({b"PUBLIC KEY", b"RSA PUBLIC KEY"})


class KeyedHasher:
    """HMAC-SHA256 under a key that never leaves the agent (change detection, not identification)."""

    def __init__(self, key: bytes, *, remembered: int = 4096) -> None:
        if len(key) < 16:
            raise ValueError("hash key must be at least 16 bytes")
        self._key = key
        #: Facts already worked out, by keyed hash: unchanged mounts are not parsed again
        #: (PFX decoding costs ~0.2 s per file). Facts only, never content.
        self._facts: OrderedDict[str, FileFacts] = OrderedDict()
        self._remembered = remembered

    def recall(self, keyed_hash: str) -> FileFacts | None:
        facts = self._facts.get(keyed_hash)
        if facts is not None:
            self._facts.move_to_end(keyed_hash)
        return facts

    def remember(self, facts: FileFacts) -> None:
        if not facts.keyed_hash or facts.error:
            return
        self._facts[facts.keyed_hash] = facts
        self._facts.move_to_end(facts.keyed_hash)
        while len(self._facts) > self._remembered:
            self._facts.popitem(last=False)

    def __repr__(self) -> str:  # never show the key
        return "KeyedHasher(<key hidden>)"

    @classmethod
    def ephemeral(cls) -> KeyedHasher:
        """A key for this process only (hashes change across restarts)."""
        return cls(secrets.token_bytes(HASH_KEY_BYTES))

    @classmethod
    def load_or_create(cls, path: Path) -> KeyedHasher:
        """Read the key file, or create it (mode 0600) with fresh random bytes."""
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_bytes(HASH_KEY_BYTES)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(key)
        return cls(key)

    def digest(self, data: bytes) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()


def _spki_sha256(public_key: object) -> str:
    try:
        der = public_key.public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (AttributeError, ValueError, TypeError):
        return ""
    return hashlib.sha256(der).hexdigest()


def key_facts(key: object) -> KeyFacts:
    """Type, size and public fingerprint of a private or public key object."""
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return KeyFacts("RSA", key.key_size, None, _spki_sha256(public))
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return KeyFacts("EC", key.curve.key_size, key.curve.name, _spki_sha256(public))
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return KeyFacts("Ed25519", 256, None, _spki_sha256(public))
    if isinstance(key, (ed448.Ed448PrivateKey, ed448.Ed448PublicKey)):
        return KeyFacts("Ed448", 456, None, _spki_sha256(public))
    if isinstance(key, (dsa.DSAPrivateKey, dsa.DSAPublicKey)):
        return KeyFacts("DSA", key.key_size, None, _spki_sha256(public))
    name = type(key).__name__.removeprefix("_").replace("PrivateKey", "").replace("PublicKey", "")
    return KeyFacts(name or "unknown", 0, None, _spki_sha256(public))


def _private_key_from_pem(block: bytes) -> KeyFacts:
    try:
        if b"OPENSSH PRIVATE KEY" in block[:40]:
            key: object = serialization.load_ssh_private_key(block, password=None)
        else:
            # type and size only: the (slow) RSA consistency check is of no use here
            key = serialization.load_pem_private_key(
                block, password=None, unsafe_skip_rsa_key_validation=True
            )
    except TypeError:  # needs a password
        return KeyFacts("encrypted", 0, encrypted=True)
    except Exception:  # noqa: BLE001 - unknown algorithm or damaged block: a fact, not a crash
        return KeyFacts("unknown", 0)
    return key_facts(key)


def _public_key_from_pem(block: bytes) -> KeyFacts:
    try:
        return key_facts(serialization.load_pem_public_key(block))
    except Exception:  # noqa: BLE001 - unknown algorithm or damaged block: a fact, not a crash
        return KeyFacts("unknown", 0)


def _looks_like_pfx(der: bytes) -> bool:
    """PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, ... }."""
    if len(der) < 8 or der[0] != 0x30:
        return False
    length_byte = der[1]
    offset = 2 if length_byte < 0x80 else 2 + (length_byte & 0x7F)
    return der[offset : offset + 3] == b"\x02\x01\x03"


def _pfx_facts(
    der: bytes,
) -> tuple[bool, tuple[x509.Certificate, ...], tuple[KeyFacts, ...], str | None]:
    """(password protected, certificates, private keys, error) of a PFX, trying the empty passwords."""
    for password in (None, b""):
        try:
            loaded = pkcs12.load_pkcs12(der, password)
        except ValueError:
            continue
        except Exception:  # noqa: BLE001 - unsupported algorithms inside the PFX
            return False, (), (), "PFX uses an unsupported algorithm"
        certs: list[x509.Certificate] = []
        if loaded.cert is not None:
            certs.append(loaded.cert.certificate)
        certs.extend(item.certificate for item in loaded.additional_certs)
        keys = (key_facts(loaded.key),) if loaded.key is not None else ()
        return False, tuple(certs), keys, None
    return True, (), (), None


def _decode_base64_text(data: bytes) -> bytes | None:
    compact = b"".join(data.split())
    if not compact or len(compact) % 4 != 0:
        return None
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _certificate_infos(
    certs: tuple[x509.Certificate, ...] | list[x509.Certificate],
) -> tuple[CertificateInfo, ...]:
    return tuple(certificate_info(cert) for cert in certs)


def _classify_pem(
    data: bytes,
) -> (
    tuple[
        ContentKind,
        tuple[CertificateInfo, ...],
        tuple[KeyFacts, ...],
        tuple[KeyFacts, ...],
        str | None,
    ]
    | None
):
    blocks = [(match.group(1), match.group(0)) for match in _PEM_BLOCK.finditer(data)]
    if not blocks:
        return None
    private_keys: list[KeyFacts] = []
    public_keys: list[KeyFacts] = []
    error: str | None = None
    has_certificate = False
    for label, block in blocks:
        if label in _CERTIFICATE_LABELS:
            has_certificate = True
        elif label in _PRIVATE_KEY_LABELS:
            private_keys.append(_private_key_from_pem(block))
        elif label in _ENCRYPTED_KEY_LABELS:
            private_keys.append(KeyFacts("encrypted", 0, encrypted=True))
        elif label in _PUBLIC_KEY_LABELS:
            public_keys.append(_public_key_from_pem(block))
    certificates: tuple[CertificateInfo, ...] = ()
    if has_certificate:
        try:
            certificates = _certificate_infos(load_pem_certificates(data))
        except CertificateError:
            error = "a PEM CERTIFICATE block could not be parsed"
    if private_keys:
        kind = (
            ContentKind.CERTIFICATE_WITH_KEY
            if certificates or has_certificate
            else ContentKind.PRIVATE_KEY
        )
    elif certificates:
        kind = ContentKind.CHAIN if len(certificates) > 1 else ContentKind.CERTIFICATE
    elif public_keys:
        kind = ContentKind.PUBLIC_KEY
    elif has_certificate:
        kind = ContentKind.CERTIFICATE
    else:
        return None
    return kind, certificates, tuple(private_keys), tuple(public_keys), error


def _classify_der(
    data: bytes,
) -> (
    tuple[ContentKind, tuple[CertificateInfo, ...], tuple[KeyFacts, ...], tuple[KeyFacts, ...]]
    | None
):
    """A lone DER certificate, private key or public key (objectEncoding base64/hex decodes to these)."""
    if len(data) < 16 or data[0] != 0x30:
        return None
    try:
        return (
            ContentKind.CERTIFICATE,
            (certificate_info(x509.load_der_x509_certificate(data)),),
            (),
            (),
        )
    except ValueError:
        pass
    try:
        return (
            ContentKind.PRIVATE_KEY,
            (),
            (
                key_facts(
                    serialization.load_der_private_key(
                        data, None, unsafe_skip_rsa_key_validation=True
                    )
                ),
            ),
            (),
        )
    except (ValueError, TypeError):
        pass
    except Exception:  # noqa: BLE001 - a key of an unsupported algorithm: opaque, not a crash
        return None
    try:
        return ContentKind.PUBLIC_KEY, (), (), (key_facts(serialization.load_der_public_key(data)),)
    except Exception:  # noqa: BLE001 - not a DER public key either: the caller records it as opaque
        return None


def classify_content(path: str, data: bytes, *, mode: int, hasher: KeyedHasher) -> FileFacts:
    """Facts about one file's content. Never raises for odd content; never keeps the bytes."""
    keyed_hash = hasher.digest(data)
    known = hasher.recall(keyed_hash)
    if known is not None:
        return dataclasses.replace(known, path=path, mode=mode & 0o7777)
    facts = _classify(path, data, keyed_hash, mode)
    hasher.remember(facts)
    return facts


def _classify(path: str, data: bytes, keyed_hash: str, mode: int) -> FileFacts:

    def facts(kind: ContentKind, **extra: Any) -> FileFacts:
        return FileFacts(
            path=path, kind=kind, mode=mode & 0o7777, size=len(data), keyed_hash=keyed_hash, **extra
        )

    if not data.strip():
        return facts(ContentKind.EMPTY)
    pem = _classify_pem(data) if b"-----BEGIN " in data else None
    if pem is not None:
        kind, certs, private, public, error = pem
        return facts(
            kind, certificates=certs, private_keys=private, public_keys=public, error=error
        )
    for encoding, der in (("der", data), ("base64", _decode_base64_text(data))):
        if der is not None and _looks_like_pfx(der):
            protected, certs_x509, private, error = _pfx_facts(der)
            return facts(
                ContentKind.PFX,
                certificates=_certificate_infos(certs_x509),
                private_keys=private,
                pfx_encoding=encoding,
                pfx_password_protected=protected,
                error=error,
            )
    der_kind = _classify_der(data)
    if der_kind is not None:
        kind, certs, private, public = der_kind
        return facts(kind, certificates=certs, private_keys=private, public_keys=public)
    return facts(ContentKind.OPAQUE)
