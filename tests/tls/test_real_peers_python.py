"""The prober against Python-hosted TLS stacks: pyOpenSSL (OpenSSL 4 inside `cryptography`,
TLS 1.3 with the ML-KEM hybrids) and tlslite-ng (SSL 3.0, RC4, 3DES).

Truth: pyOpenSSL's own cipher list and group setting for its server, tlslite's own suite
tables for its settings, the IANA CSV for names; for pyOpenSSL's *default* groups, real
handshakes by an independent pyOpenSSL client offering one group at a time.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from inspector.lab.tls_servers import (
    ExpectedTLS,
    LoopbackServer,
    PyOpenSSLServer,
    TlsliteServer,
    iana_group_name,
)
from tests.tls.conftest import (
    LabPki,
    Scanned,
    assert_no_problems,
    certificate_problems,
    describe_mismatch,
    group_problems,
    protocol_problems,
    require_openssl,
    scan_api,
    scan_server,
    started,
)


@dataclasses.dataclass(frozen=True)
class Case:
    kind: str  # "pyopenssl" or "tlslite"
    pem: str
    options: dict[str, Any]


PQ_GROUPS = "X25519MLKEM768:SecP256r1MLKEM768:SecP384r1MLKEM1024:X25519"

CASES: dict[str, Case] = {
    "pyopenssl-tls1.3-pq-hybrids-serverpref": Case(
        "pyopenssl",
        "ec",
        dict(min_version="TLSv1.3", groups=PQ_GROUPS, server_preference=True),
    ),
    "pyopenssl-defaults": Case("pyopenssl", "ec", {}),
    "pyopenssl-tls1.2-clientpref": Case(
        "pyopenssl",
        "ec",
        dict(
            min_version="TLSv1.2",
            max_version="TLSv1.2",
            cipher_list="ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
            "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384",
            groups="P-384:X25519",
            server_preference=False,
        ),
    ),
    "pyopenssl-mtls-required": Case(
        "pyopenssl",
        "rsa",
        dict(
            min_version="TLSv1.2",
            cipher_list="ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
            tls13_ciphersuites="TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
            groups="X25519MLKEM768:X25519",
            server_preference=True,
            client_ca="ROOT",
        ),
    ),
    "tlslite-ssl3-to-tls1.1-rc4-3des": Case(
        "tlslite",
        "rsa",
        dict(
            min_version="SSLv3",
            max_version="TLSv1.1",
            cipher_names=("aes256", "3des", "rc4", "aes128"),
            mac_names=("sha", "md5"),
        ),
    ),
}


def _server(case: Case, lab_pki: LabPki) -> LoopbackServer:
    pem = getattr(lab_pki, case.pem)
    options = dict(case.options)
    if options.get("client_ca") == "ROOT":
        options["client_ca"] = pem.ca
    if case.kind == "tlslite":
        return TlsliteServer(pem, **options)
    require_openssl()  # suite ids of pyOpenSSL's names come from `openssl ciphers -V`
    return PyOpenSSLServer(pem, **options)


@dataclasses.dataclass(frozen=True)
class ScannedCase:
    label: str
    server: LoopbackServer
    expected: ExpectedTLS
    scanned: Scanned
    cert_file: Any


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def scanned_case(request: pytest.FixtureRequest, lab_pki: LabPki) -> Iterator[ScannedCase]:
    scan_api()
    case = CASES[request.param]
    server = _server(case, lab_pki)
    with started(server) as running:
        expected = server.expected()  # type: ignore[attr-defined]
        if expected.groups is None and isinstance(running, PyOpenSSLServer):
            expected = dataclasses.replace(expected, groups=handshake_groups(running))
        yield ScannedCase(
            request.param, running, expected, scan_server(running), getattr(lab_pki, case.pem).cert
        )


def handshake_groups(server: PyOpenSSLServer) -> frozenset[str]:
    """The groups a server accepts, found by real handshakes: an independent pyOpenSSL
    client offers one group at a time (TLS 1.3 when the server speaks it, else TLS 1.2)."""
    from OpenSSL import SSL
    from OpenSSL._util import lib

    candidates = [
        "X25519MLKEM768", "SecP256r1MLKEM768", "SecP384r1MLKEM1024", "MLKEM512", "MLKEM768",
        "MLKEM1024", "X25519", "X448", "P-256", "P-384", "P-521", "ffdhe2048", "ffdhe3072",
        "ffdhe4096", "ffdhe6144", "ffdhe8192", "brainpoolP256r1tls13", "brainpoolP384r1tls13",
        "brainpoolP512r1tls13",
    ]  # fmt: skip
    accepted = set()
    for group in candidates:
        ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
        if lib.SSL_CTX_set1_curves_list(ctx._context, group.encode()) != 1:
            continue  # this OpenSSL does not know the group
        with socket.create_connection((server.host, server.port), timeout=10) as raw:
            # pyOpenSSL needs a blocking socket; the receive timeout still bounds each read.
            raw.settimeout(None)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
            conn = SSL.Connection(ctx, raw)
            conn.set_connect_state()
            conn.set_tlsext_host_name(b"localhost")
            try:
                conn.do_handshake()
            except SSL.Error:
                continue
            negotiated = conn.get_group_name()
            if negotiated:
                accepted.add(iana_group_name(str(negotiated)))
    return frozenset(accepted)


def test_versions_suites_and_order_match_the_server_configuration(
    scanned_case: ScannedCase, iana_suites: dict[int, str]
) -> None:
    result = scanned_case.scanned.result
    problems = protocol_problems(result, scanned_case.expected, iana_suites)
    assert_no_problems(scanned_case.label, result, problems)


def test_groups_certificates_and_transport_match(scanned_case: ScannedCase) -> None:
    result = scanned_case.scanned.result
    problems = group_problems(result, scanned_case.expected)
    problems += certificate_problems(result, scanned_case.cert_file)
    if str(result.transport) != scanned_case.expected.transport:
        problems.append(
            f"transport: expected {scanned_case.expected.transport}, got {result.transport}"
        )
    if result.error:
        problems.append(f"error: expected none, got {result.error!r}")
    assert_no_problems(scanned_case.label, result, problems)


def test_pq_hybrids_are_reported_per_version(scanned_case: ScannedCase) -> None:
    """Where the server speaks TLS 1.3 with ML-KEM hybrids, they appear under TLSv1.3 and
    never under TLS 1.2 (hybrids exist only as TLS 1.3 key shares)."""
    expected_pq = sorted(name for name in scanned_case.expected.groups or () if "MLKEM" in name)
    if not expected_pq:
        pytest.skip(f"{scanned_case.label}: no ML-KEM hybrid configured")
    result = scanned_case.scanned.result
    by_version = result.groups_by_version
    got13 = sorted(name for name in by_version.get("TLSv1.3", ()) if "MLKEM" in name)
    problems = (
        []
        if got13 == expected_pq
        else [describe_mismatch("TLSv1.3 hybrid groups", expected_pq, got13)]
    )
    leaked = [name for name in by_version.get("TLSv1.2", ()) if "MLKEM" in name]
    if leaked:
        problems.append(f"TLSv1.2 groups must not hold ML-KEM hybrids, got {leaked}")
    assert_no_problems(scanned_case.label, result, problems)


def test_the_default_pyopenssl_server_offers_the_pq_hybrids(lab_pki: LabPki) -> None:
    """Guard on the truth oracle itself: OpenSSL 4 in `cryptography` accepts X25519MLKEM768
    by default, and the one-group-at-a-time client finds it."""
    with started(PyOpenSSLServer(lab_pki.ec)) as server:
        assert isinstance(server, PyOpenSSLServer)
        groups = handshake_groups(server)
    assert "X25519MLKEM768" in groups and "x25519" in groups, sorted(groups)
