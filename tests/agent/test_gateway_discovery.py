"""Gateway API discovery: listeners plus the hostnames of attached HTTPRoutes/GRPCRoutes/TLSRoutes,
probed through the gateway's data plane with SNI, read by the real client from the lab API server."""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import kubernetes.client
import pytest
from kubernetes.client.exceptions import ApiException

from agent.discovery import DiscoveredTarget, DiscoveryScope, KubeReader, Source, discover
from agent.discovery.gateway import hostname_matches, intersect
from inspector.lab import pki
from inspector.lab.kube_api import GATEWAY_KINDS, KubeAPIServer
from inspector.lab.loopback import ThreadedServer

GATEWAY_CLUSTER = """
apiVersion: v1
kind: Namespace
metadata: {name: edge}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {shared-gateway-access: "true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: blog}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: public
  namespace: edge
  annotations: {cryptoscope.io/scope: cde}
spec:
  gatewayClassName: istio
  listeners:
    - name: https
      protocol: HTTPS
      port: 443
      hostname: "*.example.com"
      tls: {mode: Terminate, certificateRefs: [{name: wildcard-example}]}
      allowedRoutes:
        namespaces: {from: Selector, selector: {matchLabels: {shared-gateway-access: "true"}}}
    - name: pay
      protocol: HTTPS
      port: 8443
      hostname: pay.example.com
      tls: {mode: Terminate, certificateRefs: [{name: pay-example}]}
    - name: passthrough
      protocol: TLS
      port: 9443
      tls: {mode: Passthrough}
      allowedRoutes: {namespaces: {from: All}}
    - {name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}
status:
  addresses: [{type: IPAddress, value: 10.0.0.10}]
---
apiVersion: v1
kind: Service
metadata:
  name: public-istio
  namespace: edge
  labels: {gateway.networking.k8s.io/gateway-name: public}
spec:
  type: LoadBalancer
  selector: {gateway.networking.k8s.io/gateway-name: public}
  ports:
    - {name: https, port: 443, targetPort: ${PORT}, protocol: TCP}
    - {name: pay, port: 8443, targetPort: ${PORT}, protocol: TCP}
    - {name: passthrough, port: 9443, targetPort: ${TLS_PORT}, protocol: TCP}
    - {name: http, port: 80, targetPort: 8080, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: public-istio-x7k2p
  namespace: edge
  labels: {kubernetes.io/service-name: public-istio}
addressType: IPv4
ports:
  - {name: https, port: ${PORT}, protocol: TCP}
  - {name: pay, port: ${PORT}, protocol: TCP}
  - {name: passthrough, port: ${TLS_PORT}, protocol: TCP}
  - {name: http, port: 8080, protocol: TCP}
endpoints:
  - addresses: [${IP_A}]
    conditions: {ready: true}
    nodeName: n1
    targetRef: {kind: Pod, name: public-istio-6b9c-a, namespace: edge}
  - addresses: [${IP_B}]
    conditions: {ready: true}
    nodeName: n2
    targetRef: {kind: Pod, name: public-istio-6b9c-b, namespace: edge}
---
apiVersion: v1
kind: Pod
metadata:
  name: public-istio-6b9c-a
  namespace: edge
  labels: {gateway.networking.k8s.io/gateway-name: public}
spec: {nodeName: n1, containers: [{name: istio-proxy, image: istio/proxyv2}]}
status: {phase: Running, podIP: "${IP_A}"}
---
apiVersion: v1
kind: Pod
metadata:
  name: public-istio-6b9c-b
  namespace: edge
  labels: {gateway.networking.k8s.io/gateway-name: public}
spec: {nodeName: n2, containers: [{name: istio-proxy, image: istio/proxyv2}]}
status: {phase: Running, podIP: "${IP_B}"}
---
# attaches to the wildcard listener (shop is selected by label); one name is outside it
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: storefront
  namespace: shop
  annotations: {cryptoscope.io/purpose: storefront}
spec:
  parentRefs: [{name: public, namespace: edge, sectionName: https}]
  hostnames: [shop.example.com, www.shop.example.com, shop.example.org]
  rules: [{backendRefs: [{name: web, port: 8443}]}]
status:
  parents:
    - parentRef: {name: public, namespace: edge, sectionName: https}
      controllerName: istio.io/gateway-controller
      conditions: [{type: Accepted, status: "True", reason: Accepted}]
---
# blog is not selected by the wildcard listener, and pay admits its own namespace only
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: blog, namespace: blog}
spec:
  parentRefs: [{name: public, namespace: edge}]
  hostnames: [blog.example.com]
---
# a wildcard route on the exact listener: the listener's name is the one clients reach
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: pay, namespace: edge}
spec:
  parentRefs: [{name: public, port: 8443}]
  hostnames: ["*.example.com"]
---
# reported not Accepted by the gateway's controller
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: legacy, namespace: shop}
spec:
  parentRefs: [{name: public, namespace: edge, sectionName: https}]
  hostnames: [old.example.com]
status:
  parents:
    - parentRef: {name: public, namespace: edge, sectionName: https}
      controllerName: istio.io/gateway-controller
      conditions: [{type: Accepted, status: "False", reason: NotAllowedByListeners}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: internal
  namespace: shop
  annotations: {cryptoscope.io/skip: "true"}
spec:
  parentRefs: [{name: public, namespace: edge, sectionName: https}]
  hostnames: [internal.example.com]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: db, namespace: shop}
spec:
  parentRefs: [{name: public, namespace: edge, sectionName: passthrough}]
  hostnames: [db.shop.example.com]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
"""

HOSTNAMES = ("shop.example.com", "www.shop.example.com", "pay.example.com", "db.shop.example.com")

#: GRPCRoutes (v1), applied on top of GATEWAY_CLUSTER where a test is about them.
GRPC_ROUTES = """
# gRPC on the wildcard listener: an HTTPS listener admits GRPCRoutes by default
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: payments-api
  namespace: shop
  annotations: {cryptoscope.io/purpose: payments-api}
spec:
  parentRefs: [{name: public, namespace: edge, sectionName: https}]
  hostnames: [grpc.shop.example.com]
  rules:
    - matches: [{method: {service: pay.v1.Payments}}]
      backendRefs: [{name: payments, port: 50051}]
status:
  parents:
    - parentRef: {name: public, namespace: edge, sectionName: https}
      controllerName: istio.io/gateway-controller
      conditions: [{type: Accepted, status: "True", reason: Accepted}]
---
# a TLS (passthrough) listener admits TLSRoutes only: this one attaches nowhere
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: ledger-api, namespace: shop}
spec:
  parentRefs: [{name: public, namespace: edge, sectionName: passthrough}]
  hostnames: [ledger.shop.example.com]
"""

GRPC_HOSTNAME = "grpc.shop.example.com"


class SniDataPlane(ThreadedServer):
    """A gateway data plane: one TLS port that picks the certificate by SNI and records the SNI."""

    name = "sni-gateway"

    def __init__(self, host: str, hostnames: tuple[str, ...], workdir: Path) -> None:
        super().__init__(host)
        root = pki.make_ca("lab gateway CA")
        self.contexts: dict[str, ssl.SSLContext] = {}
        for index, hostname in enumerate((*hostnames, "default.invalid")):
            leaf = pki.make_leaf(root, common_name=hostname, dns_names=(hostname,))
            (workdir / f"{index}.crt").write_bytes(leaf.cert_pem)
            (workdir / f"{index}.key").write_bytes(leaf.key_pem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(workdir / f"{index}.crt", workdir / f"{index}.key")
            self.contexts[hostname] = context
        self.default = self.contexts["default.invalid"]
        self.default.sni_callback = self._select
        self.seen: list[str | None] = []

    def _select(self, sock: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        self.seen.append(server_name)
        if server_name in self.contexts:
            sock.context = self.contexts[server_name]

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            with self.default.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass


def served_name(target: DiscoveredTarget) -> str:
    """The CN of the certificate the data plane presents for the target's SNI (one real handshake)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((target.target.host, target.target.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=target.target.sni) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    from cryptography import x509

    return str(
        x509.load_der_x509_certificate(der)
        .subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0]
        .value
    )


@dataclasses.dataclass
class DataPlane:
    """The node-1 gateway pod: the HTTPS listeners' port and the TLS passthrough port."""

    https: SniDataPlane
    passthrough: SniDataPlane

    def variables(self) -> dict[str, object]:
        return {
            "PORT": self.https.port,
            "TLS_PORT": self.passthrough.port,
            "IP_A": self.https.host,
            "IP_B": "127.0.0.41",  # node n2's gateway pod: planned, never contacted
        }


@pytest.fixture
def data_plane() -> Iterator[DataPlane]:
    with tempfile.TemporaryDirectory(prefix="gateway-dp-") as directory:
        https_dir, tls_dir = Path(directory, "https"), Path(directory, "tls")
        https_dir.mkdir()
        tls_dir.mkdir()
        https = SniDataPlane("127.0.0.40", (*HOSTNAMES, GRPC_HOSTNAME), https_dir)
        passthrough = SniDataPlane("127.0.0.40", (*HOSTNAMES, GRPC_HOSTNAME), tls_dir)
        https.start()
        try:
            passthrough.start()
            yield DataPlane(https, passthrough)
        finally:
            passthrough.stop()
            https.stop()


def gateway_targets(targets: tuple[DiscoveredTarget, ...]) -> list[DiscoveredTarget]:
    return [item for item in targets if item.source == Source.GATEWAY]


def test_routes_expand_listener_hostnames_and_each_is_probed_with_its_sni(
    data_plane: DataPlane,
) -> None:
    with KubeAPIServer(gateway_api=True) as api:
        api.load_yaml(GATEWAY_CLUSTER, data_plane.variables())
        api.load_yaml(GRPC_ROUTES)
        client = kubernetes.client.ApiClient(api.configuration())
        try:
            state, targets = discover(
                KubeReader(client, page_size=1), DiscoveryScope(node_name="n1")
            )
        finally:
            client.close()
        found = {item.target.sni or "": item for item in gateway_targets(targets)}
        assert sorted(found) == sorted((*HOSTNAMES, GRPC_HOSTNAME))
        assert {(sni, item.target.host, item.target.port) for sni, item in found.items()} == {
            ("shop.example.com", "127.0.0.40", data_plane.https.port),
            ("www.shop.example.com", "127.0.0.40", data_plane.https.port),
            ("pay.example.com", "127.0.0.40", data_plane.https.port),
            ("grpc.shop.example.com", "127.0.0.40", data_plane.https.port),
            ("db.shop.example.com", "127.0.0.40", data_plane.passthrough.port),
        }
        shop = found["shop.example.com"]
        assert (shop.namespace, shop.workload_kind, shop.workload_name) == (
            "shop",
            "HTTPRoute",
            "storefront",
        )
        assert (shop.service, shop.port_name, shop.pod, shop.node) == (
            "edge/public-istio",
            "https",
            "public-istio-6b9c-a",
            "n1",
        )
        assert (shop.purpose, shop.scope, shop.ingress) == ("storefront", "cde", "shop.example.com")
        pay = found["pay.example.com"]
        assert (pay.workload_kind, pay.workload_name, pay.port_name) == ("HTTPRoute", "pay", "pay")
        grpc = found[GRPC_HOSTNAME]
        assert (grpc.namespace, grpc.workload_kind, grpc.workload_name, grpc.port_name) == (
            "shop",
            "GRPCRoute",
            "payments-api",
            "https",
        )
        assert (grpc.purpose, grpc.scope, grpc.ingress) == ("payments-api", "cde", GRPC_HOSTNAME)
        db = found["db.shop.example.com"]
        assert (db.workload_kind, db.workload_name, db.port_name) == (
            "TLSRoute",
            "db",
            "passthrough",
        )
        # every kind was listed in pages of one; the five HTTPRoutes took five requests,
        # each after the first carrying the previous page's continue token
        for plural in ("gatewayclasses", "gateways", "httproutes", "grpcroutes", "tlsroutes"):
            assert any(f"/{plural}?limit=1" in path for _, path in api.requests), plural
        route_pages = [path for _, path in api.requests if "/httproutes?" in path]
        assert len(route_pages) == 5
        assert all("continue=" in path for path in route_pages[1:])
        grpc_pages = [path for _, path in api.requests if "/grpcroutes?" in path]
        assert len(grpc_pages) == 2 and "continue=" in grpc_pages[1]
        assert len(state.http_routes) == 5 and len(state.tls_routes) == 1
        assert [route["metadata"]["name"] for route in state.grpc_routes] == [
            "ledger-api",
            "payments-api",
        ]
        assert state.warnings == ()

    # the planned targets reach a real SNI-routing data plane: each SNI gets its own certificate
    for hostname, item in found.items():
        assert served_name(item) == hostname
    assert set(data_plane.https.seen) == {*HOSTNAMES, GRPC_HOSTNAME} - {"db.shop.example.com"}
    assert data_plane.passthrough.seen == ["db.shop.example.com"]


def test_each_node_probes_its_own_gateway_pod_and_cluster_mode_probes_once(
    data_plane: DataPlane,
) -> None:
    with KubeAPIServer(gateway_api=True) as api:
        api.load_yaml(GATEWAY_CLUSTER, data_plane.variables())
        client = kubernetes.client.ApiClient(api.configuration())
        try:
            _, on_n2 = discover(KubeReader(client), DiscoveryScope(node_name="n2"))
            _, on_n3 = discover(KubeReader(client), DiscoveryScope(node_name="n3"))
            _, cluster = discover(KubeReader(client), DiscoveryScope(mode="cluster"))
        finally:
            client.close()
    assert {(item.target.host, item.target.sni) for item in gateway_targets(on_n2)} == {
        ("127.0.0.41", hostname) for hostname in HOSTNAMES
    }
    assert gateway_targets(on_n3) == []  # no gateway pod on that node: another agent's work
    # cluster mode: one of the gateway's endpoints, once per hostname
    assert sorted(item.target.sni or "" for item in gateway_targets(cluster)) == sorted(HOSTNAMES)
    assert {item.target.host for item in gateway_targets(cluster)} == {"127.0.0.40"}


def test_a_cluster_without_the_gateway_api_has_no_gateways(
    shop_api: KubeAPIServer, api_client: kubernetes.client.ApiClient
) -> None:
    with pytest.raises(ApiException) as missing:
        kubernetes.client.CustomObjectsApi(api_client).list_cluster_custom_object(
            "gateway.networking.k8s.io", "v1", "gateways"
        )
    body = json.loads(missing.value.body or "{}")
    assert (missing.value.status, body["kind"], body["reason"]) == (404, "Status", "NotFound")
    state, targets = discover(KubeReader(api_client), DiscoveryScope(mode="cluster"))
    assert state.warnings == () and state.gateways == () and gateway_targets(targets) == []
    # no Gateway, so nothing that attaches to one is asked for
    assert not [
        path
        for _, path in shop_api.requests
        if any(plural in path for plural in ("httproutes", "grpcroutes", "tlsroutes"))
    ]


def test_a_cluster_without_the_grpcroute_crd_reads_the_other_routes() -> None:
    """Gateway API CRDs installed without GRPCRoute (it joined the standard channel in v1.1)."""
    with KubeAPIServer() as api:
        for kind in GATEWAY_KINDS:
            if kind.kind != "GRPCRoute":
                api.register_kind(kind)
        api.load_yaml(
            GATEWAY_CLUSTER,
            {"PORT": 10443, "TLS_PORT": 19443, "IP_A": "127.0.0.40", "IP_B": "127.0.0.41"},
        )
        client = kubernetes.client.ApiClient(api.configuration())
        try:
            with pytest.raises(ApiException) as missing:
                kubernetes.client.CustomObjectsApi(client).list_cluster_custom_object(
                    "gateway.networking.k8s.io", "v1", "grpcroutes"
                )
            state, targets = discover(KubeReader(client), DiscoveryScope(mode="cluster"))
        finally:
            client.close()
        assert any("/grpcroutes?" in path for _, path in api.requests)
    body = json.loads(missing.value.body or "{}")
    assert (missing.value.status, body["reason"]) == (404, "NotFound")
    assert state.warnings == () and state.grpc_routes == ()
    assert sorted(item.target.sni or "" for item in gateway_targets(targets)) == sorted(HOSTNAMES)


#: What the agent may not read in the RBAC test (the chart grants them; a narrower role may not).
UNGRANTED = {"httproutes", "grpcroutes", "tlsroutes", "namespaces"}


def test_unreadable_routes_degrade_to_a_warning_and_listener_hostnames(
    data_plane: DataPlane,
) -> None:
    with KubeAPIServer(gateway_api=True, authorize=True) as api:
        api.load_yaml(GATEWAY_CLUSTER, data_plane.variables())
        api.load_yaml(GRPC_ROUTES)
        api.add_token("agent-token", "system:serviceaccount:cryptoscope:cryptoscope-agent")
        user = "system:serviceaccount:cryptoscope:cryptoscope-agent"
        for group, resource in (
            ("", "pods"),
            ("", "services"),
            ("discovery.k8s.io", "endpointslices"),
            ("apps", "replicasets"),
            ("batch", "jobs"),
            ("networking.k8s.io", "ingresses"),
            ("gateway.networking.k8s.io", "gateways"),
            ("gateway.networking.k8s.io", "gatewayclasses"),
        ):
            for verb in ("get", "list", "watch"):
                api.grant(user, verb, resource, group=group)
        client = kubernetes.client.ApiClient(api.configuration(token="agent-token"))
        try:
            with pytest.raises(ApiException) as forbidden:
                kubernetes.client.CustomObjectsApi(client).list_cluster_custom_object(
                    "gateway.networking.k8s.io", "v1", "httproutes"
                )
            state, targets = discover(KubeReader(client), DiscoveryScope(node_name="n1"))
        finally:
            client.close()
    status = json.loads(forbidden.value.body or "{}")
    assert (forbidden.value.status, status["reason"]) == (403, "Forbidden")
    assert status["message"] == (
        'httproutes.gateway.networking.k8s.io is forbidden: User "'
        + user
        + '" cannot list resource "httproutes" in API group "gateway.networking.k8s.io"'
        " at the cluster scope"
    )
    assert {warning.split(" ")[0] for warning in state.warnings} == UNGRANTED
    assert all("403" in warning for warning in state.warnings)
    # without routes: each listener's own name (the wildcard one without SNI)
    assert sorted(
        (item.port_name, item.target.sni, item.ingress, item.workload_kind, item.scope)
        for item in gateway_targets(targets)
    ) == [
        ("https", None, "*.example.com", "Gateway", "cde"),
        ("passthrough", None, "", "Gateway", "cde"),
        ("pay", "pay.example.com", "pay.example.com", "Gateway", "cde"),
    ]


@pytest.mark.parametrize(
    ("listener", "route", "expected"),
    [
        # the Gateway API specification's examples (HTTPRoute spec.hostnames, Listener hostname)
        ("*.example.com", "test.example.com", "test.example.com"),
        ("*.example.com", "foo.test.example.com", "foo.test.example.com"),
        ("*.example.com", "example.com", None),
        ("*.example.com", "*.example.com", "*.example.com"),
        ("*.example.com", "*.foo.example.com", "*.foo.example.com"),
        ("foo.example.com", "*.example.com", "foo.example.com"),
        ("foo.example.com", "bar.example.com", None),
        ("foo.example.com", "FOO.example.com", "FOO.example.com"),
        (None, "anything.example.net", "anything.example.net"),
        ("*.foo.example.com", "*.example.com", "*.foo.example.com"),
    ],
)
def test_hostname_intersection(listener: str | None, route: str, expected: str | None) -> None:
    assert intersect(listener, route) == expected


def test_wildcards_never_match_the_bare_domain() -> None:
    assert hostname_matches("*.example.com", "a.example.com")
    assert not hostname_matches("*.example.com", "example.com")
    assert not hostname_matches("*.example.com", "aexample.com")
