"""The agent loop end to end: lab API server, pods on 127.0.0.x served by real TLS peers, a real store."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest

from agent.config import load_settings
from agent.discovery import DiscoveryScope, KubeReader, PodWatcher
from agent.runner import Agent, CycleContext, NamedInspector
from agent.store import Store
from inspector.lab import pki
from inspector.lab.kube_api import MANIFESTS_DIR, KubeAPIServer
from inspector.lab.tls_servers import PlainHTTPServer, PyOpenSSLServer, closed_port
from tests.agent.conftest import SHOP_VARIABLES

pytestmark = pytest.mark.timeout(180)


def settings(**overrides: str) -> Any:
    flags = {
        "mode": "daemonset",
        "node_name": "node-a",
        "connect_timeout": "3",
        "read_timeout": "3",
        **overrides,
    }
    return load_settings(flags, environ={})


class ShopPeers:
    """Real servers for the shop's node-a pods, each on its own loopback address."""

    def __init__(self, tmp: Path) -> None:
        root = pki.make_ca()
        self.pem = {}
        for name, ip in (
            ("web", "127.0.0.11"),
            ("api", "127.0.0.14"),
            ("ingress", "127.0.0.16"),
            ("job", "127.0.0.15"),
        ):
            leaf = pki.make_leaf(
                root, common_name=name, dns_names=("localhost",), ip_addresses=(ip,)
            )
            self.pem[name] = pki.write_pem_files(tmp / "pki", name, leaf, (), root)
        self.stack = ExitStack()
        self.web = self.stack.enter_context(
            PyOpenSSLServer(self.pem["web"], min_version="TLSv1.2", host="127.0.0.11")
        )
        self.api = self.stack.enter_context(
            PyOpenSSLServer(
                self.pem["api"], min_version="TLSv1.2", max_version="TLSv1.2", host="127.0.0.14"
            )
        )
        self.ingress = self.stack.enter_context(
            PyOpenSSLServer(self.pem["ingress"], min_version="TLSv1.2", host="127.0.0.16")
        )
        self.job = self.stack.enter_context(
            PyOpenSSLServer(self.pem["job"], min_version="TLSv1.3", host="127.0.0.15")
        )
        self.db = self.stack.enter_context(PlainHTTPServer(host="127.0.0.13"))
        self.exporter = self.stack.enter_context(PlainHTTPServer(host="127.0.0.2"))

    def variables(self) -> dict[str, Any]:
        return {
            **SHOP_VARIABLES,  # the nodes and addresses; the ports are the live servers'
            "WEB_PORT": self.web.port,
            "DB_PORT": self.db.port,
            "API_PORT": self.api.port,
            "API_ADMIN_PORT": closed_port("127.0.0.14"),
            "EXPORTER_PORT": self.exporter.port,
            "INGRESS_PORT": self.ingress.port,
            "JOB_PORT": self.job.port,
        }


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[ShopPeers]:
    shop = ShopPeers(tmp_path)
    with shop.stack:
        yield shop


@pytest.fixture
def live_shop(kube_api: KubeAPIServer, peers: ShopPeers) -> KubeAPIServer:
    kube_api.load_yaml(MANIFESTS_DIR / "shop.yaml", peers.variables())
    return kube_api


def rows(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_a_cycle_writes_endpoints_and_findings(
    live_shop: KubeAPIServer,
    peers: ShopPeers,
    api_client: kubernetes.client.ApiClient,
    tmp_path: Path,
) -> None:
    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        agent = Agent(settings(), store=store, reader=KubeReader(api_client), inspectors=[])
        report = agent.run_cycle()
    assert report.status == "ok", rows(db, "SELECT stage, message FROM errors")
    endpoints = {
        (row[0], row[1], row[2]): row[3:]
        for row in rows(
            db,
            "SELECT ip, port, sni, transport, namespace, workload_kind, workload_name, scope FROM endpoints",
        )
    }
    web = endpoints[("127.0.0.11", peers.web.port, "web.shop.svc.cluster.local")]
    assert web == ("tls", "shop", "Deployment", "web", None)
    db_row = endpoints[("127.0.0.13", peers.db.port, "payments-db.payments.svc.cluster.local")]
    # an HTTP server behind a "postgresql" port: not TLS, whatever the prober calls the plaintext
    assert db_row[0].startswith("plaintext") and db_row[1:3] == ("payments", "StatefulSet")
    assert endpoints[("127.0.0.14", peers.api.port, "api.payments.internal")][0] == "tls"
    exporter = endpoints[("127.0.0.2", peers.exporter.port, None)]
    assert exporter[0].startswith("plaintext") and exporter[1:4] == (
        "shop",
        "DaemonSet",
        "node-exporter",
    )
    assert endpoints[("127.0.0.16", peers.ingress.port, "shop.example.com")][0] == "tls"
    assert (
        len(endpoints) == 8
    )  # web, db, api, job, exporter, ingress controller pod, 2 ingress hosts
    # TLS facts were stored: the web peer accepts TLS 1.2 and 1.3, the api peer only 1.2
    protocols = {
        (ip, protocol)
        for ip, protocol in rows(
            db,
            "SELECT e.ip, p.protocol FROM accepted_protocols p JOIN endpoint_scans s ON s.id = p.endpoint_scan_id"
            " JOIN endpoints e ON e.id = s.endpoint_id",
        )
    }
    assert {
        ("127.0.0.11", "TLSv1.2"),
        ("127.0.0.11", "TLSv1.3"),
        ("127.0.0.14", "TLSv1.2"),
    } <= protocols
    assert ("127.0.0.14", "TLSv1.3") not in protocols
    # findings: plaintext on the cardholder data store; they carry PCI requirements
    findings = rows(db, "SELECT rule_id, subject_key, requirements FROM findings")
    plaintext = [f for f in findings if "payments-db-0" in f[1]]
    assert plaintext and all("4.2" in f[2] for f in plaintext)
    assert rows(db, "SELECT status, endpoint_count, finding_count FROM runs") == [
        ("ok", 8, len(findings))
    ]
    assert report.endpoints_by_transport["tls"] == 6
    assert (
        sum(n for t, n in report.endpoints_by_transport.items() if t.startswith("plaintext")) == 2
    )


def test_inspectors_are_isolated_and_see_the_discovery(
    live_shop: KubeAPIServer, api_client: kubernetes.client.ApiClient, tmp_path: Path
) -> None:
    seen: list[CycleContext] = []

    def broken(context: CycleContext) -> None:
        raise RuntimeError("CSI tree unreadable")

    def working(context: CycleContext) -> list[str]:
        seen.append(context)
        return ["secret:shop/web/tls"]

    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        inspectors = [NamedInspector("broken", broken), NamedInspector("working", working)]
        agent = Agent(
            settings(egress_targets="", ingress="false"),
            store=store,
            reader=KubeReader(api_client),
            inspectors=inspectors,
        )
        report = agent.run_cycle()
    assert report.status == "partial"
    assert seen and seen[0].run_id == 1 and any(t.pod == "web-6d4f8-aaaaa" for t in seen[0].targets)
    assert rows(db, "SELECT stage, message FROM errors") == [
        ("inspector:broken", "inspector broken failed: RuntimeError: CSI tree unreadable")
    ]
    assert rows(db, "SELECT count(*) FROM endpoints")[0][0] == 6  # the TLS side went on


def test_api_errors_fail_the_cycle_then_back_off_then_recover(
    live_shop: KubeAPIServer, api_client: kubernetes.client.ApiClient, tmp_path: Path
) -> None:
    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        agent = Agent(
            settings(api_backoff_max="60", scan_interval="300"),
            store=store,
            reader=KubeReader(api_client),
            inspectors=[],
        )
        live_shop.inject(r"/api/v1/pods$", status=500, times=None)
        assert agent.run_cycle().status == "failed"
        assert agent.run_cycle().status == "failed"
        assert (
            agent.api_failures == 2 and agent.next_delay() <= 10.0
        )  # backoff, not the 300 s interval
        live_shop.clear_faults()
        assert agent.run_cycle().status == "ok"
        assert agent.api_failures == 0 and agent.next_delay() >= 300
    statuses = rows(db, "SELECT status, error FROM runs ORDER BY id")
    assert [status for status, _ in statuses] == ["failed", "failed", "ok"]
    assert "HTTP 500" in statuses[0][1]
    assert b'cryptoscope_cycles_total{status="failed"} 2.0' in agent.metrics.render()


def test_a_slow_api_server_times_out_and_the_next_cycle_works(
    live_shop: KubeAPIServer, api_client: kubernetes.client.ApiClient, tmp_path: Path
) -> None:
    with Store.open(tmp_path / "agent.db") as store:
        agent = Agent(
            settings(api_timeout="0.5"),
            store=store,
            reader=KubeReader(api_client, timeout=0.5),
            inspectors=[],
        )
        live_shop.inject(r"/api/v1/services$", status=None, delay=2.0, times=None)
        assert agent.run_cycle().status == "failed"
        live_shop.clear_faults()
        assert agent.run_cycle().status == "ok"


def test_cycle_deadline_keeps_what_was_finished(
    tmp_path: Path, api_client: kubernetes.client.ApiClient, kube_api: KubeAPIServer
) -> None:
    async def slow_prober(targets, options):  # noqa: ANN001, ANN202 - a prober that never finishes in time
        import asyncio

        await asyncio.sleep(30)
        return []

    with Store.open(tmp_path / "agent.db") as store:
        agent = Agent(
            settings(cycle_deadline="1", egress_targets="127.0.0.1:1"),
            store=store,
            reader=KubeReader(api_client),
            prober=slow_prober,
            inspectors=[],
        )
        started = time.monotonic()
        report = agent.run_cycle()
        assert time.monotonic() - started < 20
    assert report.status == "partial"
    assert "deadline" in rows(tmp_path / "agent.db", "SELECT message FROM errors")[0][0]


def test_sidecar_mode_probes_its_own_pod_on_localhost(
    kube_api: KubeAPIServer, api_client: kubernetes.client.ApiClient, tmp_path: Path
) -> None:
    root = pki.make_ca()
    pem = pki.write_pem_files(tmp_path, "app", pki.make_leaf(root), (), root)
    with PyOpenSSLServer(pem, min_version="TLSv1.2", host="127.0.0.1") as app:
        kube_api.load_yaml(
            f"""
apiVersion: v1
kind: Pod
metadata: {{name: checkout-0, namespace: shop, annotations: {{cryptoscope.io/scope: cde}}}}
spec:
  nodeName: node-a
  containers:
    - {{name: app, image: shop/checkout, ports: [{{containerPort: {app.port}}}, {{name: debug, containerPort: 6060}}]}}
    - {{name: cryptoscope, image: cryptoscope, ports: [{{name: https, containerPort: 9443}}]}}
status: {{podIP: 127.0.0.77}}
"""
        )
        db = tmp_path / "sidecar.db"
        with Store.open(db) as store:
            agent = Agent(
                settings(
                    mode="sidecar",
                    pod_name="checkout-0",
                    pod_namespace="shop",
                    sidecar_exclude_ports="6060",  # and its own --listen port 9443, always
                ),
                store=store,
                reader=KubeReader(api_client),
                inspectors=[],
            )
            assert agent.run_cycle().status == "ok"
    assert rows(db, "SELECT ip, port, transport, pod, scope FROM endpoints") == [
        ("127.0.0.1", app.port, "tls", "checkout-0", "cde")
    ]


def test_pod_watcher_sees_new_pods_survives_410_and_errors(
    kube_api: KubeAPIServer, api_client: kubernetes.client.ApiClient
) -> None:
    changes = threading.Event()
    watcher = PodWatcher(
        api_client,
        DiscoveryScope(node_name="node-a"),
        changes.set,
        timeout=5,
        watch_seconds=2,
        backoff_max=0.5,
    )

    def pod(name: str, ip: str, node: str = "node-a") -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"nodeName": node, "containers": []},
            "status": {"podIP": ip},
        }

    def wait_for(condition, timeout: float = 30.0) -> bool:  # noqa: ANN001
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            time.sleep(0.05)
        return False

    watcher.start()
    try:
        assert wait_for(lambda: any("watch=" in path for _, path in kube_api.requests))
        kube_api.apply(pod("other-node", "127.0.0.50", node="node-b"))
        kube_api.apply(pod("new", "127.0.0.51"))
        assert (
            changes.wait(30) and watcher.counters.changes == 1
        )  # node-b's pod is filtered by the server
        # an expired resource version: the watcher relists and goes on
        kube_api.expire_watches()
        assert wait_for(lambda: watcher.counters.relists >= 1)
        changes.clear()
        kube_api.apply(pod("after-410", "127.0.0.52"))
        assert changes.wait(30)
        # API errors on the watch: backoff, then it works again
        kube_api.inject(r"/pods$", status=500, times=2, watch=True)
        kube_api.expire_watches()
        assert wait_for(lambda: watcher.counters.errors >= 1)
        changes.clear()
        assert wait_for(lambda: any("watch=" in p for _, p in kube_api.requests[-3:]), timeout=30)
        kube_api.apply(pod("after-500", "127.0.0.53"))
        assert changes.wait(30)
    finally:
        watcher.stop()


def test_the_loop_picks_up_a_new_pod_early_and_stops_cleanly(
    kube_api: KubeAPIServer, api_client: kubernetes.client.ApiClient, tmp_path: Path
) -> None:
    root = pki.make_ca()
    pem = pki.write_pem_files(
        tmp_path, "late", pki.make_leaf(root, ip_addresses=("127.0.0.88",)), (), root
    )
    db = tmp_path / "agent.db"
    made: list[Agent] = []
    ready = threading.Event()

    def run_loop() -> None:  # the store belongs to the loop's thread, as in the agent process
        with Store.open(db) as store:
            agent = Agent(
                settings(scan_interval="3600", min_cycle_gap="0.5"),
                store=store,
                reader=KubeReader(api_client),
                inspectors=[],
            )
            made.append(agent)
            ready.set()
            agent.run_forever()

    with PyOpenSSLServer(pem, min_version="TLSv1.2", host="127.0.0.88") as late:
        loop = threading.Thread(target=run_loop)
        loop.start()
        assert ready.wait(30)
        agent = made[0]
        watcher = PodWatcher(
            api_client, agent.scope, agent.wake.set, timeout=5, watch_seconds=5
        ).start()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not rows(
                db, "SELECT id FROM runs WHERE status = 'ok'"
            ):
                time.sleep(0.1)
            assert rows(db, "SELECT count(*) FROM endpoints")[0][0] == 0  # an empty node at first
            while time.monotonic() < deadline and not any(
                "watch=" in path for _, path in kube_api.requests
            ):
                time.sleep(0.05)  # the watch is open: the pod below arrives as an event
            kube_api.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "late-0", "namespace": "shop"},
                    "spec": {
                        "nodeName": "node-a",
                        "containers": [
                            {"name": "app", "image": "x", "ports": [{"containerPort": late.port}]}
                        ],
                    },
                    "status": {"phase": "Running", "podIP": "127.0.0.88"},
                }
            )
            # the interval is an hour: only the watch can bring the second cycle this soon
            while time.monotonic() < deadline and not rows(db, "SELECT id FROM endpoints"):
                time.sleep(0.1)
            assert rows(db, "SELECT ip, port, pod FROM endpoints") == [
                ("127.0.0.88", late.port, "late-0")
            ]
        finally:
            agent.stop()
            loop.join(30)
            watcher.stop()
        assert not loop.is_alive()
    assert [status for (status,) in rows(db, "SELECT status FROM runs ORDER BY id")][:2] == [
        "ok",
        "ok",
    ]
