"""OCSP stapling: the chain handshake sends status_request; what openssl s_server staples is judged.

The stapled bytes are made by the lab responder (inspector/lab/revocation.py) from its own
revocation list and handed to ``openssl s_server -status_file``; the truth (status,
producedAt, nextUpdate) is read back from those bytes in the test, not from the prober.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from agent.rules import Finding, Severity, evaluate_endpoint
from agent.store import EndpointIdentity, Store
from agent.tls import scan_sync
from agent.tls.model import EndpointScan, ScanOptions, Target
from agent.tls.revocation import judge_staple, must_staple
from inspector.cli import main
from inspector.lab import pki
from inspector.lab.revocation import RevocationResponder, with_revocation_extensions
from inspector.lab.tls_servers import (
    LoopbackServer,
    OpenSSLServer,
    PyOpenSSLServer,
    openssl_binary,
)

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(openssl_binary() is None, reason="openssl is not installed"),
]


@dataclasses.dataclass(frozen=True)
class Lab:
    root: pki.Issued
    responder: RevocationResponder  # the root's: answers for the leaf
    leaf: pki.Issued  # OCSP Must-Staple
    pem: pki.PemFiles
    workdir: Path

    def staple_file(self, der: bytes) -> Path:
        path = self.workdir / "staple.der"
        path.write_bytes(der)
        return path


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    root = pki.make_ca()
    with RevocationResponder(root) as responder:
        leaf = with_revocation_extensions(
            pki.make_leaf(root), root, ocsp_url=responder.ocsp_url, must_staple=True
        )
        pem = pki.write_pem_files(tmp_path, "srv", leaf, (), root)
        yield Lab(root, responder, leaf, pem, tmp_path)


def _stapling_server(lab: Lab, der: bytes | None, version: str = "TLSv1.3") -> OpenSSLServer:
    extra = ["-status_file", str(lab.staple_file(der))] if der is not None else []
    return OpenSSLServer(lab.pem, min_version=version, max_version=version, extra_args=extra)


def _scan(server: LoopbackServer, lab: Lab, *, check: bool = True) -> EndpointScan:
    (result,) = scan_sync(
        [Target(server.host, server.port)],
        ScanOptions(
            connect_timeout=10,
            read_timeout=10,
            ca_file=str(lab.pem.ca),
            check_revocation=check,
            protocols=("TLSv1.2", "TLSv1.3"),
            revocation_timeout=20,
        ),
    )
    return result


def _findings(result: EndpointScan, rule_id: str) -> list[Finding]:
    subject = EndpointIdentity(ip=result.host, port=result.port).subject_key
    return [f for f in evaluate_endpoint(result, subject) if f.rule_id == rule_id]


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_a_good_staple_is_recorded_verified_and_saves_the_network_call(
    lab: Lab, version: str
) -> None:
    der = lab.responder.ocsp_response(lab.leaf)
    lab.responder.requests.clear()
    truth = ocsp.load_der_ocsp_response(der)
    with _stapling_server(lab, der, version) as server:
        result = _scan(server, lab)
    staple = result.ocsp_staple
    assert staple is not None and result.negotiated and result.negotiated[0] == version
    assert (staple.stapled, staple.must_staple, staple.status, staple.verified) == (
        True,
        True,
        "good",
        True,
    )
    assert staple.produced_at == truth.produced_at_utc
    assert staple.next_update == truth.next_update_utc and staple.next_update is not None
    assert result.revocation is not None
    assert (result.revocation.status, result.revocation.method) == ("good", "ocsp-staple")
    assert lab.responder.requests == []  # the staple answered: nobody was asked
    assert _findings(result, "K7") == [] and _findings(result, "K11") == []
    with Store.open(lab.workdir / "staple.db") as store:
        run_id = store.begin_run(agent_id="t", mode="local")
        store.record_endpoint_scan(
            run_id, EndpointIdentity(ip=server.host, port=server.port), result
        )
        store.finish_run(run_id)
        (row,) = store.db.query("SELECT * FROM current_ocsp_staples")
    assert (row["stapled"], row["must_staple"], row["status"], row["verified"]) == (1, 1, "good", 1)
    assert dt.datetime.fromisoformat(row["produced_at"]) == truth.produced_at_utc
    assert dt.datetime.fromisoformat(row["next_update"]) == truth.next_update_utc


def test_a_stapled_revoked_answer_fails_k7(lab: Lab) -> None:
    lab.responder.revoke(lab.leaf)
    der = lab.responder.ocsp_response(lab.leaf)
    with _stapling_server(lab, der) as server:
        result = _scan(server, lab)
    assert result.ocsp_staple is not None
    assert (result.ocsp_staple.status, result.ocsp_staple.verified) == ("revoked", True)
    truth = lab.responder.revoked[lab.leaf.certificate.serial_number]
    assert result.ocsp_staple.revoked_at == truth[0]
    (k7,) = _findings(result, "K7")
    assert k7.severity == Severity.CRITICAL
    assert "REVOKED" in k7.message and "stapled OCSP" in k7.message
    assert lab.responder.requests == []


def test_must_staple_without_a_staple_is_a_finding(lab: Lab) -> None:
    assert must_staple(lab.leaf.certificate)
    with _stapling_server(lab, None) as server:
        result = _scan(server, lab, check=False)
    assert result.ocsp_staple is not None
    assert (result.ocsp_staple.stapled, result.ocsp_staple.must_staple) == (False, True)
    (k11,) = _findings(result, "K11")
    assert k11.severity == Severity.HIGH and "no OCSP response stapled" in k11.message


def test_a_server_that_cannot_staple_is_recorded_as_not_stapling(lab: Lab) -> None:
    plain = pki.make_leaf(lab.root)
    pem = pki.write_pem_files(lab.workdir / "plain", "srv", plain, (), lab.root)
    with PyOpenSSLServer(pem, min_version="TLSv1.2") as server:
        (result,) = scan_sync(
            [Target(server.host, server.port)],
            ScanOptions(connect_timeout=10, read_timeout=10, protocols=("TLSv1.3",)),
        )
    assert result.ocsp_staple is not None
    assert (result.ocsp_staple.stapled, result.ocsp_staple.must_staple) == (False, False)
    assert _findings(result, "K11") == []


def test_a_stale_staple_is_not_believed_and_the_responder_is_asked(lab: Lab) -> None:
    der = lab.responder.ocsp_response(lab.leaf, age=dt.timedelta(days=2))
    lab.responder.requests.clear()
    lab.responder.revoke(lab.leaf)  # revoked since the staple was made: only the responder knows
    with _stapling_server(lab, der) as server:
        result = _scan(server, lab)
    staple = result.ocsp_staple
    assert staple is not None and staple.stapled and staple.verified is False
    assert staple.status == "good" and "stale" in staple.detail
    assert result.revocation is not None
    assert (result.revocation.status, result.revocation.method) == ("revoked", "ocsp")
    assert lab.responder.requests == ["ocsp"]
    (k11,) = _findings(result, "K11")
    assert k11.severity == Severity.HIGH and "not believed" in k11.message
    assert [f.severity for f in _findings(result, "K7")] == [Severity.CRITICAL]


def test_a_staple_from_another_ca_does_not_verify(lab: Lab) -> None:
    other_root = pki.make_ca("another CA")
    with RevocationResponder(other_root) as other:
        der = other.ocsp_response(lab.leaf)
    staple = judge_staple(der, [lab.leaf.certificate, lab.root.certificate])
    assert staple is not None and staple.stapled and staple.verified is False
    assert "neither the issuer nor a delegated responder" in staple.detail


def test_a_staple_about_another_certificate_does_not_verify(lab: Lab) -> None:
    other = pki.make_leaf(lab.root, common_name="other")
    der = lab.responder.ocsp_response(other)
    staple = judge_staple(der, [lab.leaf.certificate, lab.root.certificate])
    assert staple is not None and staple.verified is False
    assert "about another certificate" in staple.detail


@pytest.mark.parametrize(
    ("der", "reason"),
    [
        (b"\x30\x03\x0a\x01\x00garbage", "no OCSP response"),
        (
            ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.TRY_LATER
            ).public_bytes(serialization.Encoding.DER),
            "TRY_LATER",
        ),
    ],
)
def test_unusable_staples_are_recorded_with_the_reason(lab: Lab, der: bytes, reason: str) -> None:
    staple = judge_staple(der, [lab.leaf.certificate, lab.root.certificate])
    assert staple is not None and staple.stapled and staple.verified is False
    assert reason in staple.detail and staple.status is None


def test_not_asked_and_nothing_stapled_are_told_apart(lab: Lab) -> None:
    chain: list[x509.Certificate] = [lab.leaf.certificate, lab.root.certificate]
    assert judge_staple(None, chain) is None
    nothing = judge_staple(b"", chain)
    assert nothing is not None and not nothing.stapled and "Must-Staple" in nothing.detail


def test_the_scan_command_reports_the_staple_and_every_checked_certificate(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    der = lab.responder.ocsp_response(lab.leaf)
    truth = ocsp.load_der_ocsp_response(der)
    with _stapling_server(lab, der) as server:
        target = f"127.0.0.1:{server.port}"
        argv = ["scan", target, "--ca-file", str(lab.pem.ca), "--no-db", "--check-revocation"]
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert main([*argv, "--json"]) == 0
        document = json.loads(capsys.readouterr().out)
    assert "revocation: good — stapled OCSP response: good" in text
    assert "OCSP staple: good, verified, next update" in text
    assert "(the certificate is Must-Staple)" in text
    (endpoint,) = document["endpoints"]
    assert endpoint["ocsp_staple"]["produced_at"] == truth.produced_at_utc.isoformat()
    assert [c["status"] for c in endpoint["chain_revocation"]] == ["good"]
