"""Port classification against real peers: plaintext HTTP, a plaintext banner protocol, a port
that accepts and never answers, a closed port, and PostgreSQL's STARTTLS (SSLRequest).

Timing assertions are bounds (never speed): a silent port must cost no more than the
scan's deadline, measured around the call, outside the prober.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from agent.tls.model import ScanOptions, Target, Transport
from inspector.lab.tls_catalogue import PEERS_BY_NAME
from inspector.lab.tls_servers import (
    LOOPBACK_V4,
    BannerServer,
    PlainHTTPServer,
    SilentServer,
    closed_port,
)
from tests.tls.conftest import (
    LabPems,
    Scanned,
    ScannedPeer,
    assert_no_problems,
    check_groups_certificates_and_transport,
    check_versions_suites_and_order,
    scan,
    scanned_peer,
    started,
)

#: Short timeouts: these peers never complete a TLS handshake.
QUICK = ScanOptions(connect_timeout=3.0, read_timeout=3.0, endpoint_deadline=15.0)
#: Slack for a loaded 2-core machine on top of the deadline.
SLACK_S = 10.0


@dataclasses.dataclass(frozen=True)
class NonTLS:
    http: Scanned
    banner: Scanned
    silent: Scanned
    closed: Scanned


@pytest.fixture(scope="module")
def non_tls() -> Iterator[NonTLS]:
    """Four non-TLS shapes, scanned together in one call."""
    port = closed_port()
    with (
        started(PlainHTTPServer()) as http,
        started(BannerServer()) as banner,
        started(SilentServer()) as silent,
    ):
        targets = [Target(server.host, server.port) for server in (http, banner, silent)]
        results = scan([*targets, Target(LOOPBACK_V4, port)], QUICK)
        yield NonTLS(
            http=results[(http.host, http.port)],
            banner=results[(banner.host, banner.port)],
            silent=results[(silent.host, silent.port)],
            closed=results[(LOOPBACK_V4, port)],
        )


def _no_tls(scanned: Scanned) -> list[str]:
    accepted = scanned.result.accepted_protocols
    return [f"no protocol may be accepted, got {list(accepted)}"] if accepted else []


def test_plaintext_http_is_classified(non_tls: NonTLS) -> None:
    result = non_tls.http.result
    problems = _no_tls(non_tls.http)
    if result.transport != Transport.PLAINTEXT_HTTP:
        problems.append(f"transport: expected plaintext-http, got {result.transport}")
    assert_no_problems("plain HTTP", result, problems)


def test_plaintext_banner_is_classified(non_tls: NonTLS) -> None:
    result = non_tls.banner.result
    problems = _no_tls(non_tls.banner)
    if result.transport != Transport.PLAINTEXT:
        problems.append(f"transport: expected plaintext, got {result.transport}")
    assert_no_problems("banner service", result, problems)


def test_never_answering_port_times_out_within_the_deadline(non_tls: NonTLS) -> None:
    result = non_tls.silent.result
    problems = _no_tls(non_tls.silent)
    if result.transport != Transport.TIMEOUT:
        problems.append(f"transport: expected timeout, got {result.transport}")
    if not result.error:
        problems.append("a timeout must carry a reason in `error`")
    bound = QUICK.endpoint_deadline + SLACK_S
    if non_tls.silent.wall_s > bound:
        problems.append(
            f"scan took {non_tls.silent.wall_s:.1f} s, more than the deadline bound {bound:.0f} s"
        )
    assert_no_problems("silent port", result, problems)


def test_closed_port_is_classified(non_tls: NonTLS) -> None:
    result = non_tls.closed.result
    problems = _no_tls(non_tls.closed)
    if result.transport != Transport.CLOSED:
        problems.append(f"transport: expected closed, got {result.transport}")
    assert_no_problems("closed port", result, problems)


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module", params=["hint", "no hint"])
def postgres(request: pytest.FixtureRequest, lab_pki: LabPems) -> Iterator[ScannedPeer]:
    """The catalogue's PostgreSQL (ssl = on), scanned with and without the discovery hint."""
    hint = {"protocol_hint": "postgresql"} if request.param == "hint" else {}
    with scanned_peer(PEERS_BY_NAME["postgres-starttls"], lab_pki, **hint) as scanned:
        yield scanned


@pytest.mark.needs_postgres
def test_postgres_starttls_versions_suites_and_order(
    postgres: ScannedPeer, iana_suites: dict[int, str]
) -> None:
    check_versions_suites_and_order(postgres, iana_suites)


@pytest.mark.needs_postgres
def test_postgres_starttls_groups_certificate_and_transport(postgres: ScannedPeer) -> None:
    check_groups_certificates_and_transport(postgres)
