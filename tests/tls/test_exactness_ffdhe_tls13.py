"""RFC 7919 FFDHE groups as TLS 1.3 key-exchange groups (RFC 8446 4.2.7).

Found like the EC groups: a HelloRetryRequest names the server's pick from an empty key_share;
a server that refuses an empty key_share is asked with real FFDHE key shares (g^x mod p).
Truth: each server's ``-groups`` list (its order where the server imposes one), checked
against real handshakes by an independent pyOpenSSL client offering one group at a time.
"""

from __future__ import annotations

import pytest

from agent.tls.model import Target
from inspector.lab.tls_catalogue import LabPems
from inspector.lab.tls_servers import OpenSSLServer, PyOpenSSLServer
from inspector.lab.tls_truth import groups_by_handshake, iana_group_name, openssl_binary
from tests.tls.conftest import scan, started
from tests.tls.test_exactness_key_share import NoRetryServer

FFDHE = ("ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192")


def _configured(groups: str) -> list[str]:
    return [iana_group_name(name) for name in groups.split(":")]


@pytest.mark.parametrize(
    ("groups", "server_preference", "tls12"),
    (
        ("ffdhe4096:ffdhe2048:ffdhe8192", True, False),
        ("ffdhe6144:ffdhe3072", False, False),
        # TLS 1.2 too: OpenSSL 3.0 negotiates no RFC 7919 group there, only TLS 1.3 does
        ("ffdhe3072:X25519:ffdhe2048", True, True),
    ),
)
def test_s_server_ffdhe_groups_in_tls13(
    lab_pki: LabPems, groups: str, server_preference: bool, tls12: bool
) -> None:
    if openssl_binary() is None:
        pytest.skip("the openssl command is not installed (Debian package openssl)")
    server = OpenSSLServer(
        lab_pki.rsa,
        cipher="ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256",
        min_version="TLSv1.2" if tls12 else "TLSv1.3",
        groups=groups,
        server_preference=server_preference,
    )
    configured = _configured(groups)
    with started(server):
        handshakes = groups_by_handshake(server.host, server.port, [*FFDHE, "X25519", "P-256"])
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
    assert handshakes == set(configured)  # the truth itself, by real TLS 1.3 handshakes
    assert result.error is None
    found = list(result.groups_by_version["TLSv1.3"])
    assert found == configured if server_preference else sorted(found) == sorted(configured)
    if tls12:
        assert result.groups_by_version["TLSv1.2"] == ("x25519",)
        assert not set(result.groups_by_version["TLSv1.2"]) & set(FFDHE)
    assert sorted(result.groups) == sorted(configured)


def test_ffdhe_key_shares_for_a_server_without_hello_retry(lab_pki: LabPems) -> None:
    """A server that refuses an empty key_share gets real FFDHE key shares and picks from them."""
    groups = "ffdhe8192:ffdhe2048:ffdhe4096"
    server = NoRetryServer(lab_pki.ec, min_version="TLSv1.3", groups=groups, server_preference=True)
    with started(server):
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
        refused = server.refused
        completed = server.handshakes
    assert refused >= 1  # the key-share path really ran
    assert completed >= 1  # the full handshake (pyOpenSSL) completed with one of the groups
    assert result.error is None
    assert list(result.groups_by_version["TLSv1.3"]) == _configured(groups)
    assert result.negotiated is not None and result.negotiated[2] in FFDHE


def test_pyopenssl_ffdhe_only_in_tls13(lab_pki: LabPems) -> None:
    groups = "ffdhe3072:ffdhe6144"
    server = PyOpenSSLServer(lab_pki.ec, min_version="TLSv1.3", groups=groups)
    with started(server):
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
    assert result.error is None
    assert sorted(result.groups_by_version["TLSv1.3"]) == sorted(_configured(groups))
