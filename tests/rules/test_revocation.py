"""K7 (4.2.1, "not expired or revoked"): a real loopback OCSP responder and CRL over HTTP.

Truth comes from the lab responder (inspector/lab/revocation.py), which builds real DER with
cryptography's OCSPResponseBuilder / CertificateRevocationListBuilder; the certificates carry
AIA / CRL distribution points naming it (inspector/lab/pki.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import load_settings
from agent.rules import Severity, evaluate_endpoint
from agent.store import EndpointIdentity, Store
from agent.tls import scan_sync
from agent.tls.model import EndpointScan, ScanOptions, Target
from agent.tls.revocation import RevocationCache, check_revocation, revocation_sources
from inspector.cli import main
from inspector.lab import pki
from inspector.lab.revocation import ERROR_PHRASE, RevocationResponder
from inspector.lab.tls_servers import LoopbackServer, PyOpenSSLServer, closed_port

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def root() -> pki.Issued:
    return pki.make_ca()


@pytest.fixture
def responder(root: pki.Issued) -> Iterator[RevocationResponder]:
    with RevocationResponder(root) as running:
        yield running


def _dead_url(path: str) -> str:
    return f"http://127.0.0.1:{closed_port()}/{path}"


def test_sources_come_from_the_certificate(root: pki.Issued) -> None:
    leaf = pki.make_leaf(root, ocsp_url="http://127.0.0.1:1/ocsp", crl_url="http://127.0.0.1:2/crl")
    sources = revocation_sources(leaf.certificate)
    assert sources.ocsp == ("http://127.0.0.1:1/ocsp",) and sources.crl == (
        "http://127.0.0.1:2/crl",
    )
    assert revocation_sources(pki.make_leaf(root).certificate).ocsp == ()


def test_ocsp_good_then_revoked(root: pki.Issued, responder: RevocationResponder) -> None:
    leaf = pki.make_leaf(root, ocsp_url=responder.ocsp_url)
    chain = [leaf.certificate, root.certificate]
    good = check_revocation(chain, timeout=30)
    assert (good.status, good.method, good.url) == ("good", "ocsp", responder.ocsp_url)
    responder.revoke(leaf)
    revoked = check_revocation(chain, timeout=30)
    assert (revoked.status, revoked.reason) == ("revoked", "keyCompromise")
    assert revoked.revoked_at == responder.revoked[leaf.certificate.serial_number][0]
    assert responder.requests == ["ocsp", "ocsp"]


def test_crl_good_then_revoked(root: pki.Issued, responder: RevocationResponder) -> None:
    leaf = pki.make_leaf(root, crl_url=responder.crl_url)
    other = pki.make_leaf(root)
    responder.revoke(other)  # a CRL listing someone else
    chain = [leaf.certificate, root.certificate]
    assert check_revocation(chain, timeout=30).status == "good"
    responder.revoke(leaf)
    revoked = check_revocation(chain, timeout=30)
    assert (revoked.status, revoked.method, revoked.url) == ("revoked", "crl", responder.crl_url)
    assert responder.requests == ["crl", "crl"]


def test_an_unreachable_responder_falls_back_to_the_crl(
    root: pki.Issued, responder: RevocationResponder
) -> None:
    leaf = pki.make_leaf(root, ocsp_url=_dead_url("ocsp"), crl_url=responder.crl_url)
    responder.revoke(leaf)
    check = check_revocation([leaf.certificate, root.certificate], timeout=30)
    assert (check.status, check.method) == ("revoked", "crl")


def test_unreachable_everywhere_is_unknown_with_the_reasons(root: pki.Issued) -> None:
    ocsp_url, crl_url = _dead_url("ocsp"), _dead_url("crl")
    leaf = pki.make_leaf(root, ocsp_url=ocsp_url, crl_url=crl_url)
    check = check_revocation([leaf.certificate, root.certificate], timeout=30)
    assert check.status == "unknown"
    assert f"OCSP {ocsp_url}: unreachable" in check.detail
    assert f"CRL {crl_url}: unreachable" in check.detail


def test_a_silent_responder_is_abandoned(root: pki.Issued) -> None:
    with RevocationResponder(root, behaviour="silent") as silent:
        leaf = pki.make_leaf(root, ocsp_url=silent.ocsp_url)
        check = check_revocation([leaf.certificate, root.certificate], timeout=1.5)
        assert silent.requests == ["ocsp"]  # it was really asked
    assert check.status == "unknown" and "timed out" in check.detail


@pytest.mark.parametrize(
    ("behaviour", "ocsp_reason", "crl_reason"),
    [
        ("garbage", "sent no OCSP response", "sent no CRL"),
        ("wrong-key", "signature does not verify", "signature does not verify"),
    ],
)
def test_answers_that_cannot_be_believed_are_unknown(
    root: pki.Issued, behaviour: str, ocsp_reason: str, crl_reason: str
) -> None:
    with RevocationResponder(root, behaviour=behaviour) as bad:  # type: ignore[arg-type]
        bad.revoke(pki.make_leaf(root))
        leaf = pki.make_leaf(root, ocsp_url=bad.ocsp_url, crl_url=bad.crl_url)
        bad.revoke(leaf)
        check = check_revocation([leaf.certificate, root.certificate], timeout=30)
    assert check.status == "unknown"
    assert ocsp_reason in check.detail.split("; ")[0]
    assert crl_reason in check.detail.split("; ")[1]


def test_the_issuer_may_come_from_the_ca_file(
    root: pki.Issued, responder: RevocationResponder, tmp_path: Path
) -> None:
    leaf = pki.make_leaf(root, ocsp_url=responder.ocsp_url)
    alone = check_revocation([leaf.certificate], timeout=30)
    assert alone.status == "unknown" and "issuer" in alone.detail
    assert responder.requests == []  # nothing asked without the issuer
    pem = pki.write_pem_files(tmp_path, "srv", leaf, (), root)
    assert check_revocation([leaf.certificate], ca_file=str(pem.ca), timeout=30).status == "good"


def test_agent_checks_by_default_scan_only_when_asked() -> None:
    settings = load_settings({}, environ={})
    assert settings.check_revocation is True and settings.revocation_timeout == 10.0
    assert (
        load_settings({}, environ={"CRYPTOSCOPE_CHECK_REVOCATION": "off"}).check_revocation is False
    )
    assert ScanOptions().check_revocation is False


def _scan(server: LoopbackServer, ca: Path, *, check: bool) -> EndpointScan:
    (result,) = scan_sync(
        [Target(server.host, server.port)],
        ScanOptions(connect_timeout=10, read_timeout=10, ca_file=str(ca), check_revocation=check),
    )
    return result


def test_a_real_peer_with_a_revoked_certificate(
    root: pki.Issued, responder: RevocationResponder, tmp_path: Path
) -> None:
    """The prober asks after the chain handshake; the store keeps the answer; K7 fails it."""
    leaf = pki.make_leaf(root, ocsp_url=responder.ocsp_url, crl_url=responder.crl_url)
    pem = pki.write_pem_files(tmp_path, "srv", leaf, (), root)
    responder.revoke(leaf)
    with PyOpenSSLServer(pem, min_version="TLSv1.2") as server:
        unchecked = _scan(server, pem.ca, check=False)
        assert unchecked.revocation is None and responder.requests == []
        result = _scan(server, pem.ca, check=True)
    assert result.revocation is not None and result.revocation.status == "revoked"
    identity = EndpointIdentity(ip=server.host, port=server.port)
    findings = evaluate_endpoint(result, identity.subject_key)
    (k7,) = [f for f in findings if f.rule_id == "K7"]
    assert (
        k7.severity == Severity.CRITICAL
        and "REVOKED" in k7.message
        and "keyCompromise" in k7.message
    )
    with Store.open(tmp_path / "k7.db") as store:
        run_id = store.begin_run(agent_id="t", mode="local")
        store.record_endpoint_scan(run_id, identity, result)
        store.record_findings(run_id, findings)
        store.finish_run(run_id)
        (row,) = store.db.query("SELECT * FROM current_revocation")
        (stored,) = store.db.query("SELECT severity FROM current_findings WHERE rule_id = 'K7'")
    assert (row["revocation_status"], row["revocation_method"], row["revocation_reason"]) == (
        "revoked",
        "ocsp",
        "keyCompromise",
    )
    assert row["leaf_sha256"] == leaf.sha256 and row["revoked_at"]
    assert stored["severity"] == "critical"


def test_scan_check_revocation_records_unknown_with_the_reason(
    root: pki.Issued, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ocsp_url = _dead_url("ocsp")
    leaf = pki.make_leaf(root, ocsp_url=ocsp_url)
    pem = pki.write_pem_files(tmp_path, "srv", leaf, (), root)
    db = tmp_path / "scan.db"
    with PyOpenSSLServer(pem, min_version="TLSv1.2") as server:
        argv = ["scan", f"127.0.0.1:{server.port}", "--ca-file", str(pem.ca), "--db", str(db)]
        assert main([*argv, "--check-revocation"]) == 0
    assert "revocation: unknown" in capsys.readouterr().out
    with Store.open(db, readonly=True) as store:
        (finding,) = store.db.query("SELECT * FROM current_findings WHERE rule_id = 'K7'")
    assert finding["severity"] == "info"
    assert "UNKNOWN" in finding["message"] and f"OCSP {ocsp_url}: unreachable" in finding["message"]


def test_not_published_is_recorded_but_not_a_finding(root: pki.Issued) -> None:
    leaf = pki.make_leaf(root)
    check = check_revocation([leaf.certificate, root.certificate], timeout=5)
    assert check.status == "not-published"


def test_the_cache_asks_once_per_leaf(root: pki.Issued, responder: RevocationResponder) -> None:
    leaf = pki.make_leaf(root, ocsp_url=responder.ocsp_url)
    chain = [leaf.certificate, root.certificate]
    cache = RevocationCache()
    assert [cache.check(chain, ca_file=None, timeout=30).status for _ in range(3)] == ["good"] * 3
    assert responder.requests == ["ocsp"]
    expiring = RevocationCache(good_ttl=0)
    expiring.check(chain, ca_file=None, timeout=30)
    responder.revoke(leaf)
    assert expiring.check(chain, ca_file=None, timeout=30).status == "revoked"
    assert cache.check(chain, ca_file=None, timeout=30).status == "good"  # within its 15 minutes
    assert responder.requests == ["ocsp"] * 3


def test_the_prober_shares_one_answer_between_endpoints(
    root: pki.Issued, responder: RevocationResponder, tmp_path: Path
) -> None:
    """Two servers presenting the same leaf, scanned together: the responder is asked once."""
    leaf = pki.make_leaf(root, ocsp_url=responder.ocsp_url)
    pem = pki.write_pem_files(tmp_path, "srv", leaf, (), root)
    with (
        PyOpenSSLServer(pem, min_version="TLSv1.3") as one,
        PyOpenSSLServer(pem, min_version="TLSv1.3") as two,
    ):
        results = scan_sync(
            [Target(one.host, one.port), Target(two.host, two.port)],
            ScanOptions(
                connect_timeout=10, read_timeout=10, ca_file=str(pem.ca), check_revocation=True
            ),
        )
    assert [r.revocation.status if r.revocation else None for r in results] == ["good", "good"]
    assert responder.requests == ["ocsp"]


def test_a_responders_own_words_are_not_recorded(root: pki.Issued) -> None:
    with RevocationResponder(root, behaviour="http-error") as failing:
        leaf = pki.make_leaf(root, ocsp_url=failing.ocsp_url, crl_url=failing.crl_url)
        check = check_revocation([leaf.certificate, root.certificate], timeout=30)
        assert failing.requests == ["ocsp", "crl"]
    assert check.status == "unknown"
    assert "HTTP 503 Service Unavailable" in check.detail
    assert ERROR_PHRASE not in check.detail
