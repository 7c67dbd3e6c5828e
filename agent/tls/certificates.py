"""Certificate facts and chain validation, with `cryptography` only.

Facts, never key material: fingerprints, names, dates, algorithms and sizes.

    infos = [certificate_info(cert) for cert in load_pem_certificates(pem_bytes)]
    validation = validate_chain(certs, "api.example.internal", ca_file=None)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import ipaddress
import warnings
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from agent.tls.model import CertificateInfo, ChainValidation

#: Debian/Ubuntu system bundle; `certifi` is deliberately not a dependency.
SYSTEM_CA_BUNDLES: tuple[str, ...] = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
)

_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"


class CertificateError(ValueError):
    """A certificate or bundle that cannot be read; the message says why."""


def _public_key_facts(key: object) -> tuple[str, int, str | None]:
    """(key type, bits, curve) of a certificate's public key."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, None
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None
    name = type(key).__name__.removesuffix("PublicKey").removeprefix("_")
    return name or "unknown", 0, None


def _signature_hash(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return algorithm.name if algorithm is not None else None


def _signature_algorithm(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", None)
    return name if name and name != "Unknown OID" else oid.dotted_string


def _sans(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):
        return (), ()
    names = extension.value
    dns = tuple(names.get_values_for_type(x509.DNSName))
    ips = tuple(str(ip) for ip in names.get_values_for_type(x509.IPAddress))
    return dns, ips


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer`'s name and key signed `cert`."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


def certificate_info(cert: x509.Certificate) -> CertificateInfo:
    """Every fact the model holds about one certificate."""
    key_type, key_bits, curve = _public_key_facts(cert.public_key())
    dns, ips = _sans(cert)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return CertificateInfo(
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        sha1=cert.fingerprint(
            hashes.SHA1()
        ).hex(),  # a fingerprint (Key Vault x5t), not a signature
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_bits=key_bits,
        signature_algorithm=_signature_algorithm(cert),
        curve=curve,
        signature_hash=_signature_hash(cert),
        san_dns=dns,
        san_ip=ips,
        is_ca=_is_ca(cert),
        self_signed=is_self_signed(cert),
        spki_sha256=digest.finalize().hex(),
    )


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every CERTIFICATE block in a PEM bundle, in file order.

    Raises :class:`CertificateError` when the data holds no certificate or a block is damaged.
    """
    if _PEM_BEGIN not in data:
        raise CertificateError("no PEM CERTIFICATE block found")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateError(f"unreadable PEM certificate: {exc}") from exc


@dataclasses.dataclass(frozen=True, slots=True)
class ChainOrder:
    #: Each certificate is issued by the next one, in the presented order.
    ordered: bool
    #: The presented chain ends in a self-signed root or in a certificate a trust anchor issued.
    complete: bool


def chain_order_facts(
    certs: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate] = ()
) -> ChainOrder:
    """Order and completeness of a chain as presented (leaf first)."""
    if not certs:
        return ChainOrder(ordered=False, complete=False)
    ordered = all(issued_by(certs[i], certs[i + 1]) for i in range(len(certs) - 1))
    last = certs[-1]
    complete = is_self_signed(last) or any(issued_by(last, anchor) for anchor in anchors)
    return ChainOrder(ordered=ordered, complete=complete)


def _label_matches(pattern: str, hostname: str) -> bool:
    """RFC 6125 matching: case-insensitive, a wildcard only as the whole left-most label."""
    pattern = pattern.lower().rstrip(".")
    hostname = hostname.lower().rstrip(".")
    if pattern.startswith("*."):
        suffix = pattern[2:]
        head, _, rest = hostname.partition(".")
        return bool(head) and rest == suffix and suffix.count(".") >= 1
    return pattern == hostname


def hostname_matches(cert: x509.Certificate, hostname: str) -> bool:
    """Host name (or IP literal) against the leaf's SANs; the CN is not consulted."""
    dns, ips = _sans(cert)
    try:
        address = ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        return any(_label_matches(name, hostname) for name in dns)
    return any(ipaddress.ip_address(ip) == address for ip in ips)


def _trust_anchors(ca_file: str | None) -> tuple[list[x509.Certificate] | None, str, str | None]:
    """(anchors or None, source label, error)."""
    if ca_file:
        try:
            return load_pem_certificates(Path(ca_file).read_bytes()), ca_file, None
        except (OSError, CertificateError) as exc:
            return None, ca_file, f"cannot read CA file {ca_file}: {exc}"
    for candidate in SYSTEM_CA_BUNDLES:
        path = Path(candidate)
        if path.is_file():
            try:
                return list(_system_bundle(candidate, path.stat().st_mtime_ns)), "system", None
            except (OSError, CertificateError) as exc:
                return None, "system", f"cannot read system CA bundle: {exc}"
    return None, "system", "no system CA bundle found"


@functools.lru_cache(maxsize=4)
def _system_bundle(path: str, mtime_ns: int) -> tuple[x509.Certificate, ...]:
    """The system bundle, parsed once per file version (old roots may carry odd serials)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(load_pem_certificates(Path(path).read_bytes()))


def _verifier_subject(cert: x509.Certificate) -> x509.verification.Subject | None:
    """A name the leaf carries, so trust is checked apart from the host-name match."""
    dns, ips = _sans(cert)
    for name in dns:
        if "*" not in name:
            return x509.DNSName(name)
    if ips:
        return x509.IPAddress(ipaddress.ip_address(ips[0]))
    if dns:  # only wildcards: any concrete name under the first one
        return x509.DNSName("host" + dns[0].lstrip("*"))
    return None


def validate_chain(
    certs: Sequence[x509.Certificate],
    hostname: str | None,
    ca_file: str | None,
    *,
    now: dt.datetime | None = None,
) -> ChainValidation:
    """Validate a presented chain (leaf first) against `ca_file` or the system store."""
    if not certs:
        return ChainValidation(trusted=None, error="no certificate presented")
    leaf = certs[0]
    anchors, source, anchor_error = _trust_anchors(ca_file)
    order = chain_order_facts(certs, anchors or ())
    match = hostname_matches(leaf, hostname) if hostname else None
    base = ChainValidation(
        trusted=None,
        hostname_match=match,
        ordered=order.ordered,
        complete=order.complete,
        ca_source=source,
    )
    if anchors is None:
        return dataclasses.replace(base, error=anchor_error)
    subject = _verifier_subject(leaf)
    if subject is None:
        return dataclasses.replace(base, trusted=False, error="leaf has no subjectAltName")
    builder = PolicyBuilder().store(Store(anchors)).time(now or dt.datetime.now(dt.UTC))
    try:
        verifier = builder.build_server_verifier(subject)
        verifier.verify(leaf, list(certs[1:]))
    except VerificationError as exc:
        return dataclasses.replace(base, trusted=False, error=str(exc))
    except (ValueError, TypeError) as exc:
        return dataclasses.replace(base, trusted=False, error=f"cannot verify: {exc}")
    return dataclasses.replace(base, trusted=True, complete=True)
