"""Rule V12 (PCI DSS v4.0.1 3.6.1.1, service providers): the same key in production and in test.

One agent sees one cluster, so this rule is not run in an agent's cycle: it is run
over a database where several clusters' evidence meets (``cryptoscope collect``,
:mod:`inspector.reuse` gathers the sightings). The rule itself is data plus a small
check, like every other rule, over a :class:`KeyReuseSubject`: one key (SHA-256 of its
SubjectPublicKeyInfo, so a certificate re-issued with the same key is the same key)
and every place it was seen, each with its cluster's ``environment`` (agent setting
``--environment``).

A key seen in a ``prod`` cluster and in a cluster of another known environment fails.
An unknown environment (empty) on either side proves nothing and yields no finding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from agent.rules.model import Rule, RuleSettings, Severity, Violation
from agent.rules.registry import register

#: The production environment; every other known one is non-production.
PRODUCTION = "prod"
#: Known environments (agent setting ``environment``); "" means unknown.
ENVIRONMENTS: tuple[str, ...] = (PRODUCTION, "staging", "test", "dev")

#: ``subject_type`` of a key seen in several places; subject key :func:`key_subject_key`.
KEY = "key"

#: Places named in a finding's message, per side (all are counted first: messages are clipped
#: at 500 characters by the store).
PLACES_NAMED = 2


def parse_environment(text: str) -> str:
    """An environment name (case and surrounding space ignored) or "" (unknown)."""
    value = text.strip().lower()
    if value and value not in ENVIRONMENTS:
        raise ValueError(f"must be one of {', '.join(ENVIRONMENTS)} or empty: {text!r}")
    return value


def key_subject_key(spki_sha256: str) -> str:
    """Stable key of a key subject: ``key:spki-sha256:<hex>``."""
    return f"key:spki-sha256:{spki_sha256}"


@dataclasses.dataclass(frozen=True, slots=True)
class KeySighting:
    """One place a key was seen, in one agent's latest run."""

    environment: str
    agent_id: str
    #: "endpoint" (a TLS leaf) or "mount" (a CSI-mounted certificate or key file).
    kind: str
    #: The endpoint's or the mount's subject key (plus the file, for a mount).
    place: str

    def describe(self) -> str:
        return f"{self.kind} {self.place} (agent {self.agent_id})"


@dataclasses.dataclass(frozen=True, slots=True)
class KeyReuseSubject:
    """One key (SPKI SHA-256) and every place it was seen, across the collected clusters."""

    spki_sha256: str
    sightings: tuple[KeySighting, ...]

    def in_environment(self, production: bool) -> tuple[KeySighting, ...]:
        """Sightings in production (True) or in a known other environment (False); a sighting of
        unknown environment is in neither."""
        return tuple(
            s
            for s in self.sightings
            if s.environment in ENVIRONMENTS and (s.environment == PRODUCTION) == production
        )


def _places(sightings: tuple[KeySighting, ...]) -> str:
    """``2 places: A, B`` / ``5 places: A, B, …`` / ``1 place: A``."""
    named = sorted({s.describe() for s in sightings})
    text = f"{len(named)} place{'s' if len(named) != 1 else ''}: " + ", ".join(named[:PLACES_NAMED])
    return text + (", …" if len(named) > PLACES_NAMED else "")


def _prod_and_non_prod(subject: KeyReuseSubject, settings: RuleSettings) -> Iterator[Violation]:
    production = subject.in_environment(production=True)
    other = subject.in_environment(production=False)
    if production and other:
        environments = ", ".join(sorted({s.environment for s in other}))
        yield Violation(
            f"key SPKI SHA-256 {subject.spki_sha256[:16]}… is used in production"
            f" ({_places(production)}) and in {environments} ({_places(other)})"
        )


RULE = register(
    Rule(
        "V12",
        "Same key in production and non-production clusters",
        Severity.HIGH,
        ("3.6.1.1",),
        "PCI DSS v4.0.1 3.6.1.1 (no same keys in production and test); reference V12",
        "Issue a separate key for each non-production environment (a new key pair, not only a"
        " re-issued certificate) and keep production keys in production vaults only.",
        _prod_and_non_prod,
        subject_type=KEY,
    )
)
