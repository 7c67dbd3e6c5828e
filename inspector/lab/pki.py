"""Certificates and keys for loopback peers: a CA, leaves, chains, written as PEM.

Everything here is throw-away test material generated at run time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

KeyKind = Literal["rsa", "ec", "ed25519"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

_CURVES: dict[int, ec.EllipticCurve] = {
    256: ec.SECP256R1(),
    384: ec.SECP384R1(),
    521: ec.SECP521R1(),
}
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def generate_key(kind: KeyKind = "ec", bits: int = 256) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "ec":
        return ec.generate_private_key(_CURVES[bits])
    return ed25519.Ed25519PrivateKey.generate()


@dataclasses.dataclass(frozen=True)
class Issued:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def sha256(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def _sign_hash(key: PrivateKey, signature_hash: str) -> Any:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else _HASHES[signature_hash]


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cryptoscope lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(
    common_name: str = "cryptoscope lab root CA",
    *,
    key_kind: KeyKind = "ec",
    key_bits: int = 256,
    signature_hash: str = "sha256",
    days: int = 3650,
    issuer: Issued | None = None,
) -> Issued:
    """A CA certificate: self-signed, or an intermediate when `issuer` is given."""
    key = generate_key(key_kind, key_bits)
    now = dt.datetime.now(dt.UTC)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.certificate.subject if issuer else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    certificate = builder.sign(signer_key, _sign_hash(signer_key, signature_hash))
    return Issued(certificate, key)


def make_leaf(
    issuer: Issued | None,
    *,
    common_name: str = "localhost",
    dns_names: tuple[str, ...] = ("localhost",),
    ip_addresses: tuple[str, ...] = ("127.0.0.1",),
    key_kind: KeyKind = "ec",
    key_bits: int = 256,
    signature_hash: str = "sha256",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = 90,
    client: bool = False,
    ocsp_url: str | None = None,
    crl_url: str | None = None,
) -> Issued:
    """A server (or client) certificate; self-signed when `issuer` is None.

    `ocsp_url` adds an Authority Information Access OCSP entry, `crl_url` a CRL
    distribution point (e.g. ``http://127.0.0.1:PORT/...`` of a loopback responder).
    """
    key = generate_key(key_kind, key_bits)
    now = dt.datetime.now(dt.UTC)
    start = not_before or now - dt.timedelta(days=1)
    end = not_after or now + dt.timedelta(days=days)
    signer_key = issuer.key if issuer else key
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.certificate.subject if issuer else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                    )
                ]
            ),
            critical=False,
        )
    if crl_url:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(crl_url)], None, None, None
                    )
                ]
            ),
            critical=False,
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    certificate = builder.sign(signer_key, _sign_hash(signer_key, signature_hash))
    return Issued(certificate, key)


@dataclasses.dataclass(frozen=True)
class PemFiles:
    cert: Path  # leaf then intermediates
    key: Path
    ca: Path  # the root(s) a client should trust


def write_pem_files(
    directory: Path, name: str, leaf: Issued, chain: tuple[Issued, ...], root: Issued
) -> PemFiles:
    """Write `<name>.crt` (leaf + `chain`), `<name>.key` and `<name>-ca.crt` (root) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    ca_path = directory / f"{name}-ca.crt"
    cert_path.write_bytes(leaf.cert_pem + b"".join(item.cert_pem for item in chain))
    key_path.write_bytes(leaf.key_pem)
    key_path.chmod(0o600)
    ca_path.write_bytes(root.cert_pem)
    return PemFiles(cert_path, key_path, ca_path)
