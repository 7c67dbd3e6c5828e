"""Rule V6: the Secrets Store CSI driver's --enable-secret-rotation, read from its DaemonSet on the
lab API server by the real client, recorded once per cycle and judged."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client.exceptions import ApiException

from agent.config import load_settings
from agent.discovery import KubeReader
from agent.discovery.csi_driver import (
    Status,
    driver_facts,
    go_duration_seconds,
    parse_flags,
    read_csi_drivers,
)
from agent.discovery.csi_records import csi_driver_findings
from agent.runner import Agent, load_inspectors
from agent.store import Store
from inspector.lab.kube_api import KubeAPIServer

pytestmark = pytest.mark.timeout(180)

USER = "system:serviceaccount:cryptoscope:cryptoscope-agent"

#: The AKS add-on's driver DaemonSet, as `kubectl get ds -n kube-system -o yaml` shows it (trimmed).
AKS_ADDON = """
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: aks-secrets-store-csi-driver
  namespace: kube-system
  labels:
    app: secrets-store-csi-driver
    kubernetes.azure.com/managedby: aks
spec:
  selector: {matchLabels: {app: secrets-store-csi-driver}}
  template:
    metadata: {labels: {app: secrets-store-csi-driver}}
    spec:
      serviceAccountName: aks-secrets-store-csi-driver
      containers:
        - name: node-driver-registrar
          image: mcr.microsoft.com/oss/kubernetes-csi/csi-node-driver-registrar:v2.13.0
          args: [--v=2, --csi-address=/csi/csi.sock, --kubelet-registration-path=/var/lib/kubelet/plugins/csi-secrets-store/csi.sock]
        - name: secrets-store
          image: mcr.microsoft.com/oss/v2/kubernetes-csi/secrets-store/driver:v1.5.3
          args:
            - --endpoint=$(CSI_ENDPOINT)
            - --nodeid=$(KUBE_NODE_NAME)
            - --provider-volume=/var/run/secrets-store-csi-providers
            - --additional-provider-volume-paths=/etc/kubernetes/secrets-store-csi-providers
            - --metrics-addr=:8095
            - --enable-secret-rotation=${ROTATION}
            - --rotation-poll-interval=2m
            - --provider-health-check=false
            - --provider-health-check-interval=2m
          env:
            - {name: CSI_ENDPOINT, value: unix:///csi/csi.sock}
            - name: KUBE_NODE_NAME
              valueFrom: {fieldRef: {apiVersion: v1, fieldPath: spec.nodeName}}
        - name: liveness-probe
          image: mcr.microsoft.com/oss/kubernetes-csi/livenessprobe:v2.15.0
          args: [--csi-address=/csi/csi.sock, --probe-timeout=3s, --http-endpoint=0.0.0.0:9808]
"""

#: Upstream's deploy/secrets-store-csi-driver.yaml: no labels on the DaemonSet, found by name.
UPSTREAM = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: csi-secrets-store, namespace: kube-system}
spec:
  selector: {matchLabels: {app: csi-secrets-store}}
  template:
    metadata: {labels: {app: csi-secrets-store}}
    spec:
      containers:
        - name: secrets-store
          image: registry.k8s.io/csi-secrets-store/driver:v1.5.3
          args:
            - "--endpoint=$(CSI_ENDPOINT)"
            - "--nodeid=$(KUBE_NODE_NAME)"
            - "--provider-volume=/var/run/secrets-store-csi-providers"
            - "--enable-secret-rotation"
            - "--rotation-poll-interval"
            - "90s"
          env:
            - {name: CSI_ENDPOINT, value: unix:///csi/csi.sock}
            - name: KUBE_NODE_NAME
              valueFrom: {fieldRef: {apiVersion: v1, fieldPath: spec.nodeName}}
"""

#: Another labelled DaemonSet (the Helm chart's name), so the labelled list takes two pages.
HELM_CHART = """
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: csi-secrets-store-secrets-store-csi-driver
  namespace: kube-system
  labels: {app: secrets-store-csi-driver, app.kubernetes.io/managed-by: Helm}
spec:
  selector: {matchLabels: {app: secrets-store-csi-driver}}
  template:
    spec:
      containers:
        - name: secrets-store
          image: registry.k8s.io/csi-secrets-store/driver:v1.5.3
          args: ["--enable-secret-rotation=$(ROTATION)", "--rotation-poll-interval=$(POLL)"]
          env:
            - {name: ROTATION, value: "true"}
            - name: POLL
              valueFrom: {configMapKeyRef: {name: driver-settings, key: poll}}
"""

#: A DaemonSet elsewhere with the same label: not the driver of this cluster's kube-system.
ELSEWHERE = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: csi-secrets-store, namespace: sandbox, labels: {app: secrets-store-csi-driver}}
spec:
  template:
    spec:
      containers: [{name: secrets-store, image: x, args: [--enable-secret-rotation=false]}]
"""


def reader_for(api: KubeAPIServer, *, token: str | None = None, page_size: int = 500) -> Any:
    return KubeReader(kubernetes.client.ApiClient(api.configuration(token)), page_size=page_size)


def test_the_aks_addon_with_rotation_off_is_a_v6_finding(kube_api: KubeAPIServer) -> None:
    kube_api.load_yaml(AKS_ADDON, {"ROTATION": "false"})
    kube_api.load_yaml(ELSEWHERE)
    (facts,) = read_csi_drivers(reader_for(kube_api))
    assert (facts.status, facts.namespace, facts.daemonset, facts.container) == (
        Status.FOUND,
        "kube-system",
        "aks-secrets-store-csi-driver",
        "secrets-store",
    )
    assert facts.rotation_enabled is False
    assert facts.rotation_argument == "--enable-secret-rotation=false"
    assert (facts.poll_interval, facts.poll_interval_seconds) == ("2m", 120.0)
    (finding,) = csi_driver_findings([facts])
    assert (finding.rule_id, finding.subject_type, finding.subject_key, finding.severity) == (
        "V6",
        "csi_driver",
        "csi-driver:kube-system/aks-secrets-store-csi-driver",
        "medium",
    )
    assert finding.requirements == ("3.7.4",)
    assert "--enable-secret-rotation=false" in finding.message


def test_drivers_found_by_label_over_pages_and_by_name(kube_api: KubeAPIServer) -> None:
    kube_api.load_yaml(AKS_ADDON, {"ROTATION": "true"})
    kube_api.load_yaml(UPSTREAM)
    kube_api.load_yaml(HELM_CHART)
    found = {
        facts.daemonset: facts for facts in read_csi_drivers(reader_for(kube_api, page_size=1))
    }
    assert sorted(found) == [
        "aks-secrets-store-csi-driver",
        "csi-secrets-store",
        "csi-secrets-store-secrets-store-csi-driver",
    ]
    labelled = [
        path
        for _, path in kube_api.requests
        if "/namespaces/kube-system/daemonsets?" in path and "labelSelector=app" in path
    ]
    assert len(labelled) == 2 and "continue=" in labelled[1]  # two labelled DaemonSets, pages of 1
    upstream = found["csi-secrets-store"]
    assert (upstream.rotation_enabled, upstream.rotation_argument) == (
        True,
        "--enable-secret-rotation",
    )
    assert (upstream.poll_interval, upstream.poll_interval_seconds) == ("90s", 90.0)
    helm = found["csi-secrets-store-secrets-store-csi-driver"]
    # rotation from the container's literal env; the interval comes from a ConfigMap: unknown
    assert helm.rotation_enabled is True and helm.poll_interval_seconds is None
    assert "$(POLL)" in helm.reason
    assert csi_driver_findings(found.values()) == []


def test_no_driver_and_no_permission_are_recorded_as_such(kube_api: KubeAPIServer) -> None:
    (facts,) = read_csi_drivers(reader_for(kube_api))
    assert facts.status == Status.NOT_FOUND and "kube-system" in facts.reason
    with KubeAPIServer(authorize=True) as api:
        api.load_yaml(AKS_ADDON, {"ROTATION": "false"})
        api.add_token("t", "system:serviceaccount:cryptoscope:agent")
        api.grant("system:serviceaccount:cryptoscope:agent", "list", "pods")
        (denied,) = read_csi_drivers(reader_for(api, token="t"))
    assert (denied.status, denied.rotation_enabled) == (Status.UNKNOWN, None)
    assert denied.reason.startswith("no permission to read DaemonSets in kube-system")
    assert "403" in denied.reason
    assert 'cannot list resource "daemonsets"' in denied.reason
    assert csi_driver_findings([denied]) == []


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_the_agent_records_the_fact_each_cycle_and_resolves_v6_when_rotation_is_on(
    kube_api: KubeAPIServer, tmp_path: Path
) -> None:
    kube_api.load_yaml(AKS_ADDON, {"ROTATION": "false"})
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
    agent_settings = load_settings(
        {
            "mode": "cluster",
            "kubeconfig": str(kubeconfig),
            "egress_targets": "",
            "ingress": "false",
        },
        environ={},
    )
    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        agent = Agent(
            agent_settings,
            store=store,
            reader=KubeReader(kubernetes.client.ApiClient(kube_api.configuration())),
            inspectors=load_inspectors(("agent.discovery.csi_driver",)),
        )
        first = agent.run_cycle()
        kube_api.load_yaml(AKS_ADDON, {"ROTATION": "true"})
        second = agent.run_cycle()
    assert (first.status, second.status) == ("ok", "ok"), rows(db, "SELECT * FROM errors")
    observed = rows(
        db,
        "SELECT run_id, status, daemonset, rotation_enabled, rotation_argument, poll_interval_seconds"
        " FROM csi_driver_observations ORDER BY run_id",
    )
    assert [row[1:] for row in observed] == [
        ("found", "aks-secrets-store-csi-driver", 0, "--enable-secret-rotation=false", 120.0),
        ("found", "aks-secrets-store-csi-driver", 1, "--enable-secret-rotation=true", 120.0),
    ]
    assert rows(db, "SELECT rotation_enabled FROM current_csi_driver") == [(1,)]
    findings = rows(db, "SELECT rule_id, subject_key, resolved_at IS NOT NULL FROM findings")
    assert findings == [("V6", "csi-driver:kube-system/aks-secrets-store-csi-driver", 1)]


@pytest.mark.parametrize(
    ("arguments", "env", "expected"),
    [
        (["--enable-secret-rotation"], {}, {"enable-secret-rotation": "true"}),
        (["-enable-secret-rotation=0"], {}, {"enable-secret-rotation": "0"}),
        (
            ["--enable-secret-rotation=true", "--enable-secret-rotation=false"],
            {},
            {"enable-secret-rotation": "false"},  # the last occurrence wins
        ),
        (["--rotation-poll-interval", "5m"], {}, {"rotation-poll-interval": "5m"}),
        (["--", "--enable-secret-rotation"], {}, {}),  # after "--": positional arguments
        (["--enable-secret-rotation=$(R)"], {"R": "True"}, {"enable-secret-rotation": "True"}),
        (["--enable-secret-rotation=$(R)"], {"R": None}, {"enable-secret-rotation": None}),
        (
            ["--endpoint", "unix:///csi.sock", "--enable-secret-rotation"],
            {},
            {"enable-secret-rotation": "true"},
        ),
    ],
)
def test_go_flag_parsing(
    arguments: list[str], env: dict[str, str | None], expected: dict[str, str | None]
) -> None:
    assert {name: value for name, (_, value) in parse_flags(arguments, env).items()} == expected


def test_go_durations_and_refused_values() -> None:
    assert go_duration_seconds("2m") == 120.0
    assert go_duration_seconds("1h30m") == 5400.0
    assert go_duration_seconds("1.5s") == 1.5
    assert go_duration_seconds("0") == 0.0
    assert go_duration_seconds("2") is None and go_duration_seconds("2 m") is None
    refused = driver_facts(
        {
            "metadata": {"name": "csi-secrets-store", "namespace": "kube-system"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "secrets-store", "args": ["--enable-secret-rotation=yes"]}
                        ]
                    }
                }
            },
        }
    )
    assert refused.status == Status.UNKNOWN and "not a boolean" in refused.reason
    absent = driver_facts(
        {
            "metadata": {"name": "csi-secrets-store", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [{"name": "secrets-store", "args": []}]}}},
        }
    )
    # the driver's defaults: rotation off, 2 minutes
    assert (absent.status, absent.rotation_enabled, absent.poll_interval_seconds) == (
        Status.FOUND,
        False,
        120.0,
    )
    assert "absent (default false)" in csi_driver_findings([absent])[0].message


def test_the_lab_enforces_rbac_as_the_api_server_does() -> None:
    """Verbs per request kind, namespaced denials, subresources granted on their own."""
    with KubeAPIServer(authorize=True) as api:
        api.load_yaml(AKS_ADDON, {"ROTATION": "true"})
        api.add_token("agent", USER)
        api.grant(USER, "get", "daemonsets", group="apps", namespace="kube-system")
        client = kubernetes.client.ApiClient(api.configuration(token="agent"))
        apps = kubernetes.client.AppsV1Api(client)
        try:
            granted = apps.read_namespaced_daemon_set("aks-secrets-store-csi-driver", "kube-system")
            assert granted.metadata is not None
            assert granted.metadata.name == "aks-secrets-store-csi-driver"
            with pytest.raises(ApiException) as listing:
                apps.list_namespaced_daemon_set("kube-system")
            with pytest.raises(ApiException) as elsewhere:
                apps.read_namespaced_daemon_set("x", "default")
        finally:
            client.close()
        anonymous = kubernetes.client.AppsV1Api(kubernetes.client.ApiClient(api.configuration()))
        with pytest.raises(ApiException) as unauthenticated:
            anonymous.list_namespaced_daemon_set("kube-system")
        anonymous.api_client.close()
    assert json.loads(listing.value.body or "{}")["message"] == (
        f'daemonsets.apps is forbidden: User "{USER}" cannot list resource "daemonsets"'
        ' in API group "apps" in the namespace "kube-system"'
    )
    denied = json.loads(elsewhere.value.body or "{}")
    assert (elsewhere.value.status, denied["reason"], denied["details"]) == (
        403,
        "Forbidden",
        {"name": "x", "group": "apps", "kind": "daemonsets"},
    )
    assert unauthenticated.value.status == 401
