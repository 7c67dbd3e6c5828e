"""PCI DSS 4.0.1 rules: one table (:data:`RULES`), each rule data plus a small check.

Built-in rule modules register themselves when this package is imported:
:mod:`agent.rules.tls` (protocols, cipher suites, groups, plaintext ports) and
:mod:`agent.rules.certificates`. Another module adds its own rules the same
way (e.g. ``agent/rules/keyvault.py``)::

    from agent.rules.registry import register
    register(Rule(id="V1", ..., subject_type="vault_object", check=...))

and is listed in :data:`agent.rules.registry.RULE_MODULES`.
"""

from agent.rules.model import (
    DEFAULT_PROFILE,
    PROFILES,
    Finding,
    Rule,
    RuleSettings,
    Severity,
    Violation,
)
from agent.rules.registry import (
    RULES,
    evaluate,
    evaluate_endpoint,
    load_rule_modules,
    register,
    rules_for_profile,
)

load_rule_modules()

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "RULES",
    "Finding",
    "Rule",
    "RuleSettings",
    "Severity",
    "Violation",
    "evaluate",
    "evaluate_endpoint",
    "register",
    "rules_for_profile",
]
