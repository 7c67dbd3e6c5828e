"""Revocation of the whole presented chain: each certificate but a self-signed root is asked.

Truth comes from the lab's own revocation lists (inspector/lab/revocation.py): one
responder per CA, the root's answering for the intermediate and the intermediate's for
the leaf, each with real DER (OCSP and CRL) over loopback HTTP.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from agent.rules import Severity, evaluate_endpoint
from agent.store import EndpointIdentity, Store
from agent.tls import scan_sync
from agent.tls.model import EndpointScan, ScanOptions, Target
from agent.tls.revocation import RevocationCache, check_chain_revocation, checked_positions
from inspector.lab import pki
from inspector.lab.revocation import RevocationResponder, with_revocation_extensions
from inspector.lab.tls_servers import (
    LoopbackServer,
    OpenSSLServer,
    closed_port,
    openssl_binary,
)

pytestmark = pytest.mark.timeout(180)


@dataclasses.dataclass(frozen=True)
class LabChain:
    """root -> intermediate -> leaf; each CA with its own OCSP responder and CRL."""

    root: pki.Issued
    intermediate: pki.Issued
    leaf: pki.Issued
    root_responder: RevocationResponder  # answers for the intermediate
    intermediate_responder: RevocationResponder  # answers for the leaf

    @property
    def served(self) -> list[x509.Certificate]:
        return [self.leaf.certificate, self.intermediate.certificate, self.root.certificate]


def _dead_url(path: str) -> str:
    return f"http://127.0.0.1:{closed_port()}/{path}"


@pytest.fixture
def lab() -> Iterator[LabChain]:
    root = pki.make_ca()
    with RevocationResponder(root) as root_responder:
        intermediate = with_revocation_extensions(
            pki.make_ca("cryptoscope lab intermediate CA", issuer=root),
            root,
            ocsp_url=root_responder.ocsp_url,
            crl_url=root_responder.crl_url,
        )
        with RevocationResponder(intermediate) as intermediate_responder:
            leaf = with_revocation_extensions(
                pki.make_leaf(intermediate),
                intermediate,
                ocsp_url=intermediate_responder.ocsp_url,
                crl_url=intermediate_responder.crl_url,
            )
            yield LabChain(root, intermediate, leaf, root_responder, intermediate_responder)


def test_every_certificate_but_the_self_signed_root_is_asked_of_its_issuer(lab: LabChain) -> None:
    assert checked_positions(lab.served) == [0, 1]
    checks = check_chain_revocation(lab.served, timeout=30)
    assert [(c.position, c.status, c.method) for c in checks] == [
        (0, "good", "ocsp"),
        (1, "good", "ocsp"),
    ]
    assert [c.sha256 for c in checks] == [lab.leaf.sha256, lab.intermediate.sha256]
    assert checks[0].url == lab.intermediate_responder.ocsp_url
    assert checks[1].url == lab.root_responder.ocsp_url
    assert lab.root_responder.requests == ["ocsp"]
    assert lab.intermediate_responder.requests == ["ocsp"]


def test_a_revoked_intermediate_is_found_over_ocsp(lab: LabChain) -> None:
    lab.root_responder.revoke(lab.intermediate, reason=x509.ReasonFlags.ca_compromise)
    leaf, intermediate = check_chain_revocation(lab.served, timeout=30)
    truth = lab.root_responder.revoked[lab.intermediate.certificate.serial_number]
    assert leaf.status == "good"
    assert (intermediate.status, intermediate.method) == ("revoked", "ocsp")
    assert (intermediate.revoked_at, intermediate.reason) == (truth[0], "cACompromise")


def test_an_intermediate_without_a_reachable_responder_falls_back_to_its_crl(
    lab: LabChain,
) -> None:
    intermediate = with_revocation_extensions(
        lab.intermediate,
        lab.root,
        ocsp_url=_dead_url("ocsp"),
        crl_url=lab.root_responder.crl_url,
    )
    lab.root_responder.revoke(intermediate)
    chain = [lab.leaf.certificate, intermediate.certificate, lab.root.certificate]
    _, checked = check_chain_revocation(chain, timeout=30)
    assert (checked.status, checked.method, checked.url) == (
        "revoked",
        "crl",
        lab.root_responder.crl_url,
    )
    assert lab.root_responder.requests == ["crl"]


def test_unknown_stays_unknown_with_the_reason(lab: LabChain) -> None:
    ocsp_url, crl_url = _dead_url("ocsp"), _dead_url("crl")
    intermediate = with_revocation_extensions(
        lab.intermediate, lab.root, ocsp_url=ocsp_url, crl_url=crl_url
    )
    chain = [lab.leaf.certificate, intermediate.certificate, lab.root.certificate]
    leaf, checked = check_chain_revocation(chain, timeout=30)
    assert leaf.status == "good"
    assert checked.status == "unknown"
    assert f"OCSP {ocsp_url}: unreachable" in checked.detail
    assert f"CRL {crl_url}: unreachable" in checked.detail


def test_the_intermediates_issuer_may_come_from_the_ca_file(lab: LabChain, tmp_path: Path) -> None:
    presented = [lab.leaf.certificate, lab.intermediate.certificate]  # no root sent
    alone = check_chain_revocation(presented, timeout=30)
    assert [c.status for c in alone] == ["good", "unknown"]
    assert "issuer" in alone[1].detail and lab.root_responder.requests == []
    pem = pki.write_pem_files(tmp_path, "srv", lab.leaf, (lab.intermediate,), lab.root)
    lab.root_responder.revoke(lab.intermediate)
    with_anchor = check_chain_revocation(presented, ca_file=str(pem.ca), timeout=30)
    assert [c.status for c in with_anchor] == ["good", "revoked"]


def test_an_intermediate_naming_no_source_is_not_published(lab: LabChain) -> None:
    bare = pki.make_ca("bare intermediate", issuer=lab.root)
    leaf = with_revocation_extensions(
        pki.make_leaf(bare), bare, ocsp_url=lab.intermediate_responder.ocsp_url
    )
    checks = check_chain_revocation(
        [leaf.certificate, bare.certificate, lab.root.certificate], timeout=30
    )
    assert checks[1].status == "not-published"


def test_one_intermediate_shared_by_many_chains_is_asked_once(lab: LabChain) -> None:
    other = with_revocation_extensions(
        pki.make_leaf(lab.intermediate, common_name="other"),
        lab.intermediate,
        ocsp_url=lab.intermediate_responder.ocsp_url,
    )
    cache = RevocationCache()
    first = check_chain_revocation(lab.served, timeout=30, cache=cache)
    chain = [other.certificate, lab.intermediate.certificate, lab.root.certificate]
    second = check_chain_revocation(chain, timeout=30, cache=cache)
    assert [c.status for c in first + second] == ["good"] * 4
    assert lab.root_responder.requests == ["ocsp"]  # the intermediate: once
    assert lab.intermediate_responder.requests == ["ocsp", "ocsp"]  # each leaf: once


needs_openssl = pytest.mark.skipif(openssl_binary() is None, reason="openssl is not installed")


def _scan(server: LoopbackServer, ca: Path, *, check: bool = True) -> EndpointScan:
    (result,) = scan_sync(
        [Target(server.host, server.port)],
        ScanOptions(
            connect_timeout=10,
            read_timeout=10,
            ca_file=str(ca),
            check_revocation=check,
            protocols=("TLSv1.3",),
            revocation_timeout=20,
        ),
    )
    return result


@needs_openssl
def test_a_real_peer_serving_a_revoked_intermediate_fails_k7(lab: LabChain, tmp_path: Path) -> None:
    """openssl s_server presents leaf + intermediate; the root's responder lists the intermediate."""
    pem = pki.write_pem_files(tmp_path, "srv", lab.leaf, (lab.intermediate,), lab.root)
    lab.root_responder.revoke(lab.intermediate)
    with OpenSSLServer(pem, min_version="TLSv1.3") as server:
        result = _scan(server, pem.ca)
    assert [(c.position, c.status) for c in result.chain_revocation] == [
        (0, "good"),
        (1, "revoked"),
    ]
    assert result.revocation == result.chain_revocation[0]
    identity = EndpointIdentity(ip=server.host, port=server.port)
    findings = evaluate_endpoint(result, identity.subject_key)
    (k7,) = [f for f in findings if f.rule_id == "K7"]
    assert k7.severity == Severity.CRITICAL
    assert k7.message.startswith("chain[1] ") and "REVOKED" in k7.message
    assert "keyCompromise" in k7.message and lab.root_responder.ocsp_url in k7.message
    with Store.open(tmp_path / "chain.db") as store:
        run_id = store.begin_run(agent_id="t", mode="local")
        store.record_endpoint_scan(run_id, identity, result)
        store.record_findings(run_id, findings)
        store.finish_run(run_id)
        (stored,) = store.db.query(
            "SELECT severity, message FROM current_findings WHERE rule_id = 'K7'"
        )
        rows = list(store.db.query("SELECT * FROM current_chain_revocation ORDER BY position"))
    assert stored["severity"] == "critical" and stored["message"].startswith("chain[1] ")
    truth = lab.root_responder.revoked[lab.intermediate.certificate.serial_number]
    assert [(r["position"], r["certificate_sha256"], r["status"]) for r in rows] == [
        (0, lab.leaf.sha256, "good"),
        (1, lab.intermediate.sha256, "revoked"),
    ]
    assert (rows[1]["method"], rows[1]["url"], rows[1]["reason"]) == (
        "ocsp",
        lab.root_responder.ocsp_url,
        "keyCompromise",
    )
    assert dt.datetime.fromisoformat(rows[1]["revoked_at"]) == truth[0]


@needs_openssl
def test_a_real_peer_whose_intermediate_cannot_be_checked_is_unknown(
    lab: LabChain, tmp_path: Path
) -> None:
    ocsp_url, crl_url = _dead_url("ocsp"), _dead_url("crl")
    intermediate = with_revocation_extensions(
        lab.intermediate, lab.root, ocsp_url=ocsp_url, crl_url=crl_url
    )
    pem = pki.write_pem_files(tmp_path, "srv", lab.leaf, (intermediate,), lab.root)
    with OpenSSLServer(pem, min_version="TLSv1.3") as server:
        result = _scan(server, pem.ca)
    findings = evaluate_endpoint(
        result, EndpointIdentity(ip=server.host, port=server.port).subject_key
    )
    (k7,) = [f for f in findings if f.rule_id == "K7"]
    assert k7.severity == Severity.INFO
    assert "chain[1]" in k7.message and f"OCSP {ocsp_url}: unreachable" in k7.message


@needs_openssl
def test_revocation_off_asks_no_one(lab: LabChain, tmp_path: Path) -> None:
    pem = pki.write_pem_files(tmp_path, "srv", lab.leaf, (lab.intermediate,), lab.root)
    with OpenSSLServer(pem, min_version="TLSv1.3") as server:
        result = _scan(server, pem.ca, check=False)
    assert result.chain_revocation == () and result.revocation is None
    assert lab.root_responder.requests == [] and lab.intermediate_responder.requests == []
