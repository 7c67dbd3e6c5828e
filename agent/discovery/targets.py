"""From manifests to targets: a pure function over a :class:`ClusterState`, no I/O.

DaemonSet and cluster mode: every TCP container port of every running pod in
the state (plus the ports its EndpointSlices name), mapped to the Service in
front of it, owner resolved, annotations applied; host-network pods once per
node address. Ingress TLS hosts through the controller's pods with the host as
SNI, Gateway listeners through the gateway's pods. Sidecar mode: the agent's
own pod on localhost. Declared egress targets in every mode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

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
from agent.tls.model import Target

#: Label of EndpointSlices naming their Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: Label Gateway API implementations (Istio, Envoy Gateway, ...) put on a gateway's pods.
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
#: How ingress controller Services are found when not configured.
INGRESS_CONTROLLER_SELECTOR = {"app.kubernetes.io/component": "controller"}

_TRUE = {"1", "true", "yes", "on"}
_TLS_LISTENER_PROTOCOLS = {"HTTPS", "TLS"}


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
        for endpoint_slice in endpoint_slices:
            namespace = str(_meta(endpoint_slice).get("namespace", ""))
            service = str((_meta(endpoint_slice).get("labels") or {}).get(SERVICE_NAME_LABEL, ""))
            if not service:
                continue
            service_ports = {
                str(port.get("name") or ""): int(port.get("port") or 0)
                for port in (self.services.get((namespace, service)) or {})
                .get("spec", {})
                .get("ports")
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


def _gateway_pods(pods: Iterable[Manifest]) -> dict[tuple[str, str], list[Manifest]]:
    """(namespace, gateway name) → the pods labelled as serving that Gateway."""
    gateway_pods: dict[tuple[str, str], list[Manifest]] = {}
    for pod in pods:
        gateway_name = (_meta(pod).get("labels") or {}).get(GATEWAY_NAME_LABEL)
        if gateway_name:
            gateway_pods.setdefault(
                (str(_meta(pod).get("namespace", "")), str(gateway_name)), []
            ).append(pod)
    return gateway_pods


def _gateway_targets(
    state: ClusterState,
    scope: DiscoveryScope,
    gateway_pods: Mapping[tuple[str, str], list[Manifest]],
) -> Iterator[DiscoveredTarget]:
    """HTTPS/TLS listeners with a hostname: through the gateway's pods, else (cluster mode) its addresses."""
    for gateway in state.gateways:
        if _skipped(gateway):
            continue
        namespace = str(_meta(gateway).get("namespace", ""))
        name = str(_meta(gateway).get("name", ""))
        pods = gateway_pods.get((namespace, name), [])
        addresses = [(_pod_ip(pod), str(_meta(pod).get("name", ""))) for pod in pods]
        if not addresses and scope.mode == "cluster":
            addresses = [
                (str(address.get("value")), "")
                for address in (gateway.get("status") or {}).get("addresses") or []
                if address.get("value")
            ]
        if not addresses:
            continue
        ip, pod_name = addresses[0]
        for listener in (gateway.get("spec") or {}).get("listeners") or []:
            if str(
                listener.get("protocol", "")
            ).upper() not in _TLS_LISTENER_PROTOCOLS or not listener.get("port"):
                continue
            hostname = str(listener.get("hostname") or "")
            yield DiscoveredTarget(
                target=Target(ip, int(listener["port"]), hostname or None),
                source=Source.GATEWAY,
                namespace=namespace,
                workload_kind="Gateway",
                workload_name=name,
                pod=pod_name,
                node=scope.node_name if scope.mode == "daemonset" else "",
                port_name=str(listener.get("name") or ""),
                purpose=_annotation(ANNOTATION_PURPOSE, gateway),
                scope=_annotation(ANNOTATION_SCOPE, gateway),
                ingress=hostname,
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


def plan_targets(state: ClusterState, scope: DiscoveryScope) -> tuple[DiscoveredTarget, ...]:
    """Every target to probe, deduplicated by (host, port, SNI), in a stable order."""
    owners = OwnerIndex(state.replica_sets, state.jobs)
    services = ServiceIndex(state.services, state.endpoint_slices)
    found: list[DiscoveredTarget] = []
    if scope.mode == "sidecar":
        for pod in state.pods:
            if (
                _meta(pod).get("name") == scope.pod_name
                and _meta(pod).get("namespace") == scope.pod_namespace
            ):
                # the pod's own ports on localhost, named and mapped through its IP
                found += [
                    dataclasses.replace(
                        item, target=dataclasses.replace(item.target, host="127.0.0.1")
                    )
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
            found += _pod_targets(
                pod,
                host=_pod_ip(pod),
                source=Source.HOST_NETWORK if host_network else Source.POD,
                owners=owners,
                services=services,
                scope=scope,
            )
        if scope.ingress:
            local = {_pod_ip(pod): pod for pod in in_scope if _running(pod)}
            found += _ingress_targets(state, scope, services, local)
            found += _gateway_targets(state, scope, _gateway_pods(local.values()))
    found += _egress_targets(scope)
    unique: dict[tuple[str, int, str | None], DiscoveredTarget] = {}
    for item in found:
        # host-network pods share the node's address: the first (sorted) pod speaks for the port
        unique.setdefault(item.key, item)
    return tuple(unique.values())
