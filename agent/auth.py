"""Bearer-token authorisation for /snapshot, the way kube-rbac-proxy does it.

1. No ``Authorization: Bearer`` header → 401.
2. TokenReview (authentication.k8s.io/v1): not authenticated → 401.
3. SubjectAccessReview (authorization.k8s.io/v1) for the configured resource
   attributes, as the reviewed user and groups: not allowed → 403.
4. Otherwise 200, with the user name for the log.

The API server's answers are cached briefly, keyed by the token's SHA-256 (the
token itself is never stored or logged). An API error answers 503: nothing is
served when the decision cannot be made.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from typing import Any

import kubernetes.client
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceAttributes:
    """What the caller must be allowed to do (SubjectAccessReview spec.resourceAttributes)."""

    verb: str = "get"
    group: str = "cryptoscope.io"
    resource: str = "snapshots"
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    def as_spec(self) -> dict[str, str]:
        spec = {
            "verb": self.verb,
            "group": self.group,
            "resource": self.resource,
            "subresource": self.subresource,
            "namespace": self.namespace,
            "name": self.name,
        }
        return {key: value for key, value in spec.items() if value}


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    status: int  # 200, 401, 403 or 503
    reason: str
    user: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 200


class Authorizer:
    """Decides on a request's Authorization header with TokenReview + SubjectAccessReview."""

    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        attributes: ResourceAttributes,
        *,
        cache_seconds: float = 10.0,
        timeout: float = 10.0,
    ) -> None:
        self.authentication = kubernetes.client.AuthenticationV1Api(api)
        self.authorization = kubernetes.client.AuthorizationV1Api(api)
        self.attributes = attributes
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._cache: dict[str, tuple[float, Decision]] = {}
        self._lock = threading.Lock()

    def decide(self, authorization_header: str | None) -> Decision:
        header = (authorization_header or "").strip()
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            return Decision(401, "a bearer token is required")
        token = header[7:].strip()
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached and now - cached[0] < self.cache_seconds:
                return cached[1]
        decision = self._review(token)
        if decision.status in (200, 401, 403):
            with self._lock:
                self._cache[key] = (now, decision)
                if len(self._cache) > 1024:
                    self._cache.pop(next(iter(self._cache)))
        return decision

    def _post(self, function: Any, body: dict[str, Any]) -> dict[str, Any]:
        response = function(body, _preload_content=False, _request_timeout=self.timeout)
        return dict(json.loads(response.data))

    def _review(self, token: str) -> Decision:
        try:
            review = self._post(
                self.authentication.create_token_review,
                {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenReview",
                    "spec": {"token": token},
                },
            )
            status = review.get("status") or {}
            if not status.get("authenticated"):
                return Decision(401, "token rejected by the API server")
            user = status.get("user") or {}
            username = str(user.get("username", ""))
            access = self._post(
                self.authorization.create_subject_access_review,
                {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SubjectAccessReview",
                    "spec": {
                        "user": username,
                        "uid": user.get("uid", ""),
                        "groups": list(user.get("groups") or []),
                        "extra": user.get("extra") or {},
                        "resourceAttributes": self.attributes.as_spec(),
                    },
                },
            )
        except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            log.warning("authorisation unavailable: %s", type(exc).__name__)
            return Decision(503, f"authorisation unavailable: {type(exc).__name__}")
        if not (access.get("status") or {}).get("allowed"):
            wanted = self.attributes.as_spec()
            return Decision(
                403,
                f"{username} may not {wanted.get('verb')} {wanted.get('resource')}.{wanted.get('group', '')}",
                username,
            )
        return Decision(200, "allowed", username)
