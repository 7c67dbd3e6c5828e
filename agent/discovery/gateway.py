"""Gateway API: the hostnames each TLS listener of a Gateway serves, from the routes attached to it.

A pure part of discovery (manifests in, hostnames out), following the Gateway API
specification (``gateway.networking.k8s.io``):

- a listener of protocol ``HTTPS`` accepts ``HTTPRoute`` and ``GRPCRoute`` objects, one of
  protocol ``TLS`` accepts ``TLSRoute`` objects (unless ``allowedRoutes.kinds`` says otherwise);
- a route attaches through ``spec.parentRefs`` (group and kind default to the Gateway's,
  namespace to the route's own; ``sectionName`` picks a listener by name, ``port`` by port);
- ``allowedRoutes.namespaces.from`` is ``Same`` (default), ``All`` or ``Selector``
  (a label selector over the route's Namespace);
- a route that its controller reports as not ``Accepted`` by that parent is ignored;
- the hostnames clients reach are the intersection of the listener's ``hostname`` and the
  route's ``spec.hostnames`` (``*.example.com`` is a suffix match, never ``example.com``
  itself; the more specific name wins).

A wildcard hostname cannot be sent as SNI: such a listener (or route) is probed once
without SNI, with the pattern recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from agent.discovery.model import ClusterState, Manifest

GROUP = "gateway.networking.k8s.io"
#: Resources read, as (version, plural); TLSRoute is still in the experimental channel.
GATEWAY_CLASSES = ("v1", "gatewayclasses")
GATEWAYS = ("v1", "gateways")
HTTP_ROUTES = ("v1", "httproutes")
GRPC_ROUTES = ("v1", "grpcroutes")
TLS_ROUTES = ("v1alpha2", "tlsroutes")

#: Route kinds a listener accepts by default, by protocol (the TLS-terminating or passthrough ones).
DEFAULT_ROUTE_KINDS: Mapping[str, tuple[str, ...]] = {
    "HTTPS": ("HTTPRoute", "GRPCRoute"),
    "TLS": ("TLSRoute",),
}


def routes(state: ClusterState) -> list[tuple[str, Manifest]]:
    """Every route discovery read, as the (kind, manifest) pairs `listener_hosts` takes."""
    return (
        [("HTTPRoute", route) for route in state.http_routes]
        + [("GRPCRoute", route) for route in state.grpc_routes]
        + [("TLSRoute", route) for route in state.tls_routes]
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Listener:
    """One TLS listener of a Gateway (HTTP/TCP/UDP listeners are not probed for TLS)."""

    name: str
    protocol: str
    port: int
    hostname: str | None
    allowed_from: str  # Same | All | Selector
    namespace_selector: Mapping[str, Any]
    route_kinds: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ListenerHost:
    """A hostname (None: no SNI) a listener answers for, and the route that brought it (if any)."""

    listener: Listener
    sni: str | None
    #: The hostname as declared (a wildcard pattern stays visible here).
    hostname: str
    route: Manifest | None = None
    route_kind: str = ""


def _meta(obj: Manifest) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def is_wildcard(hostname: str) -> bool:
    return hostname.startswith("*.")


def hostname_matches(pattern: str, hostname: str) -> bool:
    """`pattern` (exact, or ``*.suffix``) covers `hostname` (which may itself be a wildcard)."""
    pattern, hostname = pattern.lower().rstrip("."), hostname.lower().rstrip(".")
    if not is_wildcard(pattern):
        return pattern == hostname
    suffix = pattern[1:]  # ".example.com"
    if is_wildcard(hostname):
        return hostname[1:].endswith(suffix)
    return hostname.endswith(suffix) and len(hostname) > len(suffix)


def intersect(listener_hostname: str | None, route_hostname: str) -> str | None:
    """The hostname both a listener and a route accept (the more specific), or None."""
    if listener_hostname is None:
        return route_hostname
    if hostname_matches(listener_hostname, route_hostname):
        return route_hostname
    if hostname_matches(route_hostname, listener_hostname):
        return listener_hostname
    return None


def listeners(gateway: Manifest) -> list[Listener]:
    """The gateway's HTTPS/TLS listeners with a port."""
    found: list[Listener] = []
    for item in (gateway.get("spec") or {}).get("listeners") or []:
        protocol = str(item.get("protocol") or "").upper()
        if protocol not in DEFAULT_ROUTE_KINDS or not item.get("port"):
            continue
        allowed = item.get("allowedRoutes") or {}
        namespaces = allowed.get("namespaces") or {}
        kinds = tuple(
            str(kind.get("kind"))
            for kind in allowed.get("kinds") or []
            if kind.get("kind") and (kind.get("group") or GROUP) == GROUP
        )
        found.append(
            Listener(
                name=str(item.get("name") or ""),
                protocol=protocol,
                port=int(item["port"]),
                hostname=str(item["hostname"]) if item.get("hostname") else None,
                allowed_from=str(namespaces.get("from") or "Same"),
                namespace_selector=namespaces.get("selector") or {},
                route_kinds=kinds or DEFAULT_ROUTE_KINDS[protocol],
            )
        )
    return found


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels, matchExpressions) over `labels`."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key = str(expression.get("key", ""))
        operator = str(expression.get("operator", ""))
        values = {str(value) for value in expression.get("values") or []}
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False  # an operator the API would have refused: match nothing
    return True


def _refers_to(ref: Mapping[str, Any], route_namespace: str, gateway: Manifest) -> bool:
    return (
        (ref.get("group") or GROUP) == GROUP
        and (ref.get("kind") or "Gateway") == "Gateway"
        and (ref.get("namespace") or route_namespace) == _meta(gateway).get("namespace", "")
        and ref.get("name") == _meta(gateway).get("name")
    )


def _ref_selects(ref: Mapping[str, Any], listener: Listener) -> bool:
    if ref.get("sectionName") and ref["sectionName"] != listener.name:
        return False
    return not (ref.get("port") and int(ref["port"]) != listener.port)


def _rejected(route: Manifest, route_namespace: str, gateway: Manifest, listener: Listener) -> bool:
    """The route's controller reports it not Accepted by this gateway (listener)."""
    for parent in (route.get("status") or {}).get("parents") or []:
        ref = parent.get("parentRef") or {}
        if not _refers_to(ref, route_namespace, gateway) or not _ref_selects(ref, listener):
            continue
        for condition in parent.get("conditions") or []:
            if condition.get("type") == "Accepted" and condition.get("status") == "False":
                return True
    return False


def attached(
    route: Manifest,
    route_kind: str,
    gateway: Manifest,
    listener: Listener,
    namespace_labels: Mapping[str, Mapping[str, str]] | None,
) -> bool:
    """Whether `route` attaches to `listener` of `gateway`.

    `namespace_labels` (namespace → labels) serves ``from: Selector``; None when the
    namespaces could not be read, and then a selector admits no route.
    """
    if route_kind not in listener.route_kinds:
        return False
    route_namespace = str(_meta(route).get("namespace", ""))
    refs = [
        ref
        for ref in (route.get("spec") or {}).get("parentRefs") or []
        if _refers_to(ref, route_namespace, gateway) and _ref_selects(ref, listener)
    ]
    if not refs:
        return False
    gateway_namespace = str(_meta(gateway).get("namespace", ""))
    if listener.allowed_from == "Same" and route_namespace != gateway_namespace:
        return False
    if listener.allowed_from == "Selector":
        if namespace_labels is None or not selector_matches(
            listener.namespace_selector, namespace_labels.get(route_namespace, {})
        ):
            return False
    elif listener.allowed_from not in ("Same", "All"):
        return False
    return not _rejected(route, route_namespace, gateway, listener)


def _sni(hostname: str | None) -> str | None:
    return None if hostname is None or is_wildcard(hostname) else hostname


def listener_hosts(
    gateway: Manifest,
    routes: Iterable[tuple[str, Manifest]],
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    skipped: Callable[[Manifest], bool] | None = None,
) -> Iterator[ListenerHost]:
    """Every (listener, hostname) of `gateway`: the routes' hostnames, else the listener's own.

    `routes` are (kind, manifest) pairs; `skipped(route)` drops routes annotated to be skipped.
    """
    route_list = [
        (kind, route) for kind, route in routes if not (skipped is not None and skipped(route))
    ]
    for listener in listeners(gateway):
        seen: set[str] = set()
        for kind, route in route_list:
            if not attached(route, kind, gateway, listener, namespace_labels):
                continue
            names = [str(name) for name in (route.get("spec") or {}).get("hostnames") or []]
            hostnames = (
                [intersect(listener.hostname, name) for name in names]
                if names
                else [listener.hostname]
            )
            for hostname in hostnames:
                if names and hostname is None:
                    continue  # no overlap between the route's names and the listener's
                label = hostname or ""
                if label in seen:
                    continue
                seen.add(label)
                yield ListenerHost(listener, _sni(hostname), label, route, kind)
        if not seen:
            yield ListenerHost(listener, _sni(listener.hostname), listener.hostname or "")
