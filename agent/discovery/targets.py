"""From manifests to targets: a pure function over a :class:`ClusterState`, no I/O.

DaemonSet and cluster mode: every TCP container port of every running pod in
the state (plus the ports its EndpointSlices name), mapped to the Service in
front of it, owner resolved, annotations applied; host-network pods once per
node address. Ingress TLS hosts through the controller's pods with the host as
SNI, Gateway listeners (and the hostnames of the HTTPRoutes/GRPCRoutes/TLSRoutes
attached to them) through the gateway's data-plane Service or pods. Sidecar mode: the
agent's own pod on localhost. Declared egress targets in every mode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any

from agent.discovery import gateway as gateway_api
from agent.discovery.model import (
    ANNOTATION_PORTS,
    ANNOTATION_PURPOSE,
    ANNOTATION_SCOPE,
    ANNOTATION_SKIP,
    ANNOTATION_SNI,
    ClusterState,
    DiscoveredTarget,
    DiscoveryScope,
    Manifest,
    Source,
    Workload,
)
from agent.errors import describe_error
from agent.tls.model import Target

#: Label of EndpointSlices naming their Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: Label Gateway API implementations (Istio, Envoy Gateway, ...) put on a gateway's pods.
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
#: How ingress controller Services are found when not configured.
INGRESS_CONTROLLER_SELECTOR = {"app.kubernetes.io/component": "controller"}

_TRUE = {"1", "true", "yes", "on"}


@dataclasses.dataclass(frozen=True, slots=True)
class ServicePort:
    """What an EndpointSlice says about one pod IP:port."""

    namespace: str
    service: str
    port_name: str
    app_protocol: str
    service_port: int


def _meta(obj: Manifest) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _annotations(obj: Manifest | None) -> Mapping[str, str]:
    return (_meta(obj).get("annotations") or {}) if obj else {}


def _skipped(obj: Manifest | None) -> bool:
    return str(_annotations(obj).get(ANNOTATION_SKIP, "")).strip().lower() in _TRUE


def _annotation(name: str, *objects: Manifest | None) -> str:
    """First non-empty annotation among objects (pod before service)."""
    for obj in objects:
        value = str(_annotations(obj).get(name, "")).strip()
        if value:
            return value
    return ""


def _controller(obj: Manifest) -> Workload | None:
    for owner in _meta(obj).get("ownerReferences") or []:
        if owner.get("controller", True):
            return Workload(str(owner.get("kind", "")), str(owner.get("name", "")))
    return None


#: What a malformed manifest raises while it is planned (a port that is no number, a list
#: where a mapping belongs): the object is skipped with a reason, the rest is planned.
MALFORMED = (ValueError, TypeError, KeyError, AttributeError, IndexError)


class OwnerIndex:
    """Pod → ReplicaSet → Deployment and Pod → Job → CronJob, from the listed ReplicaSets and Jobs."""

    def __init__(self, replica_sets: Iterable[Manifest], jobs: Iterable[Manifest]) -> None:
        self._parents: dict[tuple[str, str, str], Workload] = {}
        for kind, objects in (("ReplicaSet", replica_sets), ("Job", jobs)):
            for obj in objects:
                parent = _controller(obj)
                if parent is not None:
                    key = (
                        kind,
                        str(_meta(obj).get("namespace", "")),
                        str(_meta(obj).get("name", "")),
                    )
                    self._parents[key] = parent

    def workload(self, pod: Manifest) -> Workload:
        owner = _controller(pod)
        if owner is None:
            return Workload("Pod", str(_meta(pod).get("name", "")))
        namespace = str(_meta(pod).get("namespace", ""))
        # a ReplicaSet or Job that was not listed keeps its own name: never guess a parent
        return self._parents.get((owner.kind, namespace, owner.name), owner)


class ServiceIndex:
    """(pod IP, port) → Service facts, from EndpointSlices; services by namespace/name."""

    def __init__(self, services: Iterable[Manifest], endpoint_slices: Iterable[Manifest]) -> None:
        self.services: dict[tuple[str, str], Manifest] = {
            (str(_meta(svc).get("namespace", "")), str(_meta(svc).get("name", ""))): svc
            for svc in services
        }
        self.by_address: dict[tuple[str, int], ServicePort] = {}
        self.ports_by_ip: dict[str, set[int]] = {}
        #: EndpointSlices left out, and why (a malformed port).
        self.skipped: list[str] = []
        for endpoint_slice in endpoint_slices:
            try:
                self._add(endpoint_slice)
            except MALFORMED as exc:
                name = (
                    f"{_meta(endpoint_slice).get('namespace')}/{_meta(endpoint_slice).get('name')}"
                )
                self.skipped.append(
                    f"EndpointSlice {name} skipped: malformed manifest ({describe_error(exc)})"
                )

    def _add(self, endpoint_slice: Manifest) -> None:
        namespace = str(_meta(endpoint_slice).get("namespace", ""))
        service = str((_meta(endpoint_slice).get("labels") or {}).get(SERVICE_NAME_LABEL, ""))
        if not service:
            return
        service_ports = {
            str(port.get("name") or ""): int(port.get("port") or 0)
            for port in (self.services.get((namespace, service)) or {}).get("spec", {}).get("ports")
            or []
        }
        for port in endpoint_slice.get("ports") or []:
            if (port.get("protocol") or "TCP") != "TCP" or not port.get("port"):
                continue
            name = str(port.get("name") or "")
            facts = ServicePort(
                namespace,
                service,
                name,
                str(port.get("appProtocol") or ""),
                service_ports.get(name, int(port["port"])),
            )
            for endpoint in endpoint_slice.get("endpoints") or []:
                for address in endpoint.get("addresses") or []:
                    self.by_address.setdefault((address, int(port["port"])), facts)
                    self.ports_by_ip.setdefault(address, set()).add(int(port["port"]))

    def service(self, namespace: str, name: str) -> Manifest | None:
        return self.services.get((namespace, name))


def _container_ports(pod: Manifest) -> dict[int, str]:
    """TCP container ports (port → name) of all containers (init sidecars included)."""
    spec = pod.get("spec") or {}
    ports: dict[int, str] = {}
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for port in container.get("ports") or []:
            if (port.get("protocol") or "TCP") == "TCP" and port.get("containerPort"):
                ports.setdefault(int(port["containerPort"]), str(port.get("name") or ""))
    return ports


def _annotated_ports(pod: Manifest) -> tuple[int, ...] | None:
    text = _annotation(ANNOTATION_PORTS, pod)
    if not text:
        return None
    ports: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if part.isdigit() and 0 < int(part) < 65536:
            ports.append(int(part))
    return tuple(ports)


def _running(pod: Manifest) -> bool:
    status = pod.get("status") or {}
    return bool(status.get("podIP")) and status.get("phase", "Running") not in (
        "Succeeded",
        "Failed",
    )


def _pod_ip(pod: Manifest) -> str:
    return str((pod.get("status") or {}).get("podIP", ""))


def _pod_targets(
    pod: Manifest,
    *,
    host: str,
    source: str,
    owners: OwnerIndex,
    services: ServiceIndex,
    scope: DiscoveryScope,
    exclude: Iterable[int] = (),
) -> Iterator[DiscoveredTarget]:
    if _skipped(pod) or not _running(pod):
        return
    ip = _pod_ip(pod)
    namespace = str(_meta(pod).get("namespace", ""))
    named_ports = _container_ports(pod)
    annotated = _annotated_ports(pod)
    if annotated is not None:
        ports: Iterable[int] = annotated
    else:
        ports = sorted(set(named_ports) | services.ports_by_ip.get(ip, set()))
    workload = owners.workload(pod)
    excluded = set(exclude)
    for port in ports:
        if port in excluded:
            continue
        facts = services.by_address.get((ip, port))
        service = services.service(facts.namespace, facts.service) if facts else None
        if _skipped(service):
            continue
        sni = _annotation(ANNOTATION_SNI, pod, service) or (
            f"{facts.service}.{facts.namespace}.svc.{scope.cluster_domain}" if facts else ""
        )
        yield DiscoveredTarget(
            target=Target(host, port, sni or None, (facts.app_protocol if facts else "") or None),
            source=source,
            namespace=namespace,
            workload_kind=workload.kind,
            workload_name=workload.name,
            pod=str(_meta(pod).get("name", "")),
            node=str((pod.get("spec") or {}).get("nodeName", "")),
            service=facts.service if facts else "",
            port_name=(facts.port_name if facts else "") or named_ports.get(port, ""),
            app_protocol=facts.app_protocol if facts else "",
            purpose=_annotation(ANNOTATION_PURPOSE, pod, service),
            scope=_annotation(ANNOTATION_SCOPE, pod, service),
        )


def _ingress_controller_services(
    state: ClusterState, scope: DiscoveryScope, services: ServiceIndex
) -> list[Manifest]:
    if scope.ingress_service:
        namespace, _, name = scope.ingress_service.partition("/")
        found = services.service(namespace, name)
        return [found] if found else []
    return [
        svc
        for svc in state.services
        if all(
            (_meta(svc).get("labels") or {}).get(key) == value
            for key, value in INGRESS_CONTROLLER_SELECTOR.items()
        )
    ]


def _https_target_port(service: Manifest) -> tuple[str, int] | None:
    """(port name, service port) of the controller's HTTPS port: named https, else 443."""
    ports = (service.get("spec") or {}).get("ports") or []
    for port in ports:
        if port.get("name") == "https" or port.get("port") == 443:
            return str(port.get("name") or ""), int(port["port"])
    return None


def _ingress_targets(
    state: ClusterState,
    scope: DiscoveryScope,
    services: ServiceIndex,
    local_pods: Mapping[str, Manifest],
) -> Iterator[DiscoveredTarget]:
    """Each TLS host of each Ingress, through one controller pod (on this node in daemonset mode)."""
    hosts: list[tuple[Manifest, str]] = []
    for ingress in state.ingresses:
        if _skipped(ingress):
            continue
        for tls in (ingress.get("spec") or {}).get("tls") or []:
            for host in tls.get("hosts") or []:
                hosts.append((ingress, str(host)))
    if not hosts:
        return
    for controller in _ingress_controller_services(state, scope, services):
        https = _https_target_port(controller)
        if https is None:
            continue
        port_name, service_port = https
        ctl_namespace = str(_meta(controller).get("namespace", ""))
        ctl_name = str(_meta(controller).get("name", ""))
        # the controller's pods backing that service port, through the EndpointSlice facts
        backends = sorted(
            (ip, port)
            for (ip, port), facts in services.by_address.items()
            if facts.namespace == ctl_namespace
            and facts.service == ctl_name
            and facts.service_port == service_port
        )
        backends = (
            [(ip, port) for ip, port in backends if ip in local_pods]
            if scope.mode == "daemonset"
            else backends
        )
        if not backends:
            continue
        ip, port = backends[0]
        for ingress, host in hosts:
            yield DiscoveredTarget(
                target=Target(ip, port, host),
                source=Source.INGRESS,
                namespace=str(_meta(ingress).get("namespace", "")),
                workload_kind="Ingress",
                workload_name=str(_meta(ingress).get("name", "")),
                pod=str(_meta(local_pods[ip]).get("name", "")) if ip in local_pods else "",
                node=scope.node_name if scope.mode == "daemonset" else "",
                service=f"{ctl_namespace}/{ctl_name}",
                port_name=port_name,
                purpose=_annotation(ANNOTATION_PURPOSE, ingress),
                scope=_annotation(ANNOTATION_SCOPE, ingress),
                ingress=host,
            )


#: Labels that tie a data-plane Service or pod to its Gateway: the Gateway API's own (Istio,
#: kgateway, ...), and Envoy Gateway's pair (its Services live in the controller's namespace).
ENVOY_GATEWAY_NAME_LABEL = "gateway.envoyproxy.io/owning-gateway-name"
ENVOY_GATEWAY_NAMESPACE_LABEL = "gateway.envoyproxy.io/owning-gateway-namespace"


def _serves_gateway(obj: Manifest, namespace: str, name: str) -> bool:
    labels = _meta(obj).get("labels") or {}
    if labels.get(GATEWAY_NAME_LABEL) == name and _meta(obj).get("namespace") == namespace:
        return True
    return (
        labels.get(ENVOY_GATEWAY_NAME_LABEL) == name
        and labels.get(ENVOY_GATEWAY_NAMESPACE_LABEL) == namespace
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Backend:
    ip: str
    port: int
    pod: str
    service: str = ""  # namespace/name of the data-plane Service, when reached through one


def _slice_endpoints(
    endpoint_slices: Iterable[Manifest], namespace: str, service: str, port_name: str
) -> Iterator[tuple[str, int]]:
    """(address, port) of a Service port's endpoints (slice ports carry the Service port's name;
    two Service ports may target one container port, so this is not the by-address index)."""
    for endpoint_slice in endpoint_slices:
        labels = _meta(endpoint_slice).get("labels") or {}
        if _meta(endpoint_slice).get("namespace") != namespace:
            continue
        if labels.get(SERVICE_NAME_LABEL) != service:
            continue
        for port in endpoint_slice.get("ports") or []:
            if str(port.get("name") or "") != port_name or not port.get("port"):
                continue
            if (port.get("protocol") or "TCP") != "TCP":
                continue
            for endpoint in endpoint_slice.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready") is False:
                    continue
                for address in endpoint.get("addresses") or []:
                    yield str(address), int(port["port"])


def _gateway_backend(
    gateway: Manifest,
    listener_port: int,
    scope: DiscoveryScope,
    endpoint_slices: Iterable[Manifest],
    data_plane_services: list[Manifest],
    local_pods: Mapping[str, Manifest],
) -> _Backend | None:
    """Where one listener answers: the data-plane Service's endpoint (this node's, in daemonset
    mode), else a pod labelled with the gateway on the listener port, else (cluster mode) the
    gateway's status address."""
    namespace = str(_meta(gateway).get("namespace", ""))
    name = str(_meta(gateway).get("name", ""))
    for service in data_plane_services:
        svc_namespace = str(_meta(service).get("namespace", ""))
        svc_name = str(_meta(service).get("name", ""))
        ports = (service.get("spec") or {}).get("ports") or []
        port_names = [
            str(port.get("name") or "")
            for port in ports
            if int(port.get("port") or 0) == listener_port
        ]
        if not port_names:
            continue
        backends = sorted(
            (ip, port)
            for ip, port in _slice_endpoints(
                endpoint_slices, svc_namespace, svc_name, port_names[0]
            )
            if scope.mode != "daemonset" or ip in local_pods
        )
        if backends:
            ip, port = backends[0]
            pod_name = str(_meta(local_pods[ip]).get("name", "")) if ip in local_pods else ""
            return _Backend(ip, port, pod_name, f"{svc_namespace}/{svc_name}")
        return None  # the listener's Service has no endpoint here: another agent's, or none
    for ip in sorted(local_pods):
        pod = local_pods[ip]
        if _serves_gateway(pod, namespace, name):
            return _Backend(ip, listener_port, str(_meta(pod).get("name", "")))
    if scope.mode == "cluster":
        for address in (gateway.get("status") or {}).get("addresses") or []:
            if address.get("value"):
                return _Backend(str(address["value"]), listener_port, "")
    return None


def _gateway_targets(
    state: ClusterState,
    scope: DiscoveryScope,
    local_pods: Mapping[str, Manifest],
) -> Iterator[DiscoveredTarget]:
    """Each hostname of each HTTPS/TLS listener (its own, or its attached routes'), with that SNI,
    through the gateway's data plane."""
    if not state.gateways:
        return
    skipped_classes = {
        str(_meta(gateway_class).get("name", ""))
        for gateway_class in state.gateway_classes
        if _skipped(gateway_class)
    }
    routes = gateway_api.routes(state)
    namespace_labels = (
        {
            str(_meta(namespace).get("name", "")): _meta(namespace).get("labels") or {}
            for namespace in state.namespaces
        }
        if state.namespaces_read
        else None
    )
    for gateway in state.gateways:
        class_name = str((gateway.get("spec") or {}).get("gatewayClassName") or "")
        if _skipped(gateway) or class_name in skipped_classes:
            continue
        namespace = str(_meta(gateway).get("namespace", ""))
        name = str(_meta(gateway).get("name", ""))
        data_plane = [svc for svc in state.services if _serves_gateway(svc, namespace, name)]
        backends: dict[int, _Backend | None] = {}
        for host in gateway_api.listener_hosts(gateway, routes, namespace_labels, _skipped):
            port = host.listener.port
            if port not in backends:
                backends[port] = _gateway_backend(
                    gateway, port, scope, state.endpoint_slices, data_plane, local_pods
                )
            backend = backends[port]
            if backend is None:
                continue
            route = host.route
            yield DiscoveredTarget(
                target=Target(backend.ip, backend.port, host.sni),
                source=Source.GATEWAY,
                namespace=str(_meta(route).get("namespace", "")) if route else namespace,
                workload_kind=host.route_kind if route else "Gateway",
                workload_name=str(_meta(route).get("name", "")) if route else name,
                pod=backend.pod,
                node=scope.node_name if scope.mode == "daemonset" else "",
                service=backend.service or f"{namespace}/{name}",
                port_name=host.listener.name,
                purpose=_annotation(ANNOTATION_PURPOSE, route, gateway),
                scope=_annotation(ANNOTATION_SCOPE, route, gateway),
                ingress=host.hostname,
            )


def _egress_targets(scope: DiscoveryScope) -> Iterator[DiscoveredTarget]:
    for host, port, sni in scope.egress:
        yield DiscoveredTarget(
            target=Target(host, port, sni or (host if not _is_ip(host) else None)),
            source=Source.EGRESS,
            node=scope.node_name,
            purpose="egress",
        )


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _planned(
    what: str, plan: Callable[[], Iterable[DiscoveredTarget]], skipped: list[str]
) -> list[DiscoveredTarget]:
    """The targets ``plan`` yields, or none and a reason in ``skipped`` if its manifest is malformed."""
    try:
        return list(plan())
    except MALFORMED as exc:
        skipped.append(f"{what} skipped: malformed manifest ({describe_error(exc)})")
        return []


def _sidecar_targets(
    pod: Manifest, owners: OwnerIndex, services: ServiceIndex, scope: DiscoveryScope
) -> list[DiscoveredTarget]:
    """The sidecar's own pod: its ports on localhost, named and mapped through its IP."""
    return [
        dataclasses.replace(item, target=dataclasses.replace(item.target, host="127.0.0.1"))
        for item in _pod_targets(
            pod,
            host=_pod_ip(pod),
            source=Source.SIDECAR,
            owners=owners,
            services=services,
            scope=scope,
            exclude=scope.sidecar_exclude_ports,
        )
    ]


def _pod_name(pod: Manifest) -> str:
    return f"pod {_meta(pod).get('namespace')}/{_meta(pod).get('name')}"


def plan_targets(
    state: ClusterState, scope: DiscoveryScope, skipped: list[str] | None = None
) -> tuple[DiscoveredTarget, ...]:
    """Every target to probe, deduplicated by (host, port, SNI), in a stable order.

    A pod (or the Ingress/Gateway part) whose manifest cannot be planned is left out, and
    why is appended to ``skipped``; one odd object never costs the cycle.
    """
    skipped = [] if skipped is None else skipped
    owners = OwnerIndex(state.replica_sets, state.jobs)
    services = ServiceIndex(state.services, state.endpoint_slices)
    skipped += services.skipped
    found: list[DiscoveredTarget] = []
    if scope.mode == "sidecar":
        for pod in state.pods:
            if (
                _meta(pod).get("name") == scope.pod_name
                and _meta(pod).get("namespace") == scope.pod_namespace
            ):
                # the pod's own ports on localhost, named and mapped through its IP
                found += _planned(
                    _pod_name(pod), partial(_sidecar_targets, pod, owners, services, scope), skipped
                )
    else:
        in_scope = [
            pod
            for pod in state.pods
            if scope.mode == "cluster" or (pod.get("spec") or {}).get("nodeName") == scope.node_name
        ]
        for pod in sorted(
            in_scope, key=lambda p: (str(_meta(p).get("namespace")), str(_meta(p).get("name")))
        ):
            host_network = bool((pod.get("spec") or {}).get("hostNetwork"))
            found += _planned(
                _pod_name(pod),
                partial(
                    _pod_targets,
                    pod,
                    host=_pod_ip(pod),
                    source=Source.HOST_NETWORK if host_network else Source.POD,
                    owners=owners,
                    services=services,
                    scope=scope,
                ),
                skipped,
            )
        if scope.ingress:
            local = {_pod_ip(pod): pod for pod in in_scope if _running(pod)}
            found += _planned(
                "Ingress hosts", partial(_ingress_targets, state, scope, services, local), skipped
            )
            found += _planned(
                "Gateway hosts", partial(_gateway_targets, state, scope, local), skipped
            )
    found += _egress_targets(scope)
    unique: dict[tuple[str, int, str | None], DiscoveredTarget] = {}
    for item in found:
        # host-network pods share the node's address: the first (sorted) pod speaks for the port
        unique.setdefault(item.key, item)
    return tuple(unique.values())
