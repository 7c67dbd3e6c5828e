"""`cryptoscope collect` judges rule V12 once it has merged new runs: a prod agent and a test agent
serving the same key (real agent HTTPS servers behind the lab API server's port-forward)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest

from agent.auth import Authorizer, ResourceAttributes
from agent.server import AgentMetrics, AgentServer, Health, server_context
from inspector.cli import main
from inspector.lab import pki
from inspector.lab.kube_api import KubeAPIServer
from inspector.reuse import COLLECT_AGENT
from tests.collect.test_key_reuse import T0, agent_db, reissued, rows, v12

pytestmark = pytest.mark.timeout(180)


class TwoClusters:
    """Two agents (prod, test) reachable through one lab API server, as `collect` finds them."""

    def __init__(self, tmp: Path, kube_api: KubeAPIServer) -> None:
        self.tmp, self.api, self.stack = tmp, kube_api, ExitStack()
        self.client = kubernetes.client.ApiClient(kube_api.configuration())
        self.stack.callback(self.client.close)
        kube_api.add_token("op-token", "operator@example.com", groups=["auditors"])
        kube_api.grant(
            "auditors", "get", "snapshots", group="cryptoscope.io", namespace="cryptoscope"
        )
        self.ca = pki.make_ca("collect reuse CA")
        self.prod_leaf = pki.make_leaf(self.ca, common_name="web.prod.example")
        self.dbs = {
            "agent-prod": agent_db(
                tmp / "prod.db", "agent-prod", "prod", self.prod_leaf.certificate
            ),
            "agent-test": agent_db(
                tmp / "test.db",
                "agent-test",
                "test",
                reissued(self.prod_leaf, self.ca, "web.test.example"),
            ),
        }
        for name, db in self.dbs.items():
            server = AgentServer(
                listen="127.0.0.1:0",
                db_path=db,
                metrics=AgentMetrics(),
                health=Health(60),
                authorizer=Authorizer(self.client, ResourceAttributes(namespace="cryptoscope")),
                context=server_context(),
                provenance={"agent_id": name, "node": f"node-{name}"},
            ).start()
            self.stack.callback(server.stop)
            kube_api.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"cryptoscope-{name}",
                        "namespace": "cryptoscope",
                        "labels": {
                            "app.kubernetes.io/name": "cryptoscope",
                            "app.kubernetes.io/component": "agent",
                        },
                    },
                    "spec": {
                        "nodeName": f"node-{name}",
                        "containers": [
                            {
                                "name": "agent",
                                "image": "cryptoscope",
                                "ports": [{"name": "https", "containerPort": server.port}],
                            }
                        ],
                    },
                    "status": {"phase": "Running", "podIP": "127.0.0.1"},
                }
            )

    @property
    def local(self) -> Path:
        return self.tmp / "local.db"

    def collect(self, capsys: Any) -> tuple[int, str]:
        kubeconfig = self.api.write_kubeconfig(self.tmp / "kubeconfig", token="op-token")
        code = main(
            ["collect", "--kubeconfig", str(kubeconfig), "--db", str(self.local), "--timeout", "30"]
        )
        return code, capsys.readouterr().out


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[TwoClusters]:
    with KubeAPIServer() as kube_api:
        built = TwoClusters(tmp_path, kube_api)
        with built.stack:
            yield built


def test_collect_finds_and_later_resolves_prod_test_key_reuse(
    clusters: TwoClusters, capsys: Any
) -> None:
    code, out = clusters.collect(capsys)
    assert code == 0, out
    [(subject, severity, requirements, message, resolved)] = v12(clusters.local)
    assert (severity, requirements, resolved) == ("high", "3.6.1.1", None)
    assert "agent agent-prod" in message and "agent agent-test" in message
    assert sorted(rows(clusters.local, "SELECT agent_id, environment FROM runs")) == [
        ("agent-prod", "prod"),
        ("agent-test", "test"),
        (COLLECT_AGENT, ""),
    ]
    # collecting again with nothing new changes nothing (no new judging run)
    before = rows(clusters.local, "SELECT count(*) FROM runs")
    code, out = clusters.collect(capsys)
    assert code == 0 and out.count("unchanged since the last collect") == 2
    assert rows(clusters.local, "SELECT count(*) FROM runs") == before
    # the test cluster gets its own key; the next collect resolves the finding
    own = pki.make_leaf(clusters.ca, common_name="web.test.example")
    agent_db(
        clusters.dbs["agent-test"],
        "agent-test",
        "test",
        own.certificate,
        at=T0 + dt.timedelta(hours=1),
    )
    code, out = clusters.collect(capsys)
    assert code == 0 and "cryptoscope-agent-test (node-agent-test): merged 1 runs" in out
    [(same, _, _, _, resolved)] = v12(clusters.local)
    assert same == subject and resolved is not None
