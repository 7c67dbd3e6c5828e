"""Broken and hostile TLS peers: every one becomes an error record with a reason, within a
bounded time, and no exception escapes the prober.

All hostile peers are scanned together in one ``scan_endpoints`` call (as an agent would
meet them in one cycle); the wall time is measured around the call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from agent.tls.model import ScanOptions, Target, Transport
from inspector.lab.hostile_peers import HostileServer, Hostility
from tests.tls.conftest import Scanned, scan

#: Tight on purpose: the slow drip sends a byte every 2 s, inside the read timeout,
#: so only the endpoint deadline can end it.
OPTIONS = ScanOptions(connect_timeout=3.0, read_timeout=3.0, endpoint_deadline=10.0)
DRIP_INTERVAL_S = 2.0
#: Slack for a loaded 2-core machine on top of the deadline.
SLACK_S = 10.0

#: A peer that keeps sending may be reported as a timeout; all others are errors.
ALLOWED = {behaviour: {Transport.ERROR} for behaviour in Hostility} | {
    Hostility.SLOW_DRIP: {Transport.ERROR, Transport.TIMEOUT},
    Hostility.ENDLESS_STREAM: {Transport.ERROR, Transport.TIMEOUT},
}


@pytest.fixture(scope="module")
def hostile_scans() -> Iterator[dict[Hostility, Scanned]]:
    with contextlib.ExitStack() as stack:
        servers = {
            behaviour: stack.enter_context(HostileServer(behaviour, drip_interval=DRIP_INTERVAL_S))
            for behaviour in Hostility
        }
        results = scan([Target(server.host, server.port) for server in servers.values()], OPTIONS)
        yield {
            behaviour: results[(server.host, server.port)] for behaviour, server in servers.items()
        }


@pytest.mark.parametrize("behaviour", list(Hostility), ids=[item.value for item in Hostility])
def test_hostile_peer_is_an_error_record_with_a_reason(
    hostile_scans: dict[Hostility, Scanned], behaviour: Hostility
) -> None:
    scanned = hostile_scans[behaviour]
    result = scanned.result
    problems = []
    if result.transport not in ALLOWED[behaviour]:
        problems.append(
            f"transport: expected one of {sorted(ALLOWED[behaviour])}, got {result.transport}"
        )
    if not (result.error and result.error.strip()):
        problems.append("error must give a reason")
    if result.accepted_protocols:
        problems.append(f"no protocol may be accepted, got {list(result.accepted_protocols)}")
    bound = OPTIONS.endpoint_deadline + SLACK_S
    if scanned.wall_s > bound:
        problems.append(
            f"the scan took {scanned.wall_s:.1f} s, beyond the deadline bound {bound:.0f} s"
        )
    if result.duration_s > bound:
        problems.append(
            f"duration_s {result.duration_s:.1f} beyond the deadline bound {bound:.0f} s"
        )
    assert not problems, (
        f"{behaviour.value} peer at {result.host}:{result.port} (error {result.error!r}):\n  "
        + "\n  ".join(problems)
    )
