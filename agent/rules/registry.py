"""The rule table and the function that runs it over a subject."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from datetime import UTC, datetime

from agent.rules.model import DEFAULT_PROFILE, PROFILES, Finding, Rule, RuleSettings
from agent.rules.subjects import EndpointSubject
from agent.tls.model import EndpointScan

#: Every rule by id, in registration order.
RULES: dict[str, Rule] = {}

#: Modules whose import registers rules. Append a module here to add its rules.
RULE_MODULES: list[str] = [
    "agent.rules.tls",
    "agent.rules.certificates",
    "agent.rules.keyvault",
    "agent.rules.reuse",
]


def register(rule: Rule) -> Rule:
    if rule.id in RULES and RULES[rule.id] is not rule:
        raise ValueError(f"rule id {rule.id} registered twice")
    unknown = set(rule.profiles) - set(PROFILES)
    if unknown:
        raise ValueError(f"rule {rule.id}: unknown profiles {sorted(unknown)}")
    RULES[rule.id] = rule
    return rule


def load_rule_modules() -> None:
    for name in RULE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def rules_for_profile(
    profile: str = DEFAULT_PROFILE, subject_type: str | None = None
) -> list[Rule]:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    return [
        rule
        for rule in RULES.values()
        if profile in rule.profiles and (subject_type is None or rule.subject_type == subject_type)
    ]


def evaluate(
    subject: object,
    subject_key: str,
    *,
    subject_type: str = "endpoint",
    profile: str = DEFAULT_PROFILE,
    settings: RuleSettings | None = None,
    rules: Iterable[Rule] | None = None,
) -> list[Finding]:
    """Run every rule of ``profile`` for ``subject_type`` over ``subject``."""
    settings = settings or RuleSettings()
    selected = rules if rules is not None else rules_for_profile(profile, subject_type)
    findings: list[Finding] = []
    for rule in selected:
        if rule.subject_type != subject_type:
            continue
        for violation in rule.check(subject, settings):
            findings.append(
                Finding(
                    rule_id=rule.id,
                    severity=violation.severity or rule.severity_in(profile),
                    requirements=rule.requirements,
                    subject_type=subject_type,
                    subject_key=subject_key,
                    message=violation.message,
                    remediation=rule.remediation,
                    detail_key=violation.detail_key,
                )
            )
    return findings


def evaluate_endpoint(
    scan: EndpointScan,
    subject_key: str,
    *,
    profile: str = DEFAULT_PROFILE,
    settings: RuleSettings | None = None,
    now: datetime | None = None,
) -> list[Finding]:
    """Findings for one endpoint scan judged at ``now`` (default: the current time)."""
    subject = EndpointSubject(scan, now or datetime.now(UTC))
    return evaluate(subject, subject_key, profile=profile, settings=settings)
