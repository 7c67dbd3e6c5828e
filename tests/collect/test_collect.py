"""`cryptoscope collect` from two agents plus one unreachable, through the lab API server's port-forward."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest

from agent.auth import Authorizer, ResourceAttributes
from agent.rules import evaluate_endpoint
from agent.server import AgentMetrics, AgentServer, Health, server_context
from agent.store import EndpointIdentity, Store
from agent.tls.certificates import certificate_info
from agent.tls.model import EndpointScan, ProtocolResult, Transport
from inspector.cli import main
from inspector.collect import Provenance, merge_snapshot
from inspector.lab import pki
from inspector.lab.kube_api import KubeAPIServer
from inspector.lab.tls_servers import closed_port

pytestmark = pytest.mark.timeout(180)

EVIDENCE_TABLES = (
    "runs",
    "endpoints",
    "endpoint_scans",
    "accepted_protocols",
    "accepted_suites",
    "certificates",
    "chain_positions",
    "findings",
    "finding_sightings",
    "errors",
)


def record_cycle(db: Path, agent_id: str, node: str, pod: str, started: dt.datetime) -> None:
    """One agent run through the store's write API: a TLS 1.0 endpoint on the pod and a shared egress target."""
    leaf = pki.make_leaf(None, common_name=f"{pod}.shop.svc")
    certificate = certificate_info(leaf.certificate)
    scans = [
        (
            EndpointIdentity(
                "10.1.0.5", 8443, f"{pod}.shop.svc", "shop", "Deployment", pod, pod, node
            ),
            EndpointScan(
                "10.1.0.5",
                8443,
                Transport.TLS,
                sni=f"{pod}.shop.svc",
                protocols={
                    "TLSv1.0": ProtocolResult(True, ("TLS_RSA_WITH_AES_128_CBC_SHA",)),
                    "TLSv1.2": ProtocolResult(True, ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",)),
                },
                certificates=(certificate,),
                started_at=started,
            ),
        ),
        (
            EndpointIdentity(
                "203.0.113.9", 443, "payments.example.net", node=node, purpose="egress"
            ),
            EndpointScan(
                "203.0.113.9",
                443,
                Transport.TLS,
                sni="payments.example.net",
                protocols={"TLSv1.3": ProtocolResult(True, ("TLS_AES_128_GCM_SHA256",))},
                started_at=started,
            ),
        ),
    ]
    with Store.open(db) as store:
        run = store.begin_run(agent_id=agent_id, mode="daemonset", node=node, started_at=started)
        store.record_endpoint_scans(run, scans)
        store.record_findings(
            run,
            [f for identity, scan in scans for f in evaluate_endpoint(scan, identity.subject_key)],
            seen_at=started,
        )
        store.finish_run(run, finished_at=started + dt.timedelta(seconds=5))


def counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in EVIDENCE_TABLES
        }


class Cluster:
    def __init__(self, tmp: Path, kube_api: KubeAPIServer) -> None:
        self.tmp = tmp
        self.api = kube_api
        self.stack = ExitStack()
        self.client = kubernetes.client.ApiClient(kube_api.configuration())
        self.stack.callback(self.client.close)
        kube_api.add_token("op-token", "operator@example.com", groups=["auditors"])
        kube_api.add_token("dev-token", "dev@example.com")
        kube_api.grant(
            "auditors", "get", "snapshots", group="cryptoscope.io", namespace="cryptoscope"
        )
        self.dbs: dict[str, Path] = {}
        self.start = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
        for name, node in (("agent-a", "node-a"), ("agent-b", "node-b")):
            db = tmp / f"{name}.db"
            record_cycle(db, name, node, "web" if name == "agent-a" else "api", self.start)
            self.dbs[name] = db
            server = AgentServer(
                listen="127.0.0.1:0",
                db_path=db,
                metrics=AgentMetrics(),
                health=Health(60),
                authorizer=Authorizer(self.client, ResourceAttributes(namespace="cryptoscope")),
                context=server_context(),
                provenance={"agent_id": name, "node": node},
            ).start()
            self.stack.callback(server.stop)
            self.add_pod(f"cryptoscope-{name}", node, server.port)
        self.add_pod(
            "cryptoscope-agent-c", "node-c", closed_port()
        )  # scheduled, but nothing listens

    def add_pod(self, name: str, node: str, port: int) -> None:
        self.api.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": "cryptoscope",
                    "labels": {
                        "app.kubernetes.io/name": "cryptoscope",
                        "app.kubernetes.io/component": "agent",
                    },
                },
                "spec": {
                    "nodeName": node,
                    "containers": [
                        {
                            "name": "agent",
                            "image": "cryptoscope",
                            "ports": [{"name": "https", "containerPort": port}],
                        }
                    ],
                },
                "status": {"phase": "Running", "podIP": "127.0.0.1"},
            }
        )

    def collect(self, capsys: Any, *extra: str, token: str = "op-token") -> tuple[int, str]:
        kubeconfig = self.api.write_kubeconfig(self.tmp / "kubeconfig", token=token)
        code = main(
            [
                "collect",
                "--kubeconfig",
                str(kubeconfig),
                "--db",
                str(self.tmp / "local.db"),
                "--timeout",
                "30",
                *extra,
            ]
        )
        return code, capsys.readouterr().out


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with KubeAPIServer() as kube_api:
        built = Cluster(tmp_path, kube_api)
        with built.stack:
            yield built


def test_collect_two_agents_and_one_unreachable(cluster: Cluster, capsys: Any) -> None:
    code, out = cluster.collect(capsys)
    assert code == 1  # one agent was not collected
    assert "cryptoscope-agent-a (node-a): merged 1 runs" in out
    assert "cryptoscope-agent-b (node-b): merged 1 runs" in out
    assert "cryptoscope-agent-c (node-c): NOT collected:" in out
    assert "2 of 3 agents collected" in out
    local = cluster.tmp / "local.db"
    with sqlite3.connect(local) as conn:
        assert sorted(conn.execute("SELECT agent_id, node, status FROM runs")) == [
            ("agent-a", "node-a", "ok"),
            ("agent-b", "node-b", "ok"),
        ]
        provenance = sorted(
            conn.execute(
                "SELECT agent_id, node, pod, namespace, runs_merged FROM collected_snapshots"
            )
        )
        assert provenance == [
            ("agent-a", "node-a", "cryptoscope-agent-a", "cryptoscope", 1),
            ("agent-b", "node-b", "cryptoscope-agent-b", "cryptoscope", 1),
        ]
        assert all(row[0] for row in conn.execute("SELECT snapshot_time FROM collected_snapshots"))
        # the egress target both agents probed is one subject with two scans; each pod endpoint is its own
        endpoints = dict(
            conn.execute(
                "SELECT subject_key, (SELECT count(*) FROM endpoint_scans s WHERE s.endpoint_id = e.id) FROM endpoints e"
            )
        )
        assert endpoints["203.0.113.9:443#payments.example.net"] == 2
        assert endpoints["shop/Deployment/web/web@10.1.0.5:8443#web.shop.svc"] == 1
        assert endpoints["shop/Deployment/api/api@10.1.0.5:8443#api.shop.svc"] == 1
        # findings came with their subjects, sightings point at the merged runs, scans at their certificates
        tls10 = conn.execute(
            "SELECT count(DISTINCT subject_key) FROM findings WHERE message LIKE '%TLSv1.0%'"
        ).fetchone()[0]
        assert tls10 == 2
        assert (
            conn.execute(
                "SELECT count(*) FROM finding_sightings fs LEFT JOIN runs r ON r.id = fs.run_id WHERE r.id IS NULL"
            ).fetchone()[0]
            == 0
        )
        assert (
            conn.execute(
                "SELECT count(*) FROM endpoint_scans s JOIN certificates c ON c.sha256 = s.leaf_sha256"
            ).fetchone()[0]
            == 2
        )
        assert (
            conn.execute("SELECT count(*) FROM endpoints WHERE latest_scan_id IS NULL").fetchone()[
                0
            ]
            == 0
        )
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    source = counts(cluster.dbs["agent-a"])
    merged = counts(local)
    assert merged["runs"] == 2 and merged["endpoint_scans"] == 2 * source["endpoint_scans"]


def test_collect_is_idempotent_and_merges_only_what_is_new(cluster: Cluster, capsys: Any) -> None:
    cluster.collect(capsys)
    local = cluster.tmp / "local.db"
    first = counts(local)
    code, out = cluster.collect(capsys)
    assert "unchanged since the last collect" in out
    assert counts(local) == first
    # agent-a runs again an hour later: only that run arrives; subjects are matched, not duplicated
    record_cycle(
        cluster.dbs["agent-a"], "agent-a", "node-a", "web", cluster.start + dt.timedelta(hours=1)
    )
    code, out = cluster.collect(capsys)
    assert "cryptoscope-agent-a (node-a): merged 1 runs, 1 already present" in out
    after = counts(local)
    assert after["runs"] == first["runs"] + 1
    assert after["endpoints"] == first["endpoints"]
    assert after["findings"] == first["findings"]
    with sqlite3.connect(local) as conn:
        last_seen = conn.execute(
            "SELECT max(last_seen) FROM findings WHERE subject_key LIKE '%web@%'"
        ).fetchone()[0]
        assert last_seen == "2026-11-30T13:00:00Z"
        first_seen = conn.execute(
            "SELECT min(first_seen) FROM findings WHERE subject_key LIKE '%web@%'"
        ).fetchone()[0]
        assert first_seen == "2026-11-30T12:00:00Z"


def test_collect_with_a_token_that_may_not_read_snapshots(cluster: Cluster, capsys: Any) -> None:
    code, out = cluster.collect(capsys, token="dev-token")
    assert code == 1
    assert out.count("/snapshot answered 403") == 2
    assert "0 of 3 agents collected" in out


def test_merging_a_file_that_is_not_a_snapshot_fails_cleanly(tmp_path: Path) -> None:
    from inspector.collect import CollectError

    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(CollectError, match="not a usable snapshot"):
        merge_snapshot(tmp_path / "local.db", bogus, Provenance("x"))


def test_a_snapshot_without_length_is_still_bounded() -> None:
    import io

    from inspector.collect import CollectError, _copy_bounded

    sink = io.BytesIO()
    _copy_bounded(io.BytesIO(b"x" * 1000), sink, limit=1000, chunk=64)
    assert sink.getvalue() == b"x" * 1000
    with pytest.raises(CollectError, match="too large"):
        _copy_bounded(io.BytesIO(b"x" * 1001), io.BytesIO(), limit=1000, chunk=64)
