"""The prober against servers on the system OpenSSL: ``openssl s_server`` and nginx.

Each catalogue peer (inspector.lab.tls_catalogue) is started once, scanned once, and
checked for the exact accepted versions, the exact suite set per version (and the exact
order where the server imposes one), the groups, the certificate chain and the
transport, all derived from the server's own configuration with ``openssl ciphers -s -V``
and the IANA CSV.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inspector.lab.tls_catalogue import PEERS, PEERS_BY_NAME, build_peer, missing_requirement
from inspector.lab.tls_truth import openssl_ciphers, s_client_accepts
from tests.tls.conftest import (
    LabPems,
    ScannedPeer,
    check_groups_certificates_and_transport,
    check_versions_suites_and_order,
    scanned_peer,
    started,
)

SPECS = [spec for spec in PEERS if spec.kind in {"s_server", "nginx"}]


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


#: Configured suites each server must refuse, and why (the truth drops them).
REFUSED = {
    "ecdsa-chain-tls1.2": ("TLSv1.2", "ECDHE-RSA-AES128-SHA"),  # RSA suite, ECDSA certificate
    "nginx-serverpref": ("TLSv1.2", "DHE-RSA-AES128-SHA"),  # nginx: no ssl_dhparam, no DHE
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_the_truth_matches_real_handshakes(name: str, lab_pki: LabPems) -> None:
    """Guard on the truth itself: every suite it expects completes a handshake with
    `openssl s_client` offering that suite alone, and the configured-but-unusable one
    does not."""
    spec = PEERS_BY_NAME[name]
    reason = missing_requirement(spec)
    if reason:
        pytest.skip(reason)
    names = {
        item.suite_id: item.name
        for item in openssl_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0", supported_only=False)
    }
    with started(build_peer(spec, lab_pki)) as server:
        truth = server.expected()
        refused_version, refused_suite = REFUSED[name]
        assert not s_client_accepts(server.host, server.port, refused_version, refused_suite)
        failed = [
            (version, names[suite_id])
            for version, ids in truth.suites.items()
            if version != "TLSv1.3"
            for suite_id in ids
            if not s_client_accepts(server.host, server.port, version, names[suite_id])
        ]
    assert not failed, f"{name}: expected suites that real handshakes refuse: {failed}"
