"""What discovery produces: targets with their Kubernetes identity (frozen dataclasses)."""

from __future__ import annotations

import dataclasses
from typing import Any

from agent.tls.model import Target

Manifest = dict[str, Any]

#: Annotations an application team can set on pods or services.
ANNOTATION_PREFIX = "cryptoscope.io/"
ANNOTATION_SKIP = ANNOTATION_PREFIX + "skip"
ANNOTATION_PORTS = ANNOTATION_PREFIX + "ports"
ANNOTATION_SNI = ANNOTATION_PREFIX + "sni"
ANNOTATION_PURPOSE = ANNOTATION_PREFIX + "purpose"
ANNOTATION_SCOPE = ANNOTATION_PREFIX + "scope"


class Source:
    """Why a target is probed (the `source` field)."""

    POD = "pod"
    HOST_NETWORK = "host-network"
    INGRESS = "ingress"
    GATEWAY = "gateway"
    EGRESS = "egress"
    SIDECAR = "sidecar"


@dataclasses.dataclass(frozen=True, slots=True)
class Workload:
    """The controller that owns a pod, resolved through owner references (or the pod itself)."""

    kind: str
    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class DiscoveredTarget:
    """One endpoint to probe, with who it belongs to in the cluster."""

    target: Target
    source: str
    namespace: str = ""
    workload_kind: str = ""
    workload_name: str = ""
    pod: str = ""
    node: str = ""
    service: str = ""
    port_name: str = ""
    app_protocol: str = ""
    purpose: str = ""
    scope: str = ""
    #: The Ingress or Gateway host this target stands for, when source is ingress/gateway
    #: (a Gateway listener's wildcard pattern, probed without SNI, is kept here as declared).
    ingress: str = ""

    @property
    def key(self) -> tuple[str, int, str | None]:
        return (self.target.host, self.target.port, self.target.sni)


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterState:
    """The raw manifests discovery reads in one pass (plain JSON dicts, as the API returned them)."""

    pods: tuple[Manifest, ...] = ()
    services: tuple[Manifest, ...] = ()
    endpoint_slices: tuple[Manifest, ...] = ()
    replica_sets: tuple[Manifest, ...] = ()
    jobs: tuple[Manifest, ...] = ()
    ingresses: tuple[Manifest, ...] = ()
    gateways: tuple[Manifest, ...] = ()
    gateway_classes: tuple[Manifest, ...] = ()
    http_routes: tuple[Manifest, ...] = ()
    tls_routes: tuple[Manifest, ...] = ()
    grpc_routes: tuple[Manifest, ...] = ()
    #: Read only when a Gateway exists (listeners may admit routes by namespace labels).
    namespaces: tuple[Manifest, ...] = ()
    #: False when the namespaces were needed but could not be read.
    namespaces_read: bool = True
    #: Optional kinds that could not be read (e.g. 403), one line each; discovery goes on without them.
    warnings: tuple[str, ...] = ()
    resource_version: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class DiscoveryScope:
    """Where to look, from the agent's settings."""

    mode: str = "daemonset"  # daemonset | sidecar | cluster
    node_name: str = ""
    pod_name: str = ""
    pod_namespace: str = ""
    cluster_domain: str = "cluster.local"
    ingress: bool = True
    #: "namespace/name" of the ingress controller Service; empty: auto-detect by label.
    ingress_service: str = ""
    egress: tuple[tuple[str, int, str | None], ...] = ()
    sidecar_exclude_ports: tuple[int, ...] = ()
