"""TLS 1.2 curves enumerated on their own when the server also speaks TLS 1.3.

Truth: the group list each server was configured with; TLS 1.3-only groups (the ML-KEM
hybrids) are not TLS 1.2 curves, TLS 1.2 offers nothing else.
"""

from __future__ import annotations

import pytest

from agent.tls.model import Target
from inspector.lab.tls_catalogue import LabPems
from inspector.lab.tls_servers import PyOpenSSLServer
from tests.tls.conftest import scan, started

IANA = {"X25519": "x25519", "X448": "x448", "P-256": "secp256r1", "P-384": "secp384r1"}
IANA |= {"P-521": "secp521r1", "X25519MLKEM768": "X25519MLKEM768"}


@pytest.mark.parametrize(
    ("pem", "groups", "server_preference"),
    (
        ("rsa", "X25519MLKEM768:P-384:X448:P-256", True),
        ("rsa", "P-521:X25519", False),
        # ECDSA suites only: the certificate's P-256 must stay in every offer
        ("ec", "X448:P-384:P-256:X25519", False),
    ),
)
def test_tls12_curves_are_enumerated_not_inferred(
    lab_pki: LabPems, pem: str, groups: str, server_preference: bool
) -> None:
    names = [IANA[name] for name in groups.split(":")]
    server = PyOpenSSLServer(
        getattr(lab_pki, pem),
        min_version="TLSv1.2",
        groups=groups,
        server_preference=server_preference,
    )
    with started(server):
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
    assert result.error is None
    assert set(result.groups_by_version["TLSv1.3"]) == set(names)
    tls12 = [name for name in names if "MLKEM" not in name]
    assert set(result.groups_by_version["TLSv1.2"]) == set(tls12)
    if server_preference:
        assert list(result.groups_by_version["TLSv1.2"]) == tls12
