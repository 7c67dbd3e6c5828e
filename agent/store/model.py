"""What the store is given besides the prober's results: who an endpoint is, and times."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime


def utc_text(moment: datetime | None = None) -> str:
    """An aware datetime (default: now) as the store writes it: ``2026-11-30T16:40:00Z``."""
    return _utc_text(moment or datetime.now(UTC))


@functools.lru_cache(maxsize=1024)
def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the store only takes aware (UTC) times")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc_text(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class EndpointIdentity:
    """Who an endpoint is (discovery's view); the prober's :class:`EndpointScan` says what it speaks.

    ``namespace``/``workload_*``/``pod`` are empty for local and egress scans.
    ``node``, ``service``, ``purpose`` and ``scope`` are attributes, updated on
    every sighting; the rest makes up the subject key.
    """

    ip: str
    port: int
    sni: str | None = None
    namespace: str | None = None
    workload_kind: str | None = None
    workload_name: str | None = None
    pod: str | None = None
    node: str | None = None
    service: str | None = None
    #: The workload's declared purpose (annotation), for the 12.3.3 inventory.
    purpose: str | None = None
    #: e.g. "cde", "connected", "out-of-scope" (annotation or label).
    scope: str | None = None

    @property
    def subject_key(self) -> str:
        """Stable, readable key: ``ns/Kind/name/pod@ip:port#sni`` or ``ip:port#sni``.

        Waiver patterns (SQLite GLOB) match against it.
        """
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        key = f"{host}:{self.port}"
        if self.namespace or self.pod:
            workload = "/".join(
                part or "-"
                for part in (self.namespace, self.workload_kind, self.workload_name, self.pod)
            )
            key = f"{workload}@{key}"
        if self.sni and self.sni != self.ip:
            key = f"{key}#{self.sni}"
        return key
