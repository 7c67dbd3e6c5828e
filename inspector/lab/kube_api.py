"""A Kubernetes API server on loopback that speaks real Kubernetes JSON.

Good enough for the official ``kubernetes`` Python client to list, page, watch
and review against it: namespaced and cluster-scoped resources of any kind
loaded from ordinary YAML manifests, label and field selectors, ``limit`` /
``continue`` paging, resource versions, watch streams (including ``410 Gone``
for an expired resource version), ``Status`` objects for errors, TokenReview,
SubjectAccessReview and the ``pods/portforward`` websocket protocol
(``v4.channel.k8s.io``), which relays to the pod's IP for real.

Faults (status codes, delays) are injected from tests with :meth:`KubeAPIServer.inject`.

    with KubeAPIServer() as api:
        api.load_yaml(Path("manifests/shop.yaml"))
        client = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(api.configuration()))
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import datetime as dt
import hashlib
import http.server
import json
import re
import socket
import ssl
import string
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from inspector.lab import pki

#: YAML fixtures shipped with the lab (the demo and the tests load them).
MANIFESTS_DIR = Path(__file__).with_name("manifests")

Obj = dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceKind:
    kind: str
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"


#: Kinds known up front (discovery documents list them); any other kind is registered on load.
BUILTIN_KINDS: tuple[ResourceKind, ...] = (
    ResourceKind("Namespace", "", "v1", "namespaces", False),
    ResourceKind("Node", "", "v1", "nodes", False),
    ResourceKind("Pod", "", "v1", "pods", True),
    ResourceKind("Service", "", "v1", "services", True),
    ResourceKind("Secret", "", "v1", "secrets", True),
    ResourceKind("ConfigMap", "", "v1", "configmaps", True),
    ResourceKind("ServiceAccount", "", "v1", "serviceaccounts", True),
    ResourceKind("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", True),
    ResourceKind("ReplicaSet", "apps", "v1", "replicasets", True),
    ResourceKind("Deployment", "apps", "v1", "deployments", True),
    ResourceKind("StatefulSet", "apps", "v1", "statefulsets", True),
    ResourceKind("DaemonSet", "apps", "v1", "daemonsets", True),
    ResourceKind("Job", "batch", "v1", "jobs", True),
    ResourceKind("CronJob", "batch", "v1", "cronjobs", True),
    ResourceKind("Ingress", "networking.k8s.io", "v1", "ingresses", True),
    ResourceKind("IngressClass", "networking.k8s.io", "v1", "ingressclasses", False),
    ResourceKind(
        "SecretProviderClass", "secrets-store.csi.x-k8s.io", "v1", "secretproviderclasses", True
    ),
    ResourceKind(
        "SecretProviderClassPodStatus",
        "secrets-store.csi.x-k8s.io",
        "v1",
        "secretproviderclasspodstatuses",
        True,
    ),
)

#: Gateway API kinds (standard channel v1, experimental TLSRoute v1alpha2): served only when
#: enabled (a cluster without the CRDs answers 404 NotFound).
GATEWAY_KINDS: tuple[ResourceKind, ...] = (
    ResourceKind("GatewayClass", "gateway.networking.k8s.io", "v1", "gatewayclasses", False),
    ResourceKind("Gateway", "gateway.networking.k8s.io", "v1", "gateways", True),
    ResourceKind("HTTPRoute", "gateway.networking.k8s.io", "v1", "httproutes", True),
    ResourceKind("GRPCRoute", "gateway.networking.k8s.io", "v1", "grpcroutes", True),
    ResourceKind("TLSRoute", "gateway.networking.k8s.io", "v1alpha2", "tlsroutes", True),
)

#: The API server's answer for a path it serves no resource at (e.g. a CRD not installed).
NOT_FOUND_MESSAGE = "the server could not find the requested resource"


def guess_plural(kind: str) -> str:
    lowered = kind.lower()
    if lowered.endswith(("s", "x", "ch", "sh")):
        return lowered + "es"
    if lowered.endswith("y") and lowered[-2:-1] not in "aeiou":
        return lowered[:-1] + "ies"
    return lowered + "s"


# --------------------------------------------------------------------------- selectors


_SET_REQUIREMENT = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_requirements(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


class SelectorError(ValueError):
    pass


def label_selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics: =, ==, !=, in, notin, exists, !exists."""
    for requirement in _split_requirements(selector):
        set_match = _SET_REQUIREMENT.match(requirement)
        if set_match:
            key, operator, values_text = set_match.groups()
            values = {value.strip() for value in values_text.split(",") if value.strip()}
            present = key in labels and labels[key] in values
            if (operator == "in") != present:
                return False
            continue
        if "!=" in requirement:
            key, value = (part.strip() for part in requirement.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in requirement:
            key, value = (part.strip() for part in re.split(r"==?", requirement, maxsplit=1))
            if labels.get(key) != value:
                return False
        elif requirement.startswith("!"):
            if requirement[1:].strip() in labels:
                return False
        elif re.fullmatch(r"[A-Za-z0-9._/-]+", requirement):
            if requirement not in labels:
                return False
        else:
            raise SelectorError(f"unable to parse requirement: {requirement!r}")
    return True


def _field_value(obj: Obj, path: str) -> str:
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def field_selector_matches(selector: str, obj: Obj) -> bool:
    """Field selectors: `path=value`, `path==value`, `path!=value`, comma-separated (AND)."""
    for requirement in _split_requirements(selector):
        if "!=" in requirement:
            path, value = requirement.split("!=", 1)
            if _field_value(obj, path.strip()) == value.strip():
                return False
        elif "=" in requirement:
            path, value = re.split(r"==?", requirement, maxsplit=1)
            if _field_value(obj, path.strip()) != value.strip():
                return False
        else:
            raise SelectorError(f"invalid field selector: {requirement!r}")
    return True


# --------------------------------------------------------------------------- faults and access


@dataclasses.dataclass
class Fault:
    """A fault injected into matching requests: a delay, then (when status) an error Status."""

    path: re.Pattern[str]
    status: int | None = 500
    delay: float = 0.0
    #: How many requests it hits; None: until cleared.
    times: int | None = 1
    method: str | None = None
    #: Only watch requests (True), only non-watch requests (False), or both (None).
    watch: bool | None = None
    hits: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Grant:
    """One permission; empty strings are wildcards."""

    user: str
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    def allows(self, user: str, groups: Iterable[str], attributes: Mapping[str, str]) -> bool:
        if self.user not in {user, *groups}:
            return False
        for field in ("verb", "resource", "group", "subresource", "namespace", "name"):
            wanted = getattr(self, field)
            if wanted and wanted != "*" and wanted != attributes.get(field, ""):
                return False
        return True


@dataclasses.dataclass(frozen=True, slots=True)
class _Event:
    resource_version: int
    type: str
    kind: ResourceKind
    obj: Obj


class _Gone(Exception):
    pass


def status_object(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    status: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        status["details"] = details
    return status


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


# --------------------------------------------------------------------------- the server


class KubeAPIServer:
    """The API server's state plus an HTTP(S) listener on 127.0.0.1, port 0."""

    def __init__(
        self,
        *,
        tls: bool = False,
        require_auth: bool = False,
        authorize: bool = False,
        gateway_api: bool = False,
        version: str = "v1.31.0",
        max_watch_seconds: float = 60.0,
    ) -> None:
        self.tls = tls
        #: authorize: every resource read needs a bearer token *and* a matching grant (RBAC), else 403.
        self.require_auth = require_auth or authorize
        self.authorize = authorize
        self.version = version
        self.max_watch_seconds = max_watch_seconds
        self._lock = threading.Condition()
        self._kinds: dict[tuple[str, str], ResourceKind] = {}  # (apiVersion, kind) -> kind
        self._by_path: dict[tuple[str, str, str], ResourceKind] = {}  # (group, version, plural)
        for kind in BUILTIN_KINDS + (GATEWAY_KINDS if gateway_api else ()):
            self.register_kind(kind)
        self._objects: dict[tuple[str, str, str, str], Obj] = {}  # (group, plural, ns, name)
        self._events: list[_Event] = []
        self._resource_version = 1000
        self._compacted = 0
        self._faults: list[Fault] = []
        self.tokens: dict[str, Identity] = {}
        self.grants: list[Grant] = []
        self.requests: list[tuple[str, str]] = []  # (method, path?query) log for assertions
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._tmp_ca: bytes | None = None
        self._open_sockets: set[socket.socket] = set()
        self._tmp_dir: tempfile.TemporaryDirectory[str] | None = None
        #: PEM file of the CA that signed the serving certificate (TLS only).
        self.ca_file: Path | None = None

    # ----- kinds and objects

    def register_kind(self, kind: ResourceKind) -> None:
        with self._lock:
            self._kinds[(kind.api_version, kind.kind)] = kind
            self._by_path[(kind.group, kind.version, kind.plural)] = kind

    def kind_for(self, api_version: str, kind: str, *, namespaced: bool = True) -> ResourceKind:
        known = self._kinds.get((api_version, kind))
        if known:
            return known
        group, _, version = api_version.rpartition("/")
        resource = ResourceKind(kind, group, version, guess_plural(kind), namespaced)
        self.register_kind(resource)
        return resource

    def _next_rv(self) -> int:
        self._resource_version += 1
        return self._resource_version

    def apply(self, obj: Mapping[str, Any]) -> Obj:
        """Create or replace one object (a manifest as a dict); returns the stored copy."""
        stored = copy.deepcopy(dict(obj))
        metadata = stored.setdefault("metadata", {})
        if "name" not in metadata:
            raise ValueError(f"{stored.get('kind')} without metadata.name")
        kind = self.kind_for(
            stored["apiVersion"], stored["kind"], namespaced="namespace" in metadata
        )
        if kind.namespaced:
            metadata.setdefault("namespace", "default")
        else:
            metadata.pop("namespace", None)
        key = (kind.group, kind.plural, metadata.get("namespace", ""), metadata["name"])
        with self._lock:
            existing = self._objects.get(key)
            metadata.setdefault(
                "uid", existing["metadata"]["uid"] if existing else str(uuid.uuid4())
            )
            metadata.setdefault(
                "creationTimestamp",
                existing["metadata"]["creationTimestamp"]
                if existing
                else dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            rv = self._next_rv()
            metadata["resourceVersion"] = str(rv)
            self._objects[key] = stored
            self._events.append(
                _Event(rv, "MODIFIED" if existing else "ADDED", kind, copy.deepcopy(stored))
            )
            self._lock.notify_all()
        return copy.deepcopy(stored)

    def delete(self, kind: str, name: str, namespace: str = "", api_version: str = "v1") -> bool:
        resource = self.kind_for(api_version, kind)
        key = (resource.group, resource.plural, namespace if resource.namespaced else "", name)
        with self._lock:
            removed = self._objects.pop(key, None)
            if removed is None:
                return False
            existing = copy.deepcopy(removed)
            rv = self._next_rv()
            existing["metadata"]["resourceVersion"] = str(rv)
            self._events.append(_Event(rv, "DELETED", resource, existing))
            self._lock.notify_all()
        return True

    def get(self, kind: str, name: str, namespace: str = "", api_version: str = "v1") -> Obj | None:
        resource = self.kind_for(api_version, kind)
        key = (resource.group, resource.plural, namespace if resource.namespaced else "", name)
        with self._lock:
            found = self._objects.get(key)
            return copy.deepcopy(found) if found else None

    def load_yaml(
        self, source: str | Path, variables: Mapping[str, object] | None = None
    ) -> list[Obj]:
        """Apply every document of a YAML manifest (a path, or the YAML text); `List` kinds are unpacked.

        `variables` fill ``${NAME}`` placeholders first (ports and IPs known only at run time).
        """
        text = source.read_text() if isinstance(source, Path) else source
        if variables:
            text = string.Template(text).safe_substitute(
                {key: str(value) for key, value in variables.items()}
            )
        applied: list[Obj] = []
        for document in yaml.safe_load_all(text):
            if not document:
                continue
            items = (
                document.get("items", [])
                if str(document.get("kind", "")).endswith("List")
                else [document]
            )
            for item in items:
                applied.append(self.apply(item))
        return applied

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._resource_version

    def expire_watches(self) -> None:
        """Compact history: a watch or list from any resource version seen so far now gets 410 Gone."""
        with self._lock:
            self._compacted = self._next_rv()
            self._events.clear()
            self._lock.notify_all()

    # ----- faults and access control

    def inject(
        self,
        path: str,
        *,
        status: int | None = 500,
        delay: float = 0.0,
        times: int | None = 1,
        method: str | None = None,
        watch: bool | None = None,
    ) -> Fault:
        """Make the next `times` requests whose path matches the regex `path` fail (or stall)."""
        fault = Fault(re.compile(path), status, delay, times, method, watch)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def add_token(self, token: str, username: str, groups: Iterable[str] = ()) -> None:
        self.tokens[token] = Identity(
            username, tuple(groups), uid=hashlib.sha256(username.encode()).hexdigest()[:16]
        )

    def grant(
        self,
        user: str,
        verb: str,
        resource: str,
        *,
        group: str = "",
        subresource: str = "",
        namespace: str = "",
        name: str = "",
    ) -> None:
        self.grants.append(Grant(user, verb, resource, group, subresource, namespace, name))

    def is_allowed(self, user: str, groups: Iterable[str], attributes: Mapping[str, str]) -> bool:
        return any(grant.allows(user, tuple(groups), attributes) for grant in self.grants)

    # ----- lifecycle

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> KubeAPIServer:
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.api = self
        if self.tls:
            root = pki.make_ca("lab kube-apiserver CA")
            leaf = pki.make_leaf(root, common_name="kube-apiserver", dns_names=("localhost",))
            self._tmp_ca = root.cert_pem
            self._tmp_dir = tempfile.TemporaryDirectory(prefix="kube-api-ca-")
            self.ca_file = Path(self._tmp_dir.name) / "ca.crt"
            self.ca_file.write_bytes(root.cert_pem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            _load_cert_chain_from_memory(context, leaf.cert_pem, leaf.key_pem)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="kube-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
            sockets = list(self._open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._tmp_dir is not None:
            self._tmp_dir.cleanup()

    def __enter__(self) -> KubeAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def configuration(self, token: str | None = None) -> Any:
        """A `kubernetes.client.Configuration` pointing at this server."""
        import kubernetes.client

        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        if token:
            # the key name changed across client versions ("authorization" before, "BearerToken" now)
            configuration.api_key = {
                "authorization": "Bearer " + token,
                "BearerToken": "Bearer " + token,
            }
        if self.tls and self._tmp_ca:
            configuration.verify_ssl = (
                False  # the CA is in the kubeconfig; in-process callers trust loopback
            )
        return configuration

    def write_kubeconfig(
        self, path: Path, *, token: str = "", context: str = "lab", namespace: str = "default"
    ) -> Path:
        cluster: Obj = {"server": self.url}
        if self.tls and self._tmp_ca:
            cluster["certificate-authority-data"] = base64.b64encode(self._tmp_ca).decode()
        user: Obj = {"token": token} if token else {}
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": context, "user": user}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": context, "user": context, "namespace": namespace},
                }
            ],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(document))
        path.chmod(0o600)
        return path

    # ----- request handling (called from handler threads)

    def _take_fault(self, method: str, path: str, is_watch: bool) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method and fault.method != method:
                    continue
                if fault.watch is not None and fault.watch != is_watch:
                    continue
                if not fault.path.search(path):
                    continue
                fault.hits += 1
                if fault.times is not None and fault.hits >= fault.times:
                    self._faults.remove(fault)
                return fault
        return None

    def _identity(self, headers: Any) -> Identity | None:
        header = headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return self.tokens.get(header[7:].strip())
        return None

    def _list(self, kind: ResourceKind, namespace: str, query: Mapping[str, str]) -> Obj:
        label_selector = query.get("labelSelector", "")
        field_selector = query.get("fieldSelector", "")
        with self._lock:
            current_rv = self._resource_version
            # stored objects are never mutated (apply and delete replace them), so pages share them
            items = [
                obj
                for (group, plural, obj_ns, _), obj in sorted(self._objects.items())
                if group == kind.group
                and plural == kind.plural
                and (not namespace or obj_ns == namespace)
            ]
        items = [item for item in items if self._matches(item, label_selector, field_selector)]
        start = 0
        list_rv = current_rv
        if query.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
                start, list_rv = int(token["start"]), int(token["rv"])
            except (ValueError, KeyError, TypeError) as exc:
                raise _HTTPError(400, f"invalid continue token: {exc}") from exc
            if list_rv <= self._compacted:
                raise _HTTPError(
                    410,
                    "The provided continue parameter is too old to display a consistent list result.",
                )
        limit = int(query.get("limit", "0") or 0)
        metadata: Obj = {"resourceVersion": str(list_rv)}
        page = items[start:]
        if limit and len(page) > limit:
            page = page[:limit]
            next_token = {"start": start + limit, "rv": list_rv}
            metadata["continue"] = base64.urlsafe_b64encode(
                json.dumps(next_token).encode()
            ).decode()
            metadata["remainingItemCount"] = len(items) - start - limit
        return {
            "kind": kind.list_kind,
            "apiVersion": kind.api_version,
            "metadata": metadata,
            "items": page,
        }

    @staticmethod
    def _matches(obj: Obj, label_selector: str, field_selector: str) -> bool:
        try:
            if label_selector and not label_selector_matches(
                label_selector, obj["metadata"].get("labels") or {}
            ):
                return False
            return not field_selector or field_selector_matches(field_selector, obj)
        except SelectorError as exc:
            raise _HTTPError(400, str(exc)) from exc

    def _watch_events(
        self, kind: ResourceKind, namespace: str, query: Mapping[str, str], name: str | None
    ) -> Iterator[Obj]:
        """Yield watch events (dicts) until the timeout; raises _Gone for an expired resource version."""
        timeout = min(
            float(query.get("timeoutSeconds", self.max_watch_seconds)), self.max_watch_seconds
        )
        deadline = time.monotonic() + timeout
        label_selector = query.get("labelSelector", "")
        field_selector = query.get("fieldSelector", "")
        if name:
            field_selector = ",".join(filter(None, [field_selector, f"metadata.name={name}"]))
        requested = query.get("resourceVersion", "")
        if requested in ("", "0"):
            listing = self._list(
                kind, namespace, {"labelSelector": label_selector, "fieldSelector": field_selector}
            )
            for item in listing["items"]:
                yield {"type": "ADDED", "object": item}
            last = int(listing["metadata"]["resourceVersion"])
        else:
            last = int(requested)
            with self._lock:
                if last < self._compacted:
                    raise _Gone(f"too old resource version: {last} ({self._compacted})")
        while not self._stopping.is_set():
            with self._lock:
                pending = [event for event in self._events if event.resource_version > last]
                if not pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self._lock.wait(timeout=min(remaining, 0.5))
                    if last < self._compacted:
                        raise _Gone(f"too old resource version: {last} ({self._compacted})")
                    continue
            for event in pending:
                last = event.resource_version
                if event.kind != kind:
                    continue
                obj_ns = event.obj["metadata"].get("namespace", "")
                if namespace and obj_ns != namespace:
                    continue
                if not self._matches(event.obj, label_selector, field_selector):
                    continue
                obj = copy.deepcopy(event.obj)
                obj.setdefault("apiVersion", kind.api_version)
                obj.setdefault("kind", kind.kind)
                yield {"type": event.type, "object": obj}

    def _discovery(self, parts: list[str]) -> Obj | None:
        with self._lock:
            kinds = list(self._by_path.values())
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if parts == ["apis"]:
            groups: dict[str, set[str]] = {}
            for kind in kinds:
                if kind.group:
                    groups.setdefault(kind.group, set()).add(kind.version)
            groups.setdefault("authentication.k8s.io", set()).add("v1")
            groups.setdefault("authorization.k8s.io", set()).add("v1")
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": name,
                        "versions": [
                            {"groupVersion": f"{name}/{v}", "version": v} for v in sorted(versions)
                        ],
                        "preferredVersion": {
                            "groupVersion": f"{name}/{sorted(versions)[-1]}",
                            "version": sorted(versions)[-1],
                        },
                    }
                    for name, versions in sorted(groups.items())
                ],
            }
        group, version = (
            ("", parts[1])
            if parts[0] == "api" and len(parts) == 2
            else ((parts[1], parts[2]) if parts[0] == "apis" and len(parts) == 3 else (None, None))
        )
        if version is None:
            return None
        resources = [kind for kind in kinds if kind.group == group and kind.version == version]
        if not resources and group not in ("authentication.k8s.io", "authorization.k8s.io"):
            return None
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [
                {
                    "name": kind.plural,
                    "singularName": kind.kind.lower(),
                    "namespaced": kind.namespaced,
                    "kind": kind.kind,
                    "verbs": ["get", "list", "watch"],
                }
                for kind in resources
            ],
        }

    def _review(self, resource: str, body: Obj) -> Obj:
        spec = body.get("spec") or {}
        if resource == "tokenreviews":
            identity = self.tokens.get(str(spec.get("token", "")))
            status: Obj = {"authenticated": identity is not None}
            if identity:
                status["user"] = {
                    "username": identity.username,
                    "uid": identity.uid,
                    "groups": list(identity.groups),
                }
            else:
                status["error"] = "token not recognised"
            return {**body, "status": status}
        attributes = spec.get("resourceAttributes") or {}
        if not attributes and spec.get("nonResourceAttributes"):
            non_resource = spec["nonResourceAttributes"]
            attributes = {
                "verb": non_resource.get("verb", ""),
                "resource": non_resource.get("path", ""),
            }
        allowed = self.is_allowed(str(spec.get("user", "")), spec.get("groups") or [], attributes)
        reason = "granted by a lab grant" if allowed else "no grant matches"
        return {**body, "status": {"allowed": allowed, "reason": reason}}


class _HTTPError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    api: KubeAPIServer

    def handle_error(
        self, request: Any, client_address: Any
    ) -> None:  # quiet: clients hang up in tests
        pass


def _load_cert_chain_from_memory(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kube-api-") as directory:
        cert_path = os.path.join(directory, "tls.crt")
        key_path = os.path.join(directory, "tls.key")
        with open(cert_path, "wb") as handle:
            handle.write(cert_pem)
        with open(os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as handle:
            handle.write(key_pem)
        context.load_cert_chain(cert_path, key_path)


_RESOURCE_PATH = re.compile(
    r"^/(?:api/(?P<core_version>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/watch)?(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<subresource>[^/]+))?/?$"
)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def api(self) -> KubeAPIServer:
        return self.server.api

    # ----- responses

    def _send_json(self, code: int, body: Obj) -> None:
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _send_status(self, code: int, message: str) -> None:
        self._send_json(code, status_object(code, _REASONS.get(code, "Unknown"), message))

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        query = {
            key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()
        }
        is_watch = query.get("watch", "").lower() in ("1", "true") or "/watch/" in path
        requests = self.api.requests
        requests.append((method, self.path))
        if len(requests) > 20_000:  # a long demo run: keep the recent half
            del requests[:10_000]
        body: Obj = {}
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length:
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self._send_status(400, "request body is not JSON")
                return
        fault = self.api._take_fault(method, path, is_watch)
        if fault is not None:
            if fault.delay:
                self.api._stopping.wait(fault.delay)
            if fault.status:
                self._send_status(fault.status, f"injected fault on {path}")
                return
        try:
            if path.rstrip("/") == "/version":
                major, minor = self.api.version.lstrip("v").split(".")[:2]
                self._send_json(
                    200,
                    {
                        "major": major,
                        "minor": minor,
                        "gitVersion": self.api.version,
                        "gitCommit": "0" * 40,
                        "gitTreeState": "clean",
                        "buildDate": "2026-01-01T00:00:00Z",
                        "goVersion": "go1.23",
                        "compiler": "gc",
                        "platform": "linux/amd64",
                    },
                )
                return
            if self.api.require_auth and self.api._identity(self.headers) is None:
                self._send_status(401, "Unauthorized")
                return
            parts = [part for part in path.split("/") if part]
            discovery = self._maybe_discovery(parts)
            if discovery is not None:
                self._send_json(200, discovery)
                return
            self._resource(method, path, query, body, is_watch)
        except _HTTPError as exc:
            self._send_status(exc.code, exc.message)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _maybe_discovery(self, parts: list[str]) -> Obj | None:
        if (
            parts in (["api"], ["apis"])
            or (len(parts) == 2 and parts[0] == "api")
            or (len(parts) == 3 and parts[0] == "apis")
        ):
            found = self.api._discovery(parts)
            if found is None:
                raise _HTTPError(
                    404, f"the server could not find the requested resource ({'/'.join(parts)})"
                )
            return found
        return None

    def _resource(
        self, method: str, path: str, query: Mapping[str, str], body: Obj, is_watch: bool
    ) -> None:
        match = _RESOURCE_PATH.match(path)
        if not match:
            raise _HTTPError(404, f"the server could not find the requested resource ({path})")
        group = match["group"] or ""
        version = match["core_version"] or match["version"]
        plural, namespace, name, subresource = (
            match["plural"],
            match["namespace"] or "",
            match["name"],
            match["subresource"],
        )
        if (
            method == "POST"
            and group in ("authentication.k8s.io", "authorization.k8s.io")
            and plural
            in (
                "tokenreviews",
                "subjectaccessreviews",
            )
        ):
            self._send_json(201, self.api._review(plural, body))
            return
        kind = self.api._by_path.get((group, version, plural))
        if kind is None:
            self._send_json(404, status_object(404, "NotFound", NOT_FOUND_MESSAGE, {}))
            return
        if self.api.authorize and not self._authorized(
            kind, "watch" if is_watch else ("get" if name else "list"), namespace, name, subresource
        ):
            return
        if subresource == "portforward" and kind.plural == "pods" and name:
            self._portforward(namespace, name, query)
            return
        if subresource:
            raise _HTTPError(404, f"subresource {subresource} is not served by the lab API server")
        if method != "GET":
            raise _HTTPError(405, f"{method} is not supported on {plural}")
        if is_watch:
            self._watch(kind, namespace, query, name)
            return
        if name:
            with self.api._lock:
                obj = self.api._objects.get(
                    (kind.group, kind.plural, namespace if kind.namespaced else "", name)
                )
                obj = copy.deepcopy(obj) if obj else None
            if obj is None:
                self._send_json(
                    404,
                    status_object(
                        404,
                        "NotFound",
                        f'{plural} "{name}" not found',
                        {"name": name, "kind": plural},
                    ),
                )
                return
            self._send_json(200, obj)
            return
        self._send_json(200, self.api._list(kind, namespace, query))

    def _authorized(
        self,
        kind: ResourceKind,
        verb: str,
        namespace: str,
        name: str | None,
        subresource: str | None,
    ) -> bool:
        """RBAC as the API server applies it; a denial is answered with its real Forbidden Status."""
        identity = self.api._identity(self.headers)
        if identity is None:  # require_auth already answered 401
            return False
        if subresource == "portforward":
            verb = "create" if verb == "get" else verb
        # RBAC names a subresource as "pods/portforward": a grant on "pods" does not cover it
        attributes = {
            "verb": verb,
            "resource": f"{kind.plural}/{subresource}" if subresource else kind.plural,
            "group": kind.group,
            "namespace": namespace,
            "name": name or "",
        }
        if self.api.is_allowed(identity.username, identity.groups, attributes):
            return True
        resource = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        subject = f'{resource} "{name}"' if name else resource
        message = (
            f'{subject} is forbidden: User "{identity.username}" cannot {verb} resource '
            f'"{attributes["resource"]}" in API group "{kind.group}" {where}'
        )
        details: Obj = {"group": kind.group, "kind": kind.plural}
        if name:
            details["name"] = name
        self._send_json(403, status_object(403, "Forbidden", message, details))
        return False

    # ----- watch (chunked JSON lines)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(
        self, kind: ResourceKind, namespace: str, query: Mapping[str, str], name: str | None
    ) -> None:
        events = self.api._watch_events(kind, namespace, query, name)
        try:
            first = next(events, None)
        except _Gone as exc:
            first = {"type": "ERROR", "object": status_object(410, "Expired", str(exc))}
            events = iter(())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if first is not None:
                self._write_chunk(json.dumps(first).encode() + b"\n")
            for event in events:
                self._write_chunk(json.dumps(event).encode() + b"\n")
        except _Gone as exc:
            error = {"type": "ERROR", "object": status_object(410, "Expired", str(exc))}
            self._write_chunk(json.dumps(error).encode() + b"\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # ----- pods/portforward over websocket (v4.channel.k8s.io)

    def _portforward(self, namespace: str, name: str, query: Mapping[str, str]) -> None:
        pod = self.api.get("Pod", name, namespace)
        if pod is None:
            raise _HTTPError(404, f'pods "{name}" not found')
        if self.headers.get("Upgrade", "").lower() != "websocket":
            raise _HTTPError(400, "port-forward needs a websocket upgrade")
        protocols = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if "v4.channel.k8s.io" not in protocols:
            raise _HTTPError(400, "port-forward speaks v4.channel.k8s.io only")
        ports = [int(port) for port in query.get("ports", "").split(",") if port]
        if len(ports) != 1:
            raise _HTTPError(400, "the lab API server forwards exactly one port per connection")
        pod_ip = (pod.get("status") or {}).get("podIP")
        if not pod_ip:
            raise _HTTPError(500, f"pod {namespace}/{name} has no IP")
        accept = base64.b64encode(
            hashlib.sha1(
                (
                    self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
                ).encode()
            ).digest()
        ).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        port = ports[0]
        port_bytes = struct.pack("<H", port)
        client = self.connection
        _ws_send(client, b"\x00" + port_bytes)
        _ws_send(client, b"\x01" + port_bytes)
        try:
            upstream = socket.create_connection((pod_ip, port), timeout=5)
        except OSError as exc:
            _ws_send(
                client, b"\x01" + f"error forwarding port {port} to pod {name}: {exc}".encode()
            )
            _ws_send(client, b"", opcode=0x8)
            return
        with self.api._lock:
            self.api._open_sockets.update({upstream, client})
        try:
            _relay(client, upstream, self.rfile)
        finally:
            with self.api._lock:
                self.api._open_sockets.difference_update({upstream, client})
            upstream.close()


def _ws_send(sock: Any, payload: bytes, *, opcode: int = 0x2) -> None:
    header = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        header += bytes([length])
    elif length < 65536:
        header += bytes([126]) + struct.pack(">H", length)
    else:
        header += bytes([127]) + struct.pack(">Q", length)
    sock.sendall(header + payload)


def _ws_read_frame(stream: Any) -> tuple[int, bytes] | None:
    head = stream.read(2)
    if len(head) < 2:
        return None
    opcode = head[0] & 0x0F
    masked = head[1] & 0x80
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack(">H", stream.read(2))[0]
    elif length == 127:
        length = struct.unpack(">Q", stream.read(8))[0]
    mask = stream.read(4) if masked else b""
    payload = stream.read(length)
    if masked:
        payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return opcode, payload


def _relay(client: Any, upstream: socket.socket, client_stream: Any) -> None:
    """Websocket frames from the client (channel 0) to the pod; the pod's bytes back as channel-0 frames."""
    upstream.settimeout(None)
    done = threading.Event()

    def pod_to_client() -> None:
        try:
            while not done.is_set():
                data = upstream.recv(65536)
                if not data:
                    break
                _ws_send(client, b"\x00" + data)
        except OSError:
            pass
        finally:
            done.set()
            with contextlib.suppress(OSError):
                _ws_send(client, b"", opcode=0x8)

    reader = threading.Thread(target=pod_to_client, name="portforward-pod", daemon=True)
    reader.start()
    try:
        while not done.is_set():
            frame = _ws_read_frame(client_stream)
            if frame is None:
                break
            opcode, payload = frame
            if opcode == 0x8:
                break
            if opcode == 0x2 and payload and payload[0] == 0 and len(payload) > 1:
                upstream.sendall(payload[1:])
    except (OSError, struct.error):
        pass
    finally:
        done.set()
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_RDWR)
        reader.join(timeout=5)
