"""Certificate facts and chain validation against certificates made by the lab PKI (and the openssl CLI)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from agent.tls.certificates import (
    CertificateError,
    certificate_info,
    chain_order_facts,
    hostname_matches,
    load_pem_certificates,
    validate_chain,
)
from inspector.lab import pki


@pytest.fixture(scope="module")
def chain() -> tuple[pki.Issued, pki.Issued, pki.Issued]:
    root = pki.make_ca("test root", key_kind="rsa", key_bits=2048)
    intermediate = pki.make_ca(
        "test intermediate", issuer=root, key_bits=384, signature_hash="sha384"
    )
    leaf = pki.make_leaf(
        intermediate,
        common_name="svc.example.internal",
        dns_names=("svc.example.internal", "*.apps.example.internal"),
        ip_addresses=("127.0.0.1", "::1"),
        signature_hash="sha384",
    )
    return root, intermediate, leaf


def test_certificate_info_holds_every_fact(
    chain: tuple[pki.Issued, pki.Issued, pki.Issued],
) -> None:
    # Given a leaf issued by an EC P-384 intermediate
    root, intermediate, leaf = chain
    info = certificate_info(leaf.certificate)
    # Then the facts are those of the certificate, computed independently here
    der = leaf.certificate.public_bytes(serialization.Encoding.DER)
    assert info.sha256 == leaf.certificate.fingerprint(hashes.SHA256()).hex()
    digest = hashes.Hash(hashes.SHA1())
    digest.update(der)
    assert info.sha1 == digest.finalize().hex()
    assert info.subject == "CN=svc.example.internal,O=cryptoscope lab"
    assert info.issuer == "CN=test intermediate,O=cryptoscope lab"
    assert info.serial == format(leaf.certificate.serial_number, "x")
    assert info.not_before.tzinfo is not None and info.not_after > dt.datetime.now(dt.UTC)
    assert (info.key_type, info.key_bits, info.curve) == ("EC", 256, "secp256r1")
    assert info.signature_algorithm == "ecdsa-with-SHA384"
    assert info.signature_hash == "sha384"
    assert info.san_dns == ("svc.example.internal", "*.apps.example.internal")
    assert info.san_ip == ("127.0.0.1", "::1")
    assert not info.is_ca and not info.self_signed
    spki = leaf.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    spki_digest = hashes.Hash(hashes.SHA256())
    spki_digest.update(spki)
    assert info.spki_sha256 == spki_digest.finalize().hex()
    # And the root is a self-signed RSA CA signed with SHA-256
    root_info = certificate_info(root.certificate)
    assert (root_info.key_type, root_info.key_bits, root_info.curve) == ("RSA", 2048, None)
    assert root_info.signature_algorithm == "sha256WithRSAEncryption"
    assert root_info.is_ca and root_info.self_signed


def test_ed25519_certificate_has_no_signature_hash() -> None:
    leaf = pki.make_leaf(None, key_kind="ed25519")
    info = certificate_info(leaf.certificate)
    assert (info.key_type, info.signature_algorithm, info.signature_hash) == (
        "Ed25519",
        "ed25519",
        None,
    )
    assert info.self_signed


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_sha1_signed_certificate_from_openssl_cli(tmp_path: Path) -> None:
    # cryptography refuses to sign with SHA-1, so the openssl CLI makes the certificate
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:1024", "-sha1", "-nodes", "-days", "2",
         "-subj", "/CN=legacy", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    (certificate,) = load_pem_certificates(cert.read_bytes())
    info = certificate_info(certificate)
    assert (info.key_type, info.key_bits) == ("RSA", 1024)
    assert (info.signature_algorithm, info.signature_hash) == ("sha1WithRSAEncryption", "sha1")


def test_load_pem_certificates_keeps_order_and_rejects_junk(
    chain: tuple[pki.Issued, pki.Issued, pki.Issued],
) -> None:
    root, intermediate, leaf = chain
    certs = load_pem_certificates(leaf.cert_pem + b"\n" + intermediate.cert_pem + root.cert_pem)
    assert [c.subject for c in certs] == [
        leaf.certificate.subject,
        intermediate.certificate.subject,
        root.certificate.subject,
    ]
    with pytest.raises(CertificateError, match="no PEM"):
        load_pem_certificates(b"hello")
    with pytest.raises(CertificateError, match="unreadable"):
        load_pem_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_chain_order_facts(chain: tuple[pki.Issued, pki.Issued, pki.Issued]) -> None:
    root, intermediate, leaf = chain
    full = [leaf.certificate, intermediate.certificate, root.certificate]
    assert chain_order_facts(full).ordered and chain_order_facts(full).complete
    swapped = chain_order_facts([leaf.certificate, root.certificate, intermediate.certificate])
    assert not swapped.ordered
    partial = [leaf.certificate, intermediate.certificate]
    assert chain_order_facts(partial).ordered and not chain_order_facts(partial).complete
    assert chain_order_facts(partial, anchors=[root.certificate]).complete


def _ca_file(tmp_path: Path, *issued: pki.Issued) -> str:
    path = tmp_path / "ca.pem"
    path.write_bytes(b"".join(item.cert_pem for item in issued))
    return str(path)


def test_validate_chain_with_ca_file(
    tmp_path: Path, chain: tuple[pki.Issued, pki.Issued, pki.Issued]
) -> None:
    root, intermediate, leaf = chain
    ca_file = _ca_file(tmp_path, root)
    presented = [leaf.certificate, intermediate.certificate]
    ok = validate_chain(presented, "svc.example.internal", ca_file)
    assert ok.trusted is True and ok.error is None
    assert (ok.hostname_match, ok.ordered, ok.complete, ok.ca_source) == (True, True, True, ca_file)
    # A wildcard SAN matches one label only; IP SANs match IP literals
    assert validate_chain(presented, "a.apps.example.internal", ca_file).hostname_match is True
    assert validate_chain(presented, "a.b.apps.example.internal", ca_file).hostname_match is False
    assert validate_chain(presented, "::1", ca_file).hostname_match is True
    assert validate_chain(presented, "127.0.0.2", ca_file).hostname_match is False
    # Trust is judged apart from the name
    wrong_name = validate_chain(presented, "other.example", ca_file)
    assert wrong_name.trusted is True and wrong_name.hostname_match is False
    # No name to check
    assert validate_chain(presented, None, ca_file).hostname_match is None


def test_validate_chain_failures(
    tmp_path: Path, chain: tuple[pki.Issued, pki.Issued, pki.Issued]
) -> None:
    root, intermediate, leaf = chain
    other_root = pki.make_ca("unrelated root")
    untrusted = validate_chain(
        [leaf.certificate, intermediate.certificate],
        "svc.example.internal",
        _ca_file(tmp_path, other_root),
    )
    assert untrusted.trusted is False and untrusted.error
    # Missing intermediate: not trusted, not complete
    missing = validate_chain([leaf.certificate], "svc.example.internal", _ca_file(tmp_path, root))
    assert missing.trusted is False and missing.complete is False
    # Expired leaf
    expired = pki.make_leaf(
        root,
        not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=30),
        not_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
    )
    result = validate_chain([expired.certificate], "localhost", _ca_file(tmp_path, root))
    assert result.trusted is False and result.error
    # A CA file that cannot be read
    bad = validate_chain([leaf.certificate], "x", str(tmp_path / "missing.pem"))
    assert bad.trusted is None and "cannot read CA file" in (bad.error or "")
    assert validate_chain([], "x", None).error == "no certificate presented"


def test_validate_chain_against_the_system_store(
    chain: tuple[pki.Issued, pki.Issued, pki.Issued],
) -> None:
    root, intermediate, leaf = chain
    result = validate_chain(
        [leaf.certificate, intermediate.certificate, root.certificate], "svc.example.internal", None
    )
    assert result.ca_source == "system"
    if Path("/etc/ssl/certs/ca-certificates.crt").is_file():
        assert result.trusted is False  # a lab root is in no system store
    else:
        assert result.trusted is None


def test_hostname_matches_ignores_common_name() -> None:
    leaf = pki.make_leaf(None, common_name="cn.example", dns_names=(), ip_addresses=("10.0.0.1",))
    assert not hostname_matches(leaf.certificate, "cn.example")
    assert hostname_matches(leaf.certificate, "10.0.0.1")
    assert isinstance(leaf.certificate, x509.Certificate)
