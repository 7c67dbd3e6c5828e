"""The fictional cluster as Kubernetes objects (plain dicts, as a YAML manifest would load).

Ports are only known once the loopback servers listen, and mounted versions
once the Key Vault is filled, so the manifests are rendered at run time from
:mod:`inspector.demo.cluster` plus those facts (:class:`Placement`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from inspector.demo.cluster import (
    CSI_DRIVER_ARGS,
    CSI_DRIVER_CONTAINER,
    CSI_DRIVER_DAEMONSET,
    CSI_DRIVER_IMAGE,
    CSI_DRIVER_NAMESPACE,
    GATEWAYS,
    NAMESPACES,
    NODE_IDENTITY_CLIENT_ID,
    NODE_NAME,
    TENANT_ID,
    VAULT_NAME,
    WORKLOAD_CLIENT_ID,
    Gateway,
    Identity,
    Mount,
    Workload,
)

Obj = dict[str, Any]

ANNOTATION_PREFIX = "cryptoscope.io/"
SPC_API = "secrets-store.csi.x-k8s.io/v1"
CSI_DRIVER = "secrets-store.csi.k8s.io"
SPCPS_NODE_LABEL = "internal.secrets-store.csi.k8s.io/node-name"
GATEWAY_API = "gateway.networking.k8s.io/v1"


@dataclasses.dataclass(frozen=True, slots=True)
class Placement:
    """Run-time facts the manifests need."""

    #: (namespace, workload, port name) -> the port its loopback server really listens on.
    ports: Mapping[tuple[str, str, str], int]
    #: (vault object name) -> the version id the pod mounts.
    mounted_versions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: (vault object name) -> the version its SecretProviderClass pins (``objectVersion``).
    pinned_versions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: The kubelet pods directory the demo lays mounts out in.
    kubelet_pods_dir: Path = Path("/var/lib/kubelet/pods")


def pod_name(item: Workload) -> str:
    if item.kind == "StatefulSet":
        return f"{item.name}-0"
    suffix = hashlib.sha256(f"{item.namespace}/{item.name}".encode()).hexdigest()
    return f"{item.name}-{suffix[:10]}-{suffix[10:15]}"


def pod_uid(item: Workload) -> str:
    return str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"cryptoscope-demo/{item.namespace}/{pod_name(item)}")
    )


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "cryptoscope-demo/" + "/".join(parts)))


def mount_target(item: Workload, mount: Mount, kubelet_pods_dir: Path) -> Path:
    """Where the kubelet puts a CSI volume: ``<root>/<pod-uid>/volumes/kubernetes.io~csi/<volume>/mount``."""
    return (
        kubelet_pods_dir / pod_uid(item) / "volumes" / "kubernetes.io~csi" / mount.volume / "mount"
    )


def _labels(item: Workload) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": item.name,
        "app.kubernetes.io/part-of": "cryptoscope-demo",
        **dict(item.labels),
    }


def _annotations(item: Workload, scope: str) -> dict[str, str]:
    return {ANNOTATION_PREFIX + "purpose": item.purpose, ANNOTATION_PREFIX + "scope": scope}


def _scope(namespace: str) -> str:
    return next(ns.scope for ns in NAMESPACES if ns.name == namespace)


def _owner(kind: str, api_version: str, name: str, uid: str) -> Obj:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True}


def _owner_chain(item: Workload) -> tuple[list[Obj], list[Obj]]:
    """(the controller objects, the pod's ownerReferences)."""
    ns = item.namespace
    spec = {"selector": {"matchLabels": _labels(item)}}
    top: Obj = {
        "apiVersion": "batch/v1" if item.kind == "CronJob" else "apps/v1",
        "kind": item.kind,
        "metadata": {
            "name": item.name,
            "namespace": ns,
            "uid": _uid(ns, item.kind, item.name),
            "labels": _labels(item),
        },
        "spec": spec,
    }
    if item.kind == "Deployment":
        rs_name = pod_name(item).rsplit("-", 1)[0]
        rs_uid = _uid(ns, "ReplicaSet", rs_name)
        replicaset: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": ns,
                "uid": rs_uid,
                "labels": _labels(item),
                "ownerReferences": [
                    _owner("Deployment", "apps/v1", item.name, top["metadata"]["uid"])
                ],
            },
            "spec": spec,
        }
        return [top, replicaset], [_owner("ReplicaSet", "apps/v1", rs_name, rs_uid)]
    return [top], [_owner(item.kind, top["apiVersion"], item.name, top["metadata"]["uid"])]


def _pod(item: Workload, placement: Placement, owners: list[Obj]) -> Obj:
    ports = [
        {
            "name": port.name,
            "containerPort": placement.ports[(item.namespace, item.name, port.name)],
            "protocol": "TCP",
        }
        for port in item.ports
        if (item.namespace, item.name, port.name) in placement.ports
    ]
    volumes: list[Obj] = []
    mounts: list[Obj] = []
    for mount in item.mounts:
        csi: Obj = {
            "driver": CSI_DRIVER,
            "readOnly": True,
            "volumeAttributes": {"secretProviderClass": mount.spc_name},
        }
        if mount.identity is Identity.SERVICE_PRINCIPAL:
            csi["nodePublishSecretRef"] = {"name": f"{mount.spc_name}-sp-creds"}
        volumes.append({"name": mount.volume, "csi": csi})
        mounts.append(
            {"name": mount.volume, "mountPath": f"/mnt/secrets/{mount.volume}", "readOnly": True}
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(item),
            "namespace": item.namespace,
            "uid": pod_uid(item),
            "labels": _labels(item),
            "annotations": _annotations(item, _scope(item.namespace)),
            "ownerReferences": owners,
        },
        "spec": {
            "nodeName": NODE_NAME,
            "serviceAccountName": item.name,
            "containers": [
                {
                    "name": item.name,
                    "image": f"demo.invalid/{item.name}:1.0",
                    "ports": ports,
                    "volumeMounts": mounts,
                }
            ],
            "volumes": volumes,
        },
        "status": {
            "phase": "Running",
            "podIP": item.pod_ip,
            "podIPs": [{"ip": item.pod_ip}],
            "hostIP": "127.0.0.1",
        },
    }


def _service_and_slice(item: Workload, placement: Placement) -> list[Obj]:
    ports = [
        (port, placement.ports[(item.namespace, item.name, port.name)])
        for port in item.ports
        if (item.namespace, item.name, port.name) in placement.ports
    ]
    if not ports:
        return []
    service: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": item.service_name,
            "namespace": item.namespace,
            "labels": _labels(item),
            "annotations": _annotations(item, _scope(item.namespace)),
        },
        "spec": {
            "selector": _labels(item),
            "ports": [
                {
                    "name": port.name,
                    "port": port.container_port,
                    "targetPort": real,
                    "protocol": "TCP",
                    **({"appProtocol": port.app_protocol} if port.app_protocol else {}),
                }
                for port, real in ports
            ],
        },
    }
    endpoint_slice: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{item.service_name}-demo",
            "namespace": item.namespace,
            "labels": {"kubernetes.io/service-name": item.service_name},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [item.pod_ip],
                "conditions": {"ready": True},
                "nodeName": NODE_NAME,
                "targetRef": {
                    "kind": "Pod",
                    "name": pod_name(item),
                    "namespace": item.namespace,
                    "uid": pod_uid(item),
                },
            }
        ],
        "ports": [
            {
                "name": port.name,
                "port": real,
                "protocol": "TCP",
                **({"appProtocol": port.app_protocol} if port.app_protocol else {}),
            }
            for port, real in ports
        ],
    }
    return [service, endpoint_slice]


def _identity_parameters(mount: Mount) -> dict[str, str]:
    if mount.identity is Identity.WORKLOAD:
        return {"clientID": WORKLOAD_CLIENT_ID}
    if mount.identity is Identity.NODE_MANAGED:
        return {"useVMManagedIdentity": "true", "userAssignedIdentityID": NODE_IDENTITY_CLIENT_ID}
    if mount.identity is Identity.POD_IDENTITY:
        return {"usePodIdentity": "true"}
    return {}  # service principal: nodePublishSecretRef on the pod's volume


def _objects_yaml(mount: Mount, placement: Placement) -> str:
    entries = []
    for obj in mount.objects:
        entry: dict[str, str] = {"objectName": obj.name, "objectType": obj.object_type}
        if obj.name in placement.pinned_versions:
            entry["objectVersion"] = placement.pinned_versions[obj.name]
        if obj.alias:
            entry["objectAlias"] = obj.alias
        if obj.file_permission:
            entry["filePermission"] = obj.file_permission
        entries.append(yaml.safe_dump(entry, sort_keys=False))
    return yaml.safe_dump({"array": entries}, sort_keys=False)


def _spc(item: Workload, mount: Mount, placement: Placement) -> list[Obj]:
    spec: Obj = {
        "provider": "azure",
        "parameters": {
            "keyvaultName": VAULT_NAME,
            "tenantID": TENANT_ID,
            **_identity_parameters(mount),
            "objects": _objects_yaml(mount, placement),
        },
    }
    synced = [obj for obj in mount.objects if obj.sync_secret_type]
    if synced:
        spec["secretObjects"] = [
            {
                "secretName": f"{obj.name}-synced",
                "type": obj.sync_secret_type,
                "data": [
                    {"objectName": obj.alias or obj.name, "key": "tls.key"},
                    {"objectName": obj.alias or obj.name, "key": "tls.crt"},
                ],
            }
            for obj in synced
        ]
    objects: list[Obj] = [
        {
            "apiVersion": SPC_API,
            "kind": "SecretProviderClass",
            "metadata": {"name": mount.spc_name, "namespace": item.namespace},
            "spec": spec,
        },
        {
            "apiVersion": SPC_API,
            "kind": "SecretProviderClassPodStatus",
            "metadata": {
                "name": f"{pod_name(item)}-{item.namespace}-{mount.spc_name}",
                "namespace": item.namespace,
                "labels": {SPCPS_NODE_LABEL: NODE_NAME},
                "ownerReferences": [_owner("Pod", "v1", pod_name(item), pod_uid(item))],
            },
            "status": {
                "podName": pod_name(item),
                "secretProviderClassName": mount.spc_name,
                "mounted": True,
                "targetPath": str(mount_target(item, mount, placement.kubelet_pods_dir)),
                "objects": sorted(
                    (
                        {
                            "id": f"{obj.object_type}/{obj.name}",
                            "version": placement.mounted_versions.get(obj.name, ""),
                        }
                        for obj in mount.objects
                    ),
                    key=lambda entry: entry["id"],
                ),
            },
        },
    ]
    if mount.identity is Identity.SERVICE_PRINCIPAL:
        # Only the Secret's shape: the demo never puts a real credential anywhere.
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": f"{mount.spc_name}-sp-creds",
                    "namespace": item.namespace,
                    "labels": {"secrets-store.csi.k8s.io/used": "true"},
                },
                "type": "Opaque",
                "data": {
                    "clientid": "ZGVtby1jbGllbnQ=",
                    "clientsecret": "ZGVtby1ub3QtYS1zZWNyZXQ=",
                },
            }
        )
    for obj in synced:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": f"{obj.name}-synced",
                    "namespace": item.namespace,
                    "labels": {"secrets-store.csi.k8s.io/managed": "true"},
                    "ownerReferences": [_owner("Pod", "v1", pod_name(item), pod_uid(item))],
                },
                "type": obj.sync_secret_type,
                "data": {"tls.crt": "", "tls.key": ""},
            }
        )
    return objects


def namespace_objects() -> list[Obj]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns.name,
                "labels": {"kubernetes.io/metadata.name": ns.name},
                "annotations": {ANNOTATION_PREFIX + "scope": ns.scope},
            },
        }
        for ns in NAMESPACES
    ]


def csi_driver_objects() -> list[Obj]:
    """kube-system and the Secrets Store CSI driver's DaemonSet as the AKS add-on deploys it."""
    labels = {"app": "secrets-store-csi-driver", "kubernetes.azure.com/managedby": "aks"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": CSI_DRIVER_NAMESPACE,
                "labels": {"kubernetes.io/metadata.name": CSI_DRIVER_NAMESPACE},
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {
                "name": CSI_DRIVER_DAEMONSET,
                "namespace": CSI_DRIVER_NAMESPACE,
                "uid": _uid(CSI_DRIVER_NAMESPACE, "DaemonSet", CSI_DRIVER_DAEMONSET),
                "labels": labels,
            },
            "spec": {
                "selector": {"matchLabels": {"app": "secrets-store-csi-driver"}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": CSI_DRIVER_DAEMONSET,
                        "containers": [
                            {
                                "name": "node-driver-registrar",
                                "image": "mcr.microsoft.com/oss/kubernetes-csi/csi-node-driver-registrar:v2.13.0",
                                "args": [
                                    "--v=2",
                                    "--csi-address=/csi/csi.sock",
                                    "--kubelet-registration-path=/var/lib/kubelet/plugins/csi-secrets-store/csi.sock",
                                ],
                            },
                            {
                                "name": CSI_DRIVER_CONTAINER,
                                "image": CSI_DRIVER_IMAGE,
                                "args": list(CSI_DRIVER_ARGS),
                                "env": [
                                    {"name": "CSI_ENDPOINT", "value": "unix:///csi/csi.sock"},
                                    {
                                        "name": "KUBE_NODE_NAME",
                                        "valueFrom": {
                                            "fieldRef": {
                                                "apiVersion": "v1",
                                                "fieldPath": "spec.nodeName",
                                            }
                                        },
                                    },
                                ],
                            },
                        ],
                    },
                },
            },
        },
    ]


def gateway_objects(gateway: Gateway) -> list[Obj]:
    """The GatewayClass, the Gateway (one HTTPS listener) and its HTTPRoutes, Accepted by the controller."""
    scope = _scope(gateway.namespace)
    listener = "https"
    parent = {"name": gateway.name, "namespace": gateway.namespace, "sectionName": listener}
    objects: list[Obj] = [
        {
            "apiVersion": GATEWAY_API,
            "kind": "GatewayClass",
            "metadata": {"name": gateway.gateway_class},
            "spec": {"controllerName": gateway.controller},
        },
        {
            "apiVersion": GATEWAY_API,
            "kind": "Gateway",
            "metadata": {
                "name": gateway.name,
                "namespace": gateway.namespace,
                "annotations": {ANNOTATION_PREFIX + "scope": scope},
            },
            "spec": {
                "gatewayClassName": gateway.gateway_class,
                "listeners": [
                    {
                        "name": listener,
                        "protocol": "HTTPS",
                        "port": gateway.listener_port,
                        "hostname": gateway.listener_hostname,
                        "tls": {
                            "mode": "Terminate",
                            "certificateRefs": [
                                {"kind": "Secret", "name": f"{route.name}-tls"}
                                for route in gateway.routes
                            ],
                        },
                        "allowedRoutes": {"namespaces": {"from": "Same"}},
                    }
                ],
            },
        },
    ]
    for route in gateway.routes:
        objects.append(
            {
                "apiVersion": GATEWAY_API,
                "kind": "HTTPRoute",
                "metadata": {
                    "name": route.name,
                    "namespace": gateway.namespace,
                    "annotations": {
                        ANNOTATION_PREFIX + "purpose": route.purpose,
                        ANNOTATION_PREFIX + "scope": scope,
                    },
                },
                "spec": {
                    "parentRefs": [parent],
                    "hostnames": list(route.hostnames),
                    "rules": [
                        {"backendRefs": [{"name": route.backend, "port": route.backend_port}]}
                    ],
                },
                "status": {
                    "parents": [
                        {
                            "parentRef": parent,
                            "controllerName": gateway.controller,
                            "conditions": [
                                {"type": "Accepted", "status": "True", "reason": "Accepted"}
                            ],
                        }
                    ]
                },
            }
        )
    return objects


def render(workloads: tuple[Workload, ...], placement: Placement) -> list[Obj]:
    """Every object of the fictional cluster, namespaces and node first."""
    objects: list[Obj] = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NODE_NAME, "labels": {"kubernetes.io/hostname": NODE_NAME}},
        },
        *namespace_objects(),
        *csi_driver_objects(),
    ]
    for item in workloads:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": item.name, "namespace": item.namespace},
            }
        )
        controllers, owners = _owner_chain(item)
        objects.extend(controllers)
        objects.append(_pod(item, placement, owners))
        objects.extend(_service_and_slice(item, placement))
        for mount in item.mounts:
            objects.extend(_spc(item, mount, placement))
    for gateway in GATEWAYS:
        objects.extend(gateway_objects(gateway))
    return objects


def iter_yaml(objects: list[Obj]) -> Iterator[str]:
    for obj in objects:
        yield yaml.safe_dump(obj, sort_keys=False)


def write_manifest(objects: list[Obj], path: Path) -> Path:
    """The rendered cluster as one multi-document YAML file (kept in the work directory)."""
    path.write_text("---\n".join(iter_yaml(objects)))
    return path
