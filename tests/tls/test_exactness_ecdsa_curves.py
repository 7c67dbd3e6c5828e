"""TLS 1.2 curves of ECDSA-only servers: the certificate's curve must be in every offer (RFC 8422 5.1).

A server that follows the client's order is enumerated in full. A server that imposes its own
order picks the certificate's curve whenever it ranks it above the curves left, so curves below
it cannot be seen in TLS 1.2: the scan must find exactly the curves ranked up to the certificate's
and record that the rest is undecidable — never guess.

Truth: each server's own ``-groups`` list and ``-serverpref`` flag (OpenSSL's server order for
curves is the ``-groups`` order), and the P-256 lab certificate.
"""

from __future__ import annotations

import pytest

from agent.tls.model import Target
from inspector.lab.tls_catalogue import LabPems
from inspector.lab.tls_servers import OpenSSLServer, PyOpenSSLServer
from inspector.lab.tls_truth import iana_group_name, openssl_binary
from tests.tls.conftest import scan, started

CERT_CURVE = "secp256r1"  # the lab's EC leaf
ECDSA_SUITES = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA"


def _visible(groups: str, server_preference: bool) -> tuple[list[str], bool]:
    """From the configuration: the curves a TLS 1.2 scan can see, in the server's order, and
    whether curves are hidden behind the certificate's (a server order with curves below it)."""
    names = [iana_group_name(name) for name in groups.split(":")]
    if not server_preference or CERT_CURVE not in names:
        return names, False
    cut = names.index(CERT_CURVE) + 1
    return names[:cut], cut < len(names)


@pytest.mark.parametrize(
    ("kind", "groups", "server_preference"),
    (
        ("s_server", "X25519:P-384:P-256:P-521", True),  # P-521 hidden behind P-256
        ("s_server", "X25519:P-384:P-256:P-521", False),  # client order: every curve seen
        ("s_server", "P-384:X25519", True),  # the certificate's curve is not in the list
        # secp224r1 comes before secp256r1 in the prober's offers, so the first pick does not
        # tell whose order counts: one more probe decides
        ("s_server", "P-224:P-256:P-384", True),
        ("s_server", "P-384:P-224:P-256", False),
        ("pyopenssl", "X448:P-256:X25519:P-384", True),
    ),
)
def test_ecdsa_only_server_curves(
    lab_pki: LabPems, kind: str, groups: str, server_preference: bool
) -> None:
    if kind == "s_server" and openssl_binary() is None:
        pytest.skip("the openssl command is not installed (Debian package openssl)")
    visible, hidden = _visible(groups, server_preference)
    server: OpenSSLServer | PyOpenSSLServer
    if kind == "s_server":
        server = OpenSSLServer(
            lab_pki.ec,
            cipher=ECDSA_SUITES,
            min_version="TLSv1.2",
            max_version="TLSv1.2",
            groups=groups,
            server_preference=server_preference,
        )
    else:
        server = PyOpenSSLServer(
            lab_pki.ec,
            cipher_list=ECDSA_SUITES,
            min_version="TLSv1.2",
            max_version="TLSv1.2",
            groups=groups,
            server_preference=server_preference,
        )
    with started(server):
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
    assert result.error is None
    found = list(result.groups_by_version["TLSv1.2"])
    if server_preference:
        assert found == visible
    else:
        assert sorted(found) == sorted(visible)
    if hidden:
        reason = result.groups_incomplete["TLSv1.2"]
        assert CERT_CURVE in reason and "cannot be seen" in reason
        assert reason in result.warnings
    else:
        assert result.groups_incomplete == {}
        assert not [w for w in result.warnings if "curve" in w]


def test_certificate_curve_first_is_undecidable(lab_pki: LabPems) -> None:
    """Server order with the certificate's curve first: it is picked whatever is offered, so
    whether the server has other curves cannot be told in TLS 1.2 — and the scan says so."""
    if openssl_binary() is None:
        pytest.skip("the openssl command is not installed (Debian package openssl)")
    server = OpenSSLServer(
        lab_pki.ec,
        cipher=ECDSA_SUITES,
        min_version="TLSv1.2",
        max_version="TLSv1.2",
        groups="P-256:X448:P-384",
        server_preference=True,
    )
    with started(server):
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
    assert result.error is None
    assert result.groups_by_version["TLSv1.2"] == (CERT_CURVE,)
    assert "undecidable" in result.groups_incomplete["TLSv1.2"]


def test_tls13_groups_are_a_hint_not_a_finding(lab_pki: LabPems) -> None:
    """With TLS 1.3 too, its groups are named in the note as unconfirmed for TLS 1.2, and the
    TLS 1.2 list holds only what TLS 1.2 showed."""
    if openssl_binary() is None:
        pytest.skip("the openssl command is not installed (Debian package openssl)")
    groups = "X448:P-256:P-521:X25519"
    server = OpenSSLServer(
        lab_pki.ec,
        cipher=ECDSA_SUITES,
        min_version="TLSv1.2",
        groups=groups,
        server_preference=True,
    )
    with started(server):
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
    configured = [iana_group_name(name) for name in groups.split(":")]
    assert result.error is None
    assert list(result.groups_by_version["TLSv1.3"]) == configured
    assert result.groups_by_version["TLSv1.2"] == ("x448", CERT_CURVE)
    reason = result.groups_incomplete["TLSv1.2"]
    assert "TLS 1.3 also accepts secp521r1, x25519 (not confirmed for TLSv1.2)" in reason
