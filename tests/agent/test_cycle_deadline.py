"""The cycle deadline: `auto` sized to what discovery planned, an explicit one honoured, cut cycles resumed.

Real loopback peers: pods in the lab API server whose ports are served by
silent servers (they accept and never answer, so each endpoint ends at the
prober's read timeout, about a second). No timing asserts beyond generous bounds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest

from agent.config import AUTO, load_settings
from agent.discovery import KubeReader
from agent.runner import Agent, auto_cycle_deadline
from agent.store import Store
from inspector.lab.kube_api import KubeAPIServer
from inspector.lab.tls_servers import SilentServer

pytestmark = pytest.mark.timeout(240)

PORTS_PER_POD = 4


def settings(**overrides: str) -> Any:
    flags = {
        "mode": "daemonset",
        "node_name": "node-a",
        "ingress": "false",
        "connect_timeout": "1",
        "read_timeout": "1",
        "endpoint_deadline": "5",
        "concurrency": "2",
        "scan_interval": "1",
        "check_revocation": "false",
        **overrides,
    }
    return load_settings(flags, environ={})


class SilentPods:
    """``count`` pods on node-a (127.0.0.41, .42, ...), each with ports held by silent servers."""

    def __init__(self, stack: ExitStack, kube_api: KubeAPIServer) -> None:
        self.stack = stack
        self.kube_api = kube_api
        self.endpoints: set[tuple[str, int]] = set()
        self.pods = 0

    def add(self, count: int) -> None:
        for _ in range(count):
            ip = f"127.0.0.{41 + self.pods}"
            ports = [
                self.stack.enter_context(SilentServer(host=ip)).port for _ in range(PORTS_PER_POD)
            ]
            self.kube_api.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"quiet-{self.pods}", "namespace": "shop"},
                    "spec": {
                        "nodeName": "node-a",
                        "containers": [
                            {
                                "name": "app",
                                "image": "shop/quiet",
                                "ports": [{"containerPort": port} for port in ports],
                            }
                        ],
                    },
                    "status": {"phase": "Running", "podIP": ip},
                }
            )
            self.endpoints |= {(ip, port) for port in ports}
            self.pods += 1


@pytest.fixture
def silent_pods(kube_api: KubeAPIServer) -> Iterator[SilentPods]:
    with ExitStack() as stack:
        yield SilentPods(stack, kube_api)


def rows(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def probed_in(db: Path, run_id: int) -> set[tuple[str, int]]:
    return {
        (ip, port)
        for ip, port in rows(
            db,
            "SELECT e.ip, e.port FROM endpoint_scans s JOIN endpoints e ON e.id = s.endpoint_id"
            " WHERE s.run_id = ?",
            run_id,
        )
    }


def test_auto_is_the_default_and_an_explicit_value_is_kept() -> None:
    assert settings().cycle_deadline == AUTO
    assert settings(cycle_deadline="AUTO").cycle_deadline == AUTO
    assert settings(cycle_deadline="90").cycle_deadline == 90.0
    with pytest.raises(ValueError, match="auto or seconds > 0"):
        settings(cycle_deadline="soon")


def test_auto_deadline_figures_with_the_defaults() -> None:
    defaults = load_settings({}, environ={})

    def auto(planned: int) -> float:
        return auto_cycle_deadline(
            planned,
            concurrency=defaults.concurrency,
            endpoint_deadline=defaults.endpoint_deadline,
            scan_interval=defaults.scan_interval,
        )

    # never below the interval; then one endpoint deadline per wave of `concurrency`, plus one wave
    assert [auto(n) for n in (0, 100, 1000, 2000)] == [300.0, 300.0, 1980.0, 3840.0]
    assert auto(2000) > 240.0  # the old fixed default would cut a 2,000-endpoint node


def test_auto_deadline_grows_with_the_planned_endpoints_and_lets_the_cycle_finish(
    silent_pods: SilentPods, api_client: kubernetes.client.ApiClient, tmp_path: Path
) -> None:
    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        agent = Agent(settings(), store=store, reader=KubeReader(api_client), inspectors=[])
        silent_pods.add(1)
        assert agent.run_cycle().status == "ok"
        small = agent.cycle_deadline_s
        silent_pods.add(3)
        report = agent.run_cycle()
        large = agent.cycle_deadline_s
        stale_after = agent.health.stale_after
    # 4 endpoints, 2 at once, 5 s each: (2 + 1) x 5; 16 endpoints: (8 + 1) x 5
    assert (small, large) == (15.0, 45.0)
    assert (
        large is not None and stale_after >= large
    )  # /healthz allows at least the cycle's deadline between beats
    # every endpoint probed (each ends at its read timeout): not cut
    assert report.status == "ok", rows(db, "SELECT stage, message FROM errors")
    assert probed_in(db, 2) == silent_pods.endpoints and len(silent_pods.endpoints) == 16
    # the silent peers' timeouts are recorded per endpoint (stage probe); nothing about the cycle
    assert rows(db, "SELECT count(*) FROM errors WHERE stage <> 'probe'") == [(0,)]


def test_an_explicit_small_deadline_cuts_records_partial_and_the_rest_comes_first_next_cycle(
    silent_pods: SilentPods, api_client: kubernetes.client.ApiClient, tmp_path: Path
) -> None:
    silent_pods.add(5)  # 20 endpoints, 2 at once, about a second each: 10 s or more in all
    everything = silent_pods.endpoints
    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        cut = Agent(
            settings(cycle_deadline="4"),
            store=store,
            reader=KubeReader(api_client),
            inspectors=[],
        )
        first = cut.run_cycle()
        second = cut.run_cycle()
        whole = Agent(
            settings(concurrency="4"), store=store, reader=KubeReader(api_client), inspectors=[]
        )
        third = whole.run_cycle()
    assert cut.cycle_deadline_s == 4.0  # honoured as given
    assert (first.status, second.status, third.status) == ("partial", "partial", "ok")
    in_first, in_second, in_third = probed_in(db, 1), probed_in(db, 2), probed_in(db, 3)
    # what finished before the cut is recorded, and the run says how many were left out
    assert in_first and len(in_first) < len(everything)
    runs = rows(db, "SELECT status, endpoint_count, error FROM runs ORDER BY id")
    assert runs[0][:2] == ("partial", len(in_first))
    left = len(everything) - len(in_first)
    assert runs[0][2] == (
        f"cycle deadline of 4s (20 endpoints) reached: {left} endpoints not probed,"
        " they come first next cycle"
    )
    assert rows(db, "SELECT message FROM errors WHERE run_id = 1 AND stage = 'cycle'") == [
        (runs[0][2],)
    ]
    # the next cycle starts with the endpoints the cut left out
    assert in_second
    if len(in_second) <= left:
        assert not in_second & in_first
    else:
        assert everything - in_first <= in_second
    # a cycle with the auto deadline probes them all
    assert in_third == everything and runs[2][:2] == ("ok", 20)
