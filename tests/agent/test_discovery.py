"""Discovery over the shop manifests, read by the real client from the lab API server."""

from __future__ import annotations

import kubernetes.client
import pytest

from agent.discovery import DiscoveryError, DiscoveryScope, KubeReader, Source, discover
from inspector.lab.kube_api import KubeAPIServer


def by_target(targets):  # noqa: ANN001, ANN201
    return {(item.target.host, item.target.port, item.target.sni): item for item in targets}


def test_daemonset_mode_sees_its_node_with_identity(shop_api: KubeAPIServer, api_client) -> None:  # noqa: ANN001
    state, targets = discover(
        KubeReader(api_client, page_size=2), DiscoveryScope(node_name="node-a")
    )
    found = by_target(targets)
    web = found[("127.0.0.11", 8443, "web.shop.svc.cluster.local")]
    assert (web.namespace, web.workload_kind, web.workload_name) == ("shop", "Deployment", "web")
    assert (web.pod, web.node, web.service, web.port_name, web.app_protocol) == (
        "web-6d4f8-aaaaa",
        "node-a",
        "web",
        "https",
        "https",
    )
    assert web.purpose == "storefront HTTPS" and web.target.protocol_hint == "https"
    db = found[("127.0.0.13", 5432, "payments-db.payments.svc.cluster.local")]
    assert (db.workload_kind, db.workload_name, db.scope) == ("StatefulSet", "payments-db", "cde")
    assert db.target.protocol_hint == "postgresql" and db.purpose == "cardholder data store"
    # annotations: only the annotated port, with the annotated SNI
    api = [item for item in targets if item.pod == "payments-api"]
    assert [(item.target.port, item.target.sni, item.scope) for item in api] == [
        (9443, "api.payments.internal", "cde")
    ]
    report = [item for item in targets if item.pod.startswith("nightly-report")][0]
    assert (report.workload_kind, report.workload_name, report.target.sni) == (
        "CronJob",
        "nightly-report",
        None,
    )
    # the debug pod is skipped by annotation; node-b's web pod is not ours
    assert not [item for item in targets if item.pod in ("debug-shell", "web-6d4f8-bbbbb")]
    exporter = found[("127.0.0.2", 9100, None)]
    assert (exporter.source, exporter.workload_kind, exporter.workload_name) == (
        Source.HOST_NETWORK,
        "DaemonSet",
        "node-exporter",
    )
    # the ingress TLS hosts go through the controller pod on this node, each with its SNI
    ingress = {item.target.sni: item for item in targets if item.source == Source.INGRESS}
    assert set(ingress) == {"shop.example.com", "www.shop.example.com"}
    assert ingress["shop.example.com"].target.host == "127.0.0.16"
    assert (ingress["shop.example.com"].workload_kind, ingress["shop.example.com"].scope) == (
        "Ingress",
        "cde",
    )
    assert state.warnings == ()


def test_daemonset_mode_on_the_other_node(shop_api: KubeAPIServer, api_client) -> None:  # noqa: ANN001
    _, targets = discover(KubeReader(api_client), DiscoveryScope(node_name="node-b"))
    assert [(item.pod, item.target.host) for item in targets] == [("web-6d4f8-bbbbb", "127.0.0.12")]
    # the pod list was asked with a field selector, not filtered client-side
    assert any("fieldSelector=spec.nodeName%3Dnode-b" in path for _, path in shop_api.requests)


def test_cluster_mode_sees_everything_once(shop_api: KubeAPIServer, api_client) -> None:  # noqa: ANN001
    _, targets = discover(KubeReader(api_client), DiscoveryScope(mode="cluster"))
    pods = {item.pod for item in targets if item.source in (Source.POD, Source.HOST_NETWORK)}
    assert pods == {
        "web-6d4f8-aaaaa",
        "web-6d4f8-bbbbb",
        "payments-db-0",
        "payments-api",
        "node-exporter-a1b2c",
        "ingress-nginx-controller-5c9f7-zz9k1",
        "nightly-report-29100000-q8x4w",
    }
    assert len({item.key for item in targets}) == len(targets)


def test_malformed_objects_are_skipped_with_a_reason(shop_api: KubeAPIServer, api_client) -> None:  # noqa: ANN001
    """A pod or EndpointSlice whose port is no number is left out; the rest is planned."""
    shop_api.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "odd-0", "namespace": "shop"},
            "spec": {
                "nodeName": "node-a",
                "containers": [{"name": "app", "image": "x", "ports": [{"containerPort": "http"}]}],
            },
            "status": {"phase": "Running", "podIP": "10.0.0.99"},
        }
    )
    shop_api.apply(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "odd-abcde",
                "namespace": "shop",
                "labels": {"kubernetes.io/service-name": "web"},
            },
            "addressType": "IPv4",
            "ports": [{"name": "x", "port": "eighty", "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.0.0.98"]}],
        }
    )
    state, targets = discover(KubeReader(api_client), DiscoveryScope(mode="cluster"))
    pods = {item.pod for item in targets if item.source in (Source.POD, Source.HOST_NETWORK)}
    assert "odd-0" not in pods and {"web-6d4f8-aaaaa", "payments-db-0"} <= pods
    assert (
        "pod shop/odd-0 skipped: malformed manifest (ValueError: invalid literal for int() with base 10: '…')"
        in state.warnings
    )
    assert any(
        w.startswith("EndpointSlice shop/odd-abcde skipped: malformed manifest")
        for w in state.warnings
    )


def test_sidecar_mode_probes_its_own_pod_on_localhost(shop_api: KubeAPIServer, api_client) -> None:  # noqa: ANN001
    scope = DiscoveryScope(mode="sidecar", pod_name="web-6d4f8-bbbbb", pod_namespace="shop")
    _, targets = discover(KubeReader(api_client), scope)
    assert [
        (item.target.host, item.target.port, item.target.sni, item.source, item.workload_name)
        for item in targets
    ] == [("127.0.0.1", 8443, "web.shop.svc.cluster.local", Source.SIDECAR, "web")]
    excluded = DiscoveryScope(
        mode="sidecar",
        pod_name="web-6d4f8-bbbbb",
        pod_namespace="shop",
        sidecar_exclude_ports=(8443,),
    )
    assert discover(KubeReader(api_client), excluded)[1] == ()


def test_egress_targets_are_added(shop_api: KubeAPIServer, api_client) -> None:  # noqa: ANN001
    scope = DiscoveryScope(
        node_name="node-b",
        egress=(("payments.example.net", 443, None), ("10.9.8.7", 5432, "db.example.net")),
    )
    _, targets = discover(KubeReader(api_client), scope)
    egress = [
        (item.target.host, item.target.port, item.target.sni)
        for item in targets
        if item.source == Source.EGRESS
    ]
    assert egress == [
        ("payments.example.net", 443, "payments.example.net"),
        ("10.9.8.7", 5432, "db.example.net"),
    ]


def test_gateway_listeners_through_the_gateway_pods() -> None:
    with KubeAPIServer(gateway_api=True) as api:
        api.load_yaml(
            """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec:
  gatewayClassName: istio
  listeners:
    - {name: https, protocol: HTTPS, port: 8443, hostname: pay.example.com}
    - {name: http, protocol: HTTP, port: 8080}
---
apiVersion: v1
kind: Pod
metadata: {name: public-istio-abc, namespace: edge, labels: {gateway.networking.k8s.io/gateway-name: public}}
spec: {nodeName: n1, containers: [{name: istio-proxy, image: istio/proxyv2}]}
status: {podIP: 127.0.0.40}
"""
        )
        client = kubernetes.client.ApiClient(api.configuration())
        _, targets = discover(KubeReader(client), DiscoveryScope(node_name="n1"))
        gateway = [item for item in targets if item.source == Source.GATEWAY]
        assert [
            (item.target.host, item.target.port, item.target.sni, item.workload_name)
            for item in gateway
        ] == [("127.0.0.40", 8443, "pay.example.com", "public")]


def test_missing_permission_on_optional_kinds_degrades_to_a_warning(
    shop_api: KubeAPIServer, api_client
) -> None:  # noqa: ANN001
    shop_api.inject(r"/replicasets$", status=403)
    state, targets = discover(KubeReader(api_client), DiscoveryScope(node_name="node-a"))
    assert state.warnings and "replicasets" in state.warnings[0]
    web = [item for item in targets if item.pod == "web-6d4f8-aaaaa"][0]
    assert (web.workload_kind, web.workload_name) == (
        "ReplicaSet",
        "web-6d4f8",
    )  # never a guessed Deployment


def test_api_errors_are_reported_not_crashed(shop_api: KubeAPIServer, api_client) -> None:  # noqa: ANN001
    shop_api.inject(r"/pods$", status=500)
    with pytest.raises(DiscoveryError) as caught:
        discover(KubeReader(api_client), DiscoveryScope(node_name="node-a"))
    assert caught.value.status == 500 and "500" in str(caught.value)
    shop_api.inject(r"/services$", delay=2.0, status=None, times=None)  # every retry stalls too
    with pytest.raises(DiscoveryError) as timed_out:
        discover(KubeReader(api_client, timeout=0.5), DiscoveryScope(node_name="node-a"))
    assert "timed out" in str(timed_out.value).lower() or "timeout" in str(timed_out.value).lower()
    shop_api.clear_faults()
    # and the next attempt works
    assert discover(KubeReader(api_client), DiscoveryScope(node_name="node-a"))[1]
