"""The prober against Python-hosted TLS stacks: pyOpenSSL (OpenSSL 4 inside `cryptography`,
TLS 1.3 with the ML-KEM hybrids) and tlslite-ng (SSL 3.0, RC4, 3DES).

Truth: pyOpenSSL's own cipher list and group setting, tlslite's own suite tables, the
IANA CSV for names; for pyOpenSSL's *default* groups, real handshakes by an independent
pyOpenSSL client offering one group at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inspector.lab.tls_catalogue import PEERS
from inspector.lab.tls_servers import PyOpenSSLServer
from inspector.lab.tls_truth import groups_by_handshake
from tests.tls.conftest import (
    LabPems,
    ScannedPeer,
    assert_no_problems,
    check_groups_certificates_and_transport,
    check_versions_suites_and_order,
    describe_mismatch,
    scanned_peer,
    started,
)

SPECS = [spec for spec in PEERS if spec.kind in {"pyopenssl", "tlslite"}]

# tlslite-ng imports asyncore for an integration we do not use.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The asyncore module is deprecated:DeprecationWarning"
)


@pytest.fixture(scope="module", params=SPECS, ids=[spec.name for spec in SPECS])
def peer(request: pytest.FixtureRequest, lab_pki: LabPems) -> Iterator[ScannedPeer]:
    with scanned_peer(request.param, lab_pki) as scanned:
        yield scanned


def test_versions_suites_and_order_match_the_server_configuration(
    peer: ScannedPeer, iana_suites: dict[int, str]
) -> None:
    check_versions_suites_and_order(peer, iana_suites)


def test_groups_certificates_and_transport_match(peer: ScannedPeer) -> None:
    check_groups_certificates_and_transport(peer)


def test_pq_hybrids_are_reported_under_tls13_only(peer: ScannedPeer) -> None:
    """ML-KEM hybrids exist only as TLS 1.3 key shares: they appear under TLSv1.3 and never
    under TLS 1.2."""
    expected_pq = sorted(name for name in peer.expected.groups or () if "MLKEM" in name)
    if not expected_pq:
        pytest.skip(f"{peer.spec.name}: no ML-KEM hybrid accepted")
    by_version = peer.result.groups_by_version
    got13 = sorted(name for name in by_version.get("TLSv1.3", ()) if "MLKEM" in name)
    problems = (
        []
        if got13 == expected_pq
        else [describe_mismatch("TLSv1.3 hybrid groups", expected_pq, got13)]
    )
    leaked = [name for name in by_version.get("TLSv1.2", ()) if "MLKEM" in name]
    if leaked:
        problems.append(f"TLSv1.2 groups must not hold ML-KEM hybrids, got {leaked}")
    assert_no_problems(peer.spec.name, peer.result, problems)


def test_the_handshake_oracle_sees_the_default_hybrids(lab_pki: LabPems) -> None:
    """Guard on the truth oracle itself: OpenSSL 4 in `cryptography` accepts X25519MLKEM768
    by default, and the one-group-at-a-time client finds it (and nothing it was not given)."""
    with started(PyOpenSSLServer(lab_pki.ec)) as server:
        defaults = groups_by_handshake(server.host, server.port)
    with started(PyOpenSSLServer(lab_pki.ec, groups="SecP256r1MLKEM768:P-384")) as server:
        configured = groups_by_handshake(server.host, server.port)
    assert {"X25519MLKEM768", "x25519"} <= defaults, sorted(defaults)
    assert configured == {"SecP256r1MLKEM768", "secp384r1"}, sorted(configured)
