"""K10 (4.2.1.1): a certificate whose inventory record would lack a field is an evidence finding."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from agent.rules import RULES, evaluate_endpoint
from agent.rules.certificates import inventory_gaps
from agent.store import EndpointIdentity, Store
from agent.tls import scan_sync
from agent.tls.certificates import certificate_info
from agent.tls.model import ScanOptions, Target
from inspector.lab import pki
from inspector.lab.tls_servers import PyOpenSSLServer
from tests.rules.test_rules import fired, real_chain, scan

pytestmark = pytest.mark.timeout(120)


def test_k10_is_a_4211_rule() -> None:
    assert RULES["K10"].requirements == ("4.2.1.1",)


def test_complete_chain_has_no_gaps_and_a_root_needs_no_sans() -> None:
    leaf, root = real_chain()
    assert not root.san_dns and not root.san_ip
    assert inventory_gaps(leaf, 0) == [] and inventory_gaps(root, 1) == []
    assert "K10" not in fired(scan(certificates=(leaf, root)))


def test_leaf_without_subject_alternative_names() -> None:
    leaf, root = real_chain(dns_names=(), ip_addresses=())
    (finding,) = fired(scan(certificates=(leaf, root)))["K10"]
    assert finding.message.endswith("inventory lacks SANs")
    assert finding.detail_key == leaf.sha256


def test_leaf_with_an_empty_subject() -> None:
    root = pki.make_ca()
    key = pki.generate_key()
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=True)
        .sign(root.key, hashes.SHA256())
    )
    leaf = certificate_info(certificate)
    assert leaf.subject == ""
    found = fired(scan(certificates=(leaf, certificate_info(root.certificate))))["K10"]
    assert [f.message.rsplit(": ", 1)[1] for f in found] == ["inventory lacks subject"]


def test_fields_the_prober_could_not_read() -> None:
    leaf, root = real_chain()
    unreadable = dataclasses.replace(leaf, key_type="unknown", key_bits=0, sha256="")
    assert inventory_gaps(unreadable, 0) == ["key algorithm", "key size", "SHA-256"]
    (finding,) = fired(scan(certificates=(unreadable, root)))["K10"]
    assert finding.detail_key == "position-0"


def test_a_real_peer_serving_a_cn_only_certificate(tmp_path: Path) -> None:
    """Scanned by the prober, recorded, read back: the finding names the certificate it is about."""
    root = pki.make_ca()
    leaf = pki.make_leaf(root, common_name="legacy.example.test", dns_names=(), ip_addresses=())
    pem = pki.write_pem_files(tmp_path, "legacy", leaf, (), root)
    with PyOpenSSLServer(pem, min_version="TLSv1.2") as server:
        (result,) = scan_sync(
            [Target(server.host, server.port)],
            ScanOptions(connect_timeout=10, read_timeout=10, ca_file=str(pem.ca)),
        )
    assert result.certificates and result.certificates[0].sha256 == leaf.sha256
    identity = EndpointIdentity(ip=server.host, port=server.port)
    with Store.open(tmp_path / "k10.db") as store:
        run_id = store.begin_run(agent_id="t", mode="local")
        store.record_endpoint_scan(run_id, identity, result)
        store.record_findings(run_id, evaluate_endpoint(result, identity.subject_key))
        store.finish_run(run_id)
        rows = list(
            store.db.query(
                "SELECT f.detail_key, f.message, f.requirements, c.subject, c.san_dns"
                " FROM current_findings f JOIN certificates c ON c.sha256 = f.detail_key"
                " WHERE f.rule_id = 'K10'"
            )
        )
    assert len(rows) == 1
    assert rows[0]["detail_key"] == leaf.sha256 and rows[0]["san_dns"] == "[]"
    assert "CN=legacy.example.test" in rows[0]["subject"] and rows[0]["requirements"] == "4.2.1.1"
    assert rows[0]["message"].endswith("inventory lacks SANs")
