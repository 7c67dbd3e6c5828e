"""The prober against the system OpenSSL's own servers: ``openssl s_server`` and nginx.

Each case starts one real server, scans it once, and asserts the exact accepted
versions, the exact suite set per version (and the exact order where the server
imposes one), the groups, the certificate chain and the transport, all derived from
the server's own configuration with ``openssl ciphers -s -V`` and the IANA CSV.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from inspector.lab.tls_servers import ExpectedTLS, LoopbackServer, NginxServer, OpenSSLServer
from tests.tls.conftest import (
    LabPki,
    Scanned,
    assert_no_problems,
    certificate_problems,
    group_problems,
    protocol_problems,
    require_nginx,
    require_openssl,
    scan_api,
    scan_server,
    started,
)


@dataclasses.dataclass(frozen=True)
class Case:
    kind: str  # "s_server" or "nginx"
    pem: str  # LabPki attribute: "rsa" or "ec"
    options: dict[str, Any]


CASES: dict[str, Case] = {
    # Legacy suites at @SECLEVEL=0, one old version each, server and client preference.
    "tls1.0-legacy-serverpref": Case(
        "s_server",
        "rsa",
        dict(
            cipher="NULL-MD5:NULL-SHA:AES128-SHA:CAMELLIA256-SHA:DHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA",
            min_version="TLSv1.0",
            max_version="TLSv1.0",
            server_preference=True,
            groups="P-256:P-384",
        ),
    ),
    "tls1.1-legacy-clientpref": Case(
        "s_server",
        "rsa",
        dict(
            cipher="AES256-SHA:CAMELLIA128-SHA:DHE-RSA-CAMELLIA256-SHA:ECDHE-RSA-AES256-SHA:NULL-SHA",
            min_version="TLSv1.1",
            max_version="TLSv1.1",
            server_preference=False,
            groups="X25519",
        ),
    ),
    # Everything OpenSSL 3.0 still has for RSA, over TLS 1.0 … 1.2, in the server's order.
    "tls1.0-1.2-all-serverpref": Case(
        "s_server",
        "rsa",
        dict(
            cipher="ALL:COMPLEMENTOFALL:!aNULL:!PSK:!SRP",
            min_version="TLSv1.0",
            max_version="TLSv1.2",
            server_preference=True,
            groups="P-256:X25519:P-521",
        ),
    ),
    # Modern: TLS 1.2 + 1.3, explicit TLS 1.3 suites in an unusual order, FFDHE for 1.3.
    "tls1.2-1.3-serverpref": Case(
        "s_server",
        "rsa",
        dict(
            cipher="ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM",
            ciphersuites="TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
            min_version="TLSv1.2",
            server_preference=True,
            groups="X25519:P-384:ffdhe2048",
        ),
    ),
    "tls1.3-only-clientpref": Case(
        "s_server",
        "rsa",
        dict(
            ciphersuites="TLS_AES_128_CCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_CCM_8_SHA256:"
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
            min_version="TLSv1.3",
            max_version="TLSv1.3",
            server_preference=False,
            groups="P-256:X448:ffdhe3072",
        ),
    ),
    # ECDSA leaf behind an intermediate: the RSA-authenticated suite must not be found.
    "ecdsa-chain-tls1.2": Case(
        "s_server",
        "ec",
        dict(
            cipher="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-CHACHA20-POLY1305",
            min_version="TLSv1.2",
            max_version="TLSv1.2",
            server_preference=True,
            groups="P-256",
        ),
    ),
    # mTLS only: suites are still enumerable (ServerHello precedes CertificateRequest).
    "mtls-required": Case(
        "s_server",
        "rsa",
        dict(
            cipher="ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA",
            ciphersuites="TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
            min_version="TLSv1.2",
            server_preference=True,
            groups="X25519",
            verify_client=True,
        ),
    ),
    # A production-like nginx: ssl_protocols / ssl_ciphers / ssl_prefer_server_ciphers.
    "nginx-serverpref": Case(
        "nginx",
        "rsa",
        dict(
            ssl_protocols="TLSv1.2 TLSv1.3",
            ssl_ciphers="ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-SHA:AES256-SHA",
            prefer_server_ciphers=True,
            ssl_ecdh_curve="X25519:prime256v1",
        ),
    ),
    "nginx-clientpref-tls1.1": Case(
        "nginx",
        "rsa",
        dict(
            ssl_protocols="TLSv1.1 TLSv1.2",
            ssl_ciphers="AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0",
            prefer_server_ciphers=False,
            ssl_ecdh_curve="secp384r1",
        ),
    ),
}


@dataclasses.dataclass(frozen=True)
class ScannedCase:
    label: str
    server: LoopbackServer
    expected: ExpectedTLS
    scanned: Scanned
    cert_file: Any


def _server(case: Case, lab_pki: LabPki) -> LoopbackServer:
    pem = getattr(lab_pki, case.pem)
    if case.kind == "nginx":
        require_nginx()
        return NginxServer(pem, **case.options)
    require_openssl()
    return OpenSSLServer(pem, **case.options)


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def scanned_case(request: pytest.FixtureRequest, lab_pki: LabPki) -> Iterator[ScannedCase]:
    scan_api()
    case = CASES[request.param]
    server = _server(case, lab_pki)
    with started(server) as running:
        expected = server.expected()  # type: ignore[attr-defined]
        yield ScannedCase(
            request.param, running, expected, scan_server(running), getattr(lab_pki, case.pem).cert
        )


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


def test_truth_has_something_to_check(scanned_case: ScannedCase) -> None:
    """Guard against a vacuous truth: every case's configuration accepts some suites."""
    assert scanned_case.expected.accepted_protocols, scanned_case.label
    assert all(scanned_case.expected.suites.values())
