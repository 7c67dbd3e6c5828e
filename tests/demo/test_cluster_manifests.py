"""The demo's fictional cluster, rendered: what discovery and the CSI reader will make of it (no servers)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from agent.discovery import DiscoveryScope, Source, plan_targets
from agent.discovery.csi_driver import driver_facts
from agent.discovery.csi_records import csi_driver_findings
from agent.discovery.model import ClusterState
from inspector.cli import main
from inspector.demo import cluster, manifests, vault
from inspector.lab import csi_tree, pki


def _placement(tmp_path: Path) -> manifests.Placement:
    keys = [
        (item.namespace, item.name, port.name) for item in cluster.WORKLOADS for port in item.ports
    ]
    ports = {key: number for number, key in enumerate(keys, start=40000)}
    return manifests.Placement(ports=ports, kubelet_pods_dir=tmp_path / "pods")


def _by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] == kind]


def test_discovery_finds_every_port_with_its_workload_scope_and_purpose(tmp_path: Path) -> None:
    placement = _placement(tmp_path)
    objects = manifests.render(cluster.WORKLOADS, placement)
    state = ClusterState(
        pods=tuple(_by_kind(objects, "Pod")),
        services=tuple(_by_kind(objects, "Service")),
        endpoint_slices=tuple(_by_kind(objects, "EndpointSlice")),
        replica_sets=tuple(_by_kind(objects, "ReplicaSet")),
    )
    targets = plan_targets(
        state, DiscoveryScope(mode="daemonset", node_name=cluster.NODE_NAME, ingress=False)
    )
    found = {
        (t.namespace, t.workload_kind, t.workload_name, t.target.host, t.target.port)
        for t in targets
    }
    expected = {
        (
            item.namespace,
            item.kind,
            item.name,
            item.pod_ip,
            placement.ports[(item.namespace, item.name, port.name)],
        )
        for item in cluster.WORKLOADS
        for port in item.ports
    }
    assert found == expected
    scopes = {t.namespace: t.scope for t in targets}
    assert scopes == {ns.name: ns.scope for ns in cluster.NAMESPACES}
    assert all(t.purpose for t in targets)
    assert {t.target.sni for t in targets if t.workload_name == "checkout-api"} == {
        "checkout-api.payments.svc.cluster.local"
    }


def test_gateway_routes_plan_one_target_per_hostname_on_the_data_plane(tmp_path: Path) -> None:
    placement = _placement(tmp_path)
    objects = manifests.render(cluster.WORKLOADS, placement)
    state = ClusterState(
        pods=tuple(_by_kind(objects, "Pod")),
        services=tuple(_by_kind(objects, "Service")),
        endpoint_slices=tuple(_by_kind(objects, "EndpointSlice")),
        replica_sets=tuple(_by_kind(objects, "ReplicaSet")),
        gateways=tuple(_by_kind(objects, "Gateway")),
        gateway_classes=tuple(_by_kind(objects, "GatewayClass")),
        http_routes=tuple(_by_kind(objects, "HTTPRoute")),
        namespaces=tuple(_by_kind(objects, "Namespace")),
    )
    targets = plan_targets(state, DiscoveryScope(mode="daemonset", node_name=cluster.NODE_NAME))
    (gateway,) = cluster.GATEWAYS
    data_plane = cluster.workload(gateway.namespace, gateway.data_plane)
    port = placement.ports[(data_plane.namespace, data_plane.name, data_plane.ports[0].name)]
    routed = {
        t.target.sni: (t.workload_kind, t.workload_name, t.target.host, t.target.port, t.scope)
        for t in targets
        if t.source == Source.GATEWAY
    }
    assert routed == {
        hostname: ("HTTPRoute", route.name, data_plane.pod_ip, port, "connected")
        for route in gateway.routes
        for hostname in route.hostnames
    }
    assert len(routed) == 2


def test_the_csi_driver_daemonset_has_rotation_off_and_raises_v6() -> None:
    (daemonset,) = [
        obj
        for obj in manifests.render(cluster.WORKLOADS, manifests.Placement(ports={}))
        if obj["kind"] == "DaemonSet"
    ]
    assert (daemonset["metadata"]["namespace"], daemonset["metadata"]["name"]) == (
        "kube-system",
        "aks-secrets-store-csi-driver",
    )
    facts = driver_facts(daemonset)
    assert (facts.container, facts.rotation_enabled, facts.rotation_argument) == (
        "secrets-store",
        False,
        "",
    )
    (finding,) = csi_driver_findings([facts])
    assert finding.rule_id == "V6"


def test_pod_status_target_paths_are_where_the_kubelet_tree_puts_the_mounts(tmp_path: Path) -> None:
    placement = _placement(tmp_path)
    planned = vault.plan(pki.make_ca())
    written = set(vault.write_mounts(placement.kubelet_pods_dir, planned))
    statuses = _by_kind(
        manifests.render(cluster.WORKLOADS, placement), "SecretProviderClassPodStatus"
    )
    targets = {Path(status["status"]["targetPath"]) for status in statuses}
    assert targets == written
    for item in cluster.WORKLOADS:
        for mount in item.mounts:
            expected = csi_tree.mount_dir(
                placement.kubelet_pods_dir, manifests.pod_uid(item), mount.volume
            )
            assert expected in targets
            names = {entry.name for entry in expected.iterdir() if not entry.name.startswith("..")}
            assert names == {obj.alias or obj.name for obj in mount.objects}


def test_vault_states_are_what_the_cluster_table_says() -> None:
    planned = {obj.spec.name: obj for obj in vault.plan(pki.make_ca())}
    assert not planned["acquirer-api-key"].mounted_is_latest  # stale: pinned to an older version
    gateway_key = planned["gateway-signing-key"]
    assert gateway_key.mounted_is_latest and gateway_key.mounted.expires is not None
    assert gateway_key.mounted.expires < dt.datetime.now(dt.UTC)  # expired
    assert planned["tokenizer-tls"].mounted.expires is None  # no expiry
    assert (
        planned["checkout-tls"].mounted_is_latest
        and planned["checkout-tls"].mounted.expires is not None
    )


def test_the_manifest_file_is_loadable_yaml(tmp_path: Path) -> None:
    objects = manifests.render(cluster.WORKLOADS, _placement(tmp_path))
    path = manifests.write_manifest(objects, tmp_path / "cluster.yaml")
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert len(documents) == len(objects)
    spc = next(
        doc
        for doc in documents
        if doc["kind"] == "SecretProviderClass" and doc["metadata"]["name"] == "backup-kv"
    )
    pod = next(
        doc
        for doc in documents
        if doc["kind"] == "Pod" and doc["metadata"]["name"].startswith("backup-runner")
    )
    assert spc["spec"]["parameters"]["keyvaultName"] == cluster.VAULT_NAME
    assert pod["spec"]["volumes"][0]["csi"]["nodePublishSecretRef"] == {
        "name": "backup-kv-sp-creds"
    }


@pytest.mark.parametrize(
    "argv",
    [["demo", "--agent-timeout", "0"], ["demo", "--workdir", "{file}"]],
    ids=["non-positive-timeout", "workdir-is-a-file"],
)
def test_bad_options_are_usage_errors(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "not-a-directory"
    a_file.write_text("")
    code = main([part.replace("{file}", str(a_file)) for part in argv])
    assert code == 2
    assert "cryptoscope demo: error:" in capsys.readouterr().err
