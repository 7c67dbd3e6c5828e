"""What the rules look at. Endpoint rules get an :class:`EndpointSubject`."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime

from agent.tls.model import PROTOCOL_NAMES, EndpointScan

_PROTOCOL_ORDER = {name: index for index, name in enumerate(PROTOCOL_NAMES)}


@dataclasses.dataclass(frozen=True)
class EndpointSubject:
    """One endpoint's scan, judged at ``now`` (certificate dates are compared with it)."""

    scan: EndpointScan
    now: datetime = dataclasses.field(default_factory=lambda: datetime.now(UTC))

    def accepted(self, protocol: str) -> bool:
        result = self.scan.protocols.get(protocol)
        return bool(result and result.accepted)

    def suites(self) -> list[tuple[str, str]]:
        """(protocol, suite) for every accepted suite, oldest protocol first."""
        return self._suites

    @functools.cached_property
    def _suites(self) -> list[tuple[str, str]]:
        ordered = sorted(
            self.scan.protocols.items(),
            key=lambda item: _PROTOCOL_ORDER.get(item[0], len(PROTOCOL_NAMES)),
        )
        return [
            (protocol, suite)
            for protocol, result in ordered
            if result.accepted
            for suite in result.suites
        ]
