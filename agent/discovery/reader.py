"""Read the manifests discovery needs, with the official client, as plain JSON.

Lists are paged (`limit`/`continue`) and read without the client's model
deserialisation (`_preload_content=False`): thousands of pods stay cheap and a
field the models do not know never breaks discovery. Optional kinds
(ReplicaSets, Jobs, Ingresses, the Gateway API's GatewayClasses, Gateways,
HTTPRoutes, GRPCRoutes and TLSRoutes) that cannot be read (401/403) degrade to a warning,
a kind not served (404: the CRD is not installed) reads as none; pods,
services and EndpointSlices are required.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

import kubernetes.client
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from agent.discovery import gateway
from agent.discovery.model import ClusterState, DiscoveryScope, Manifest
from agent.errors import describe_error

log = logging.getLogger(__name__)

Lister = Callable[..., Any]


class DiscoveryError(Exception):
    """The Kubernetes API could not be read; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True, slots=True)
class GatewayAPIState:
    gateways: tuple[Manifest, ...] = ()
    classes: tuple[Manifest, ...] = ()
    http_routes: tuple[Manifest, ...] = ()
    grpc_routes: tuple[Manifest, ...] = ()
    tls_routes: tuple[Manifest, ...] = ()
    namespaces: tuple[Manifest, ...] = ()
    namespaces_read: bool = True


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        try:
            message = json.loads(exc.body or "{}").get("message", "")
        except (ValueError, AttributeError):
            message = ""
        return f"HTTP {exc.status} {exc.reason or ''}: {message}".strip(": ")
    return describe_error(exc)  # the type and a safe reason, never the input (agent.errors)


class KubeReader:
    def __init__(
        self, api: kubernetes.client.ApiClient, *, page_size: int = 500, timeout: float = 30.0
    ) -> None:
        self.api = api
        self.page_size = page_size
        self.timeout = timeout
        self.core = kubernetes.client.CoreV1Api(api)
        self.discovery = kubernetes.client.DiscoveryV1Api(api)
        self.apps = kubernetes.client.AppsV1Api(api)
        self.batch = kubernetes.client.BatchV1Api(api)
        self.networking = kubernetes.client.NetworkingV1Api(api)
        self.custom = kubernetes.client.CustomObjectsApi(api)

    def _call(self, function: Lister, *args: Any, **kwargs: Any) -> Any:
        try:
            response = function(
                *args, _preload_content=False, _request_timeout=self.timeout, **kwargs
            )
            return json.loads(response.data)
        except ApiException as exc:
            raise DiscoveryError(
                f"{getattr(function, '__name__', 'request')}: {_describe(exc)}", exc.status
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise DiscoveryError(
                f"{getattr(function, '__name__', 'request')}: {_describe(exc)}"
            ) from exc

    def list_all(self, function: Lister, *args: Any, **kwargs: Any) -> tuple[list[Manifest], str]:
        """Every item across pages, and the list's resourceVersion."""
        items: list[Manifest] = []
        token: str | None = None
        resource_version = ""
        while True:
            page_kwargs = dict(kwargs, limit=self.page_size)
            if token:
                page_kwargs["_continue"] = token
            page = self._call(function, *args, **page_kwargs)
            items += page.get("items") or []
            metadata = page.get("metadata") or {}
            resource_version = str(metadata.get("resourceVersion", resource_version))
            token = metadata.get("continue")
            if not token:
                return items, resource_version

    def _optional(
        self, what: str, function: Lister, *args: Any, warnings: list[str], **kwargs: Any
    ) -> list[Manifest]:
        try:
            return self.list_all(function, *args, **kwargs)[0]
        except DiscoveryError as exc:
            if (
                exc.status == 404
            ):  # the kind is not served (e.g. no Gateway API CRDs): nothing to read
                return []
            if exc.status in (401, 403):
                warnings.append(f"{what} not readable, discovery continues without them: {exc}")
                log.warning("%s", warnings[-1])
                return []
            raise

    def _gateway_api(self, warnings: list[str]) -> GatewayAPIState:
        """Gateways and what attaches to them; a cluster without the CRDs (404) has none."""

        def custom(plural: tuple[str, str]) -> tuple[Manifest, ...]:
            version, name = plural
            return tuple(
                self._optional(
                    name,
                    self.custom.list_cluster_custom_object,
                    gateway.GROUP,
                    version,
                    name,
                    warnings=warnings,
                )
            )

        gateways = custom(gateway.GATEWAYS)
        if not gateways:
            return GatewayAPIState()
        before = len(warnings)
        namespaces = tuple(
            self._optional("namespaces", self.core.list_namespace, warnings=warnings)
        )
        return GatewayAPIState(
            gateways=gateways,
            classes=custom(gateway.GATEWAY_CLASSES),
            http_routes=custom(gateway.HTTP_ROUTES),
            grpc_routes=custom(gateway.GRPC_ROUTES),
            tls_routes=custom(gateway.TLS_ROUTES),
            namespaces=namespaces,
            namespaces_read=len(warnings) == before,
        )

    def pods(self, scope: DiscoveryScope) -> tuple[list[Manifest], str]:
        if scope.mode == "sidecar":
            pod = self._call(self.core.read_namespaced_pod, scope.pod_name, scope.pod_namespace)
            return [pod], str((pod.get("metadata") or {}).get("resourceVersion", ""))
        if scope.mode == "daemonset":
            return self.list_all(
                self.core.list_pod_for_all_namespaces,
                field_selector=f"spec.nodeName={scope.node_name}",
            )
        return self.list_all(self.core.list_pod_for_all_namespaces)

    def read_state(self, scope: DiscoveryScope) -> ClusterState:
        warnings: list[str] = []
        pods, resource_version = self.pods(scope)
        ingresses: list[Manifest] = []
        gateway_api = GatewayAPIState()
        if scope.mode == "sidecar":
            namespace = scope.pod_namespace
            services = self.list_all(self.core.list_namespaced_service, namespace)[0]
            slices = self.list_all(self.discovery.list_namespaced_endpoint_slice, namespace)[0]
            replica_sets = self._optional(
                "replicasets", self.apps.list_namespaced_replica_set, namespace, warnings=warnings
            )
            jobs = self._optional(
                "jobs", self.batch.list_namespaced_job, namespace, warnings=warnings
            )
        else:
            services = self.list_all(self.core.list_service_for_all_namespaces)[0]
            slices = self.list_all(self.discovery.list_endpoint_slice_for_all_namespaces)[0]
            replica_sets = self._optional(
                "replicasets", self.apps.list_replica_set_for_all_namespaces, warnings=warnings
            )
            jobs = self._optional("jobs", self.batch.list_job_for_all_namespaces, warnings=warnings)
            if scope.ingress:
                ingresses = self._optional(
                    "ingresses", self.networking.list_ingress_for_all_namespaces, warnings=warnings
                )
                gateway_api = self._gateway_api(warnings)
        return ClusterState(
            pods=tuple(pods),
            services=tuple(services),
            endpoint_slices=tuple(slices),
            replica_sets=tuple(replica_sets),
            jobs=tuple(jobs),
            ingresses=tuple(ingresses),
            gateways=gateway_api.gateways,
            gateway_classes=gateway_api.classes,
            http_routes=gateway_api.http_routes,
            tls_routes=gateway_api.tls_routes,
            grpc_routes=gateway_api.grpc_routes,
            namespaces=gateway_api.namespaces,
            namespaces_read=gateway_api.namespaces_read,
            resource_version=resource_version,
            warnings=tuple(warnings),
        )
