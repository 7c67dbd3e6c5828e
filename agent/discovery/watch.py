"""Watch the pods in scope between cycles; wake the loop when one appears, goes or changes IP.

A `410 Gone` (expired resource version) relists and resumes; other API errors
back off exponentially (capped). The watcher runs in a daemon thread and never
raises into the loop: counters tell what happened.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import kubernetes.client
import kubernetes.watch
from kubernetes.client.exceptions import ApiException

from agent.discovery.model import DiscoveryScope
from agent.errors import describe_error

log = logging.getLogger(__name__)


@dataclasses.dataclass
class WatchCounters:
    events: int = 0
    changes: int = 0
    relists: int = 0  # after 410 Gone
    errors: int = 0


class PodWatcher:
    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        scope: DiscoveryScope,
        on_change: Callable[[], None],
        *,
        timeout: float = 30.0,
        watch_seconds: int = 240,
        backoff_max: float = 300.0,
    ) -> None:
        self.core = kubernetes.client.CoreV1Api(api)
        self.scope = scope
        self.on_change = on_change
        self.timeout = timeout
        self.watch_seconds = watch_seconds
        self.backoff_max = backoff_max
        self.counters = WatchCounters()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: kubernetes.watch.Watch | None = None
        self._ips: dict[str, str] = {}

    def _kwargs(self) -> dict[str, Any]:
        if self.scope.mode == "daemonset":
            return {"field_selector": f"spec.nodeName={self.scope.node_name}"}
        if self.scope.mode == "sidecar":
            return {"field_selector": f"metadata.name={self.scope.pod_name}"}
        return {}

    def _list_function(self) -> Callable[..., Any]:
        return self.core.list_pod_for_all_namespaces

    def _relist(self) -> str:
        """List the pods in scope (remembering their IPs); the resourceVersion to watch from."""
        response = self._list_function()(
            _preload_content=False, _request_timeout=self.timeout, **self._kwargs()
        )
        listing = json.loads(response.data)
        self._ips = {
            f"{(pod.get('metadata') or {}).get('namespace', '')}/{(pod.get('metadata') or {}).get('name', '')}": str(
                (pod.get("status") or {}).get("podIP") or ""
            )
            for pod in listing.get("items") or []
        }
        return str((listing.get("metadata") or {}).get("resourceVersion", ""))

    def start(self) -> PodWatcher:
        self._thread = threading.Thread(target=self._run, name="pod-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        if self._thread is not None:
            # a watch blocked on its stream cannot be interrupted: never hold a shutdown for it
            # (the thread is a daemon; it ends with the stream or the process)
            self._thread.join(timeout=2)

    def _run(self) -> None:
        resource_version = ""
        failures = 0
        while not self._stop.is_set():
            try:
                if not resource_version:
                    resource_version = self._relist()
                # return_type "object": events as plain dicts, ERROR events (410) still recognised
                self._watch = kubernetes.watch.Watch(return_type="object")
                for event in self._watch.stream(
                    self._list_function(),
                    resource_version=resource_version,
                    timeout_seconds=self.watch_seconds,
                    _request_timeout=(self.timeout, self.watch_seconds + self.timeout),
                    **self._kwargs(),
                ):
                    if self._stop.is_set():
                        return
                    obj = event.get("raw_object") or event.get("object") or {}
                    metadata = obj.get("metadata") or {}
                    resource_version = str(metadata.get("resourceVersion", resource_version))
                    self.counters.events += 1
                    self._observe(event.get("type", ""), obj)
                failures = 0
            except ApiException as exc:
                if exc.status == 410:
                    self.counters.relists += 1
                    log.info("pod watch expired (410 Gone): relisting")
                    resource_version = ""
                    continue
                failures += 1
                self.counters.errors += 1
                log.warning("pod watch failed (HTTP %s): backing off", exc.status)
            except Exception as exc:  # noqa: BLE001 - a watch must never kill the agent
                failures += 1
                self.counters.errors += 1
                log.warning("pod watch failed (%s): backing off", describe_error(exc))
            if failures:
                delay = min(self.backoff_max, 2.0 ** min(failures, 10)) * random.uniform(0.5, 1.0)
                self._stop.wait(delay)

    def _observe(self, event_type: str, pod: dict[str, Any]) -> None:
        metadata = pod.get("metadata") or {}
        key = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
        ip = str((pod.get("status") or {}).get("podIP") or "")
        if event_type == "DELETED":
            changed = self._ips.pop(key, None) is not None
        elif event_type in ("ADDED", "MODIFIED"):
            changed = self._ips.get(key) != ip
            self._ips[key] = ip
        else:
            changed = False
        if changed:
            self.counters.changes += 1
            self.on_change()
