"""The vocabulary of rules: severities, rules, and the findings they produce.

A :class:`Rule` is data plus one small check function. A check looks at one
subject (an endpoint scan, a certificate, and later a secret object or a Key
Vault object) and yields :class:`Violation` values; :func:`agent.rules.evaluate`
turns them into :class:`Finding` rows that the store records.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class Severity(enum.StrEnum):
    """How bad a finding is. FAIL in the reference's tables is HIGH, WARN is MEDIUM."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.MEDIUM: 2,
    Severity.LOW: 3,
    Severity.INFO: 4,
}

#: The profiles every rule may belong to. ``pci`` is the default.
PROFILES: tuple[str, ...] = ("pci", "nist")
DEFAULT_PROFILE = "pci"


@dataclasses.dataclass(frozen=True, slots=True)
class RuleSettings:
    """Knobs the checks read. Defaults follow the reference (warn 28 days, critical 14)."""

    expiry_warn_days: int = 28
    expiry_critical_days: int = 14

    def __post_init__(self) -> None:
        if self.expiry_critical_days < 0 or self.expiry_warn_days < 0:
            raise ValueError("certificate expiry days must be >= 0")
        if self.expiry_critical_days > self.expiry_warn_days:
            raise ValueError(
                f"critical expiry days ({self.expiry_critical_days}) exceed the warn days"
                f" ({self.expiry_warn_days})"
            )

    @classmethod
    def from_agent_settings(cls, settings: Any) -> RuleSettings:
        """The rule knobs of the agent's settings (``cert_expiry_warn_days``, ``cert_expiry_critical_days``)."""
        defaults = cls()
        return cls(
            expiry_warn_days=int(
                getattr(settings, "cert_expiry_warn_days", defaults.expiry_warn_days)
            ),
            expiry_critical_days=int(
                getattr(settings, "cert_expiry_critical_days", defaults.expiry_critical_days)
            ),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Violation:
    """What a check reports: a message, and a key when one subject can fail a rule several times."""

    message: str
    #: Distinguishes several findings of one rule on one subject (e.g. a certificate fingerprint).
    detail_key: str = ""
    #: Overrides the rule's severity for this one violation (e.g. "expires in 3 days").
    severity: Severity | None = None


#: A check receives the subject (type depends on ``Rule.subject_type``) and the settings.
Check = Callable[[Any, RuleSettings], Iterable[Violation]]


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    severity: Severity
    #: PCI DSS v4.0.1 requirement numbers this rule evidences.
    requirements: tuple[str, ...]
    #: Where the rule comes from (NIST SP 800-52r2, SP 800-131A r2, PCI glossary, Mozilla, CA/B Forum).
    source: str
    remediation: str
    check: Check
    #: Profiles the rule runs in.
    profiles: frozenset[str] = frozenset(PROFILES)
    #: Severity per profile where it differs from ``severity``.
    profile_severity: Mapping[str, Severity] = dataclasses.field(default_factory=dict)
    #: "endpoint" (an :class:`agent.rules.subjects.EndpointSubject`); other modules add their own.
    subject_type: str = "endpoint"

    def severity_in(self, profile: str) -> Severity:
        return self.profile_severity.get(profile, self.severity)


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One rule failing on one subject in one run; the store tracks it across runs."""

    rule_id: str
    severity: Severity
    requirements: tuple[str, ...]
    #: "endpoint", "certificate", later "secret_object", "vault_object".
    subject_type: str
    #: Human-readable, stable key of the subject; waiver patterns match it (GLOB).
    subject_key: str
    message: str
    remediation: str = ""
    detail_key: str = ""
