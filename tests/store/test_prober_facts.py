"""The prober's newer facts reach the store and the rules: a real `openssl s_server` with a weak
custom DH group and TLS 1.0 enabled, scanned by the real prober, recorded, read back."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh

from agent.rules import evaluate_endpoint
from agent.store import EndpointIdentity, Store
from agent.tls import scan_sync
from agent.tls.model import EndpointScan, RevocationCheck, ScanOptions, Target, Transport
from inspector.lab import pki
from inspector.lab.tls_servers import OpenSSLServer
from inspector.lab.tls_truth import openssl_binary

pytestmark = pytest.mark.timeout(240)

T = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _dhparam_1024(path: Path) -> Path:
    """A fresh 1024-bit safe-prime group (PKCS #3, the form s_server reads): no RFC 7919 group."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography deprecates FFDH; it is the weakness tested
        parameters = dh.generate_parameters(generator=2, key_size=1024)
    path.write_bytes(
        parameters.parameter_bytes(serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3)
    )
    return path


def test_weak_dhe_and_fallback_facts_are_stored_and_judged(tmp_path: Path) -> None:
    if openssl_binary() is None:
        pytest.skip("the openssl command is not installed")
    root = pki.make_ca()
    pem = pki.write_pem_files(
        tmp_path, "srv", pki.make_leaf(root, key_kind="rsa", key_bits=2048), (), root
    )
    server = OpenSSLServer(
        pem,
        cipher="DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256",
        min_version="TLSv1.0",
        max_version="TLSv1.2",
        groups="P-256",
        dhparam=_dhparam_1024(tmp_path / "dh1024.pem"),
    )
    server.start()
    try:
        (result,) = scan_sync(
            [Target(server.host, server.port)],
            ScanOptions(connect_timeout=10, read_timeout=10, ca_file=str(pem.ca)),
        )
    finally:
        server.stop()
    assert result.error is None, result.error
    # the prober's own view (truth: the dhparam file we wrote, OpenSSL's SCSV support)
    assert result.dhe_groups == ("custom-DH-1024",)
    assert result.dhe_group_negotiation is False
    assert result.fallback_scsv is True  # OpenSSL honours TLS_FALLBACK_SCSV
    assert "TLSv1.0" in result.accepted_protocols

    identity = EndpointIdentity(ip="127.0.0.1", port=server.port, namespace="shop")
    with Store.open(tmp_path / "facts.db") as store:
        run_id = store.begin_run(agent_id="t", mode="local")
        findings = evaluate_endpoint(result, identity.subject_key)
        store.record_endpoint_scan(run_id, identity, result)
        store.record_findings(run_id, findings)
        store.finish_run(run_id)
        row = next(store.db.query("SELECT * FROM endpoint_scans"))
        groups = list(store.db.query("SELECT * FROM current_dhe_groups"))
        rules = {
            r["rule_id"]: r["message"] for r in store.db.query("SELECT * FROM current_findings")
        }
    assert json.loads(row["dhe_groups"]) == ["custom-DH-1024"]
    assert row["dhe_group_negotiation"] == 0
    assert row["fallback_scsv"] == 1
    assert row["dhe_min_bits"] == 1024
    assert result.negotiated is not None
    assert (row["negotiated_protocol"], row["negotiated_suite"]) == result.negotiated[:2]
    assert [(g["position"], g["group_name"], g["dhe_group_negotiation"]) for g in groups] == [
        (1, "custom-DH-1024", 0)
    ]
    assert "custom-DH-1024 (1024 bits)" in rules["C12"]
    assert "the server's own parameters" in rules["C12"]
    assert "P2" in rules  # TLS 1.0 accepted
    assert "P6" not in rules  # ... but a downgrade is refused (SCSV honoured)


@pytest.mark.parametrize(
    "check",
    [
        None,
        RevocationCheck("good", "ocsp", "http://127.0.0.1:9/ocsp", "OCSP: good", checked_at=T),
        RevocationCheck(
            "unknown",
            "crl",
            "http://127.0.0.1:9/crl",
            "CRL http://127.0.0.1:9/crl: timed out",
            checked_at=T,
        ),
        RevocationCheck(
            "not-published", detail="the certificate names no OCSP responder", checked_at=T
        ),
    ],
)
def test_revocation_answers_round_trip(tmp_path: Path, check: RevocationCheck | None) -> None:
    scan = EndpointScan(host="127.0.0.1", port=443, transport=Transport.TLS, revocation=check)
    with Store.open(tmp_path / "rev.db") as store:
        run_id = store.begin_run(agent_id="t", mode="local")
        store.record_endpoint_scan(run_id, EndpointIdentity(ip="127.0.0.1", port=443), scan)
        rows = list(store.db.query("SELECT * FROM current_revocation"))
    if check is None:
        assert rows == []
        return
    (row,) = rows
    assert (row["revocation_status"], row["revocation_method"], row["revocation_url"]) == (
        check.status,
        check.method,
        check.url,
    )
    assert row["revocation_detail"] == check.detail
    assert row["revocation_checked_at"] == "2026-03-01T09:00:00Z" and row["revoked_at"] is None
