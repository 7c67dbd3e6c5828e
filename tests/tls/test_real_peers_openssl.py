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

from inspector.lab.tls_catalogue import PEERS
from tests.tls.conftest import (
    LabPems,
    ScannedPeer,
    check_groups_certificates_and_transport,
    check_versions_suites_and_order,
    scanned_peer,
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
