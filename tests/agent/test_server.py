"""The agent's HTTPS endpoint: TLS 1.2+, health, metrics, and the /snapshot auth matrix (401/401/403/200)."""

from __future__ import annotations

import asyncio
import http.client
import sqlite3
import ssl
from collections.abc import Iterator
from pathlib import Path

import kubernetes.client
import pytest

from agent.auth import Authorizer, ResourceAttributes
from agent.server import (
    HEADER_AGENT,
    HEADER_NODE,
    HEADER_SNAPSHOT_TIME,
    AgentMetrics,
    AgentServer,
    CycleReport,
    Health,
    server_context,
)
from agent.store import EndpointIdentity, Store
from agent.tls.model import EndpointScan, ScanOptions, Target, Transport
from inspector.lab.kube_api import KubeAPIServer


@pytest.fixture
def agent_db(tmp_path: Path) -> Path:
    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        run = store.begin_run(agent_id="agent-a", mode="daemonset", node="node-a")
        store.record_endpoint_scan(
            run,
            EndpointIdentity("127.0.0.11", 8443),
            EndpointScan("127.0.0.11", 8443, Transport.TLS),
        )
        store.finish_run(run)
    return db


@pytest.fixture
def server(
    kube_api: KubeAPIServer, api_client: kubernetes.client.ApiClient, agent_db: Path
) -> Iterator[AgentServer]:
    kube_api.add_token("token-auditor", "alice@example.com", groups=["auditors"])
    kube_api.add_token("token-dev", "bob@example.com", groups=["developers"])
    kube_api.grant("auditors", "get", "snapshots", group="cryptoscope.io", namespace="cryptoscope")
    metrics = AgentMetrics()
    metrics.observe(
        CycleReport(
            "ok",
            2.5,
            1_700_000_000.0,
            {"tls": 3, "plaintext-http": 1},
            {("high", "4.2.1"): 2},
            (0.5,),
        )
    )
    health = Health(stale_after=60)
    authorizer = Authorizer(api_client, ResourceAttributes(namespace="cryptoscope"))
    agent_server = AgentServer(
        listen="127.0.0.1:0",
        db_path=agent_db,
        metrics=metrics,
        health=health,
        authorizer=authorizer,
        context=server_context(names=("localhost", "127.0.0.1")),
        provenance={"agent_id": "agent-a", "node": "node-a"},
    ).start()
    yield agent_server
    agent_server.stop()


def get(server: AgentServer, path: str, token: str | None = None) -> http.client.HTTPResponse:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = (
        ssl.CERT_NONE
    )  # the self-signed certificate; the handshake facts are what we check
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    assert connection.sock is not None
    response.tls_version = connection.sock.version()  # type: ignore[attr-defined]
    connection.close()
    return response


def test_snapshot_auth_matrix(server: AgentServer, kube_api: KubeAPIServer, tmp_path: Path) -> None:
    assert get(server, "/snapshot").status == 401  # no token
    assert get(server, "/snapshot", token="not-a-token").status == 401  # the API server rejects it
    forbidden = get(server, "/snapshot", token="token-dev")
    assert forbidden.status == 403 and b"bob@example.com may not get snapshots" in forbidden.body  # type: ignore[attr-defined]
    allowed = get(server, "/snapshot", token="token-auditor")
    assert allowed.status == 200
    assert (
        allowed.getheader(HEADER_AGENT) == "agent-a" and allowed.getheader(HEADER_NODE) == "node-a"
    )
    assert allowed.getheader(HEADER_SNAPSHOT_TIME)
    snapshot = tmp_path / "got.db"
    snapshot.write_bytes(allowed.body)  # type: ignore[attr-defined]
    with sqlite3.connect(snapshot) as conn:
        assert conn.execute("SELECT agent_id, status FROM runs").fetchall() == [("agent-a", "ok")]
        assert conn.execute("SELECT ip, port FROM endpoints").fetchall() == [("127.0.0.11", 8443)]
    # the reviews really went to the API server: TokenReview then SubjectAccessReview
    reviews = [path for method, path in kube_api.requests if method == "POST"]
    assert any("tokenreviews" in path for path in reviews) and any(
        "subjectaccessreviews" in path for path in reviews
    )


def test_snapshot_when_the_api_server_fails_is_refused(
    server: AgentServer, kube_api: KubeAPIServer
) -> None:
    kube_api.inject("tokenreviews", status=500, times=None)
    assert get(server, "/snapshot", token="token-auditor").status == 503


def test_health_metrics_and_tls_floor(server: AgentServer) -> None:
    healthz = get(server, "/healthz")
    assert healthz.status == 200 and healthz.tls_version in ("TLSv1.2", "TLSv1.3")  # type: ignore[attr-defined]
    assert get(server, "/readyz").status == 503  # no cycle has completed
    server.health.ready = True
    assert get(server, "/readyz").status == 200
    metrics = get(server, "/metrics").body  # type: ignore[attr-defined]
    assert b'cryptoscope_endpoints{transport="tls"} 3.0' in metrics
    assert b'cryptoscope_findings{requirement="4.2.1",severity="high"} 2.0' in metrics
    assert b"cryptoscope_last_successful_run_timestamp_seconds 1.7e+09" in metrics
    assert b"cryptoscope_endpoint_scan_duration_seconds_count 1.0" in metrics
    assert get(server, "/nothing").status == 404


def test_the_endpoint_passes_its_own_checks(server: AgentServer) -> None:
    """We practise what we check: our own prober sees TLS 1.2/1.3 only, forward-secret AEAD suites only."""
    from agent.runner import default_prober

    scans = asyncio.run(
        default_prober()([Target("127.0.0.1", server.port)], ScanOptions(concurrency=1))
    )
    scan = scans[0]
    assert scan.transport == Transport.TLS
    assert scan.accepted_protocols == ("TLSv1.2", "TLSv1.3")
    tls12 = scan.protocols["TLSv1.2"].suites
    assert tls12 and all(
        "ECDHE" in suite and ("GCM" in suite or "CHACHA20" in suite) for suite in tls12
    )
