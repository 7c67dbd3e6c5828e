"""Bad values are refused before anything reaches a cluster, with helm's reason."""

from __future__ import annotations

import copy
import functools
import subprocess
from typing import Any

import pytest

from tests.chart.rendering import render_text

pytestmark = pytest.mark.needs_helm

SCHEMA_HEADER = "values don't meet the specifications of the schema(s)"

#: values -> the line helm must print.
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    (
        "unknown mode",
        {"mode": "everywhere"},
        'mode: mode must be one of the following: "daemonset", "cluster", "sidecar"',
    ),
    (
        "typo in a setting",
        {"agent": {"scanIntervall": 60}},
        "agent: Additional property scanIntervall is not allowed",
    ),
    ("unknown top-level key", {"agnet": {}}, "(root): Additional property agnet is not allowed"),
    (
        "unknown profile",
        {"agent": {"profile": "fips"}},
        'agent.profile: agent.profile must be one of the following: "pci", "nist"',
    ),
    (
        "zero concurrency",
        {"agent": {"concurrency": 0}},
        "agent.concurrency: Must be greater than or equal to 1",
    ),
    (
        "fractional concurrency",
        {"agent": {"concurrency": 2.5}},
        "agent.concurrency: Invalid type. Expected: integer, given: number",
    ),
    (
        "interval as text",
        {"agent": {"scanInterval": "5m"}},
        "agent.scanInterval: Invalid type. Expected: number, given: string",
    ),
    (
        "negative timeout",
        {"agent": {"connectTimeout": -1}},
        "agent.connectTimeout: Must be greater than 0",
    ),
    ("jitter above one", {"agent": {"jitter": 2}}, "agent.jitter: Must be less than or equal to 1"),
    (
        "listen without port",
        {"agent": {"listen": "0.0.0.0"}},
        "agent.listen: Does not match pattern",
    ),
    (
        "egress target without port",
        {"agent": {"egressTargets": ["payments.example.test"]}},
        "agent.egressTargets.0: Does not match pattern",
    ),
    (
        "egress targets as text",
        {"agent": {"egressTargets": "a:443,b:443"}},
        "agent.egressTargets: Invalid type. Expected: array, given: string",
    ),
    (
        "port out of range",
        {"agent": {"sidecarExcludePorts": [70000]}},
        "agent.sidecarExcludePorts.0: Must be less than or equal to 65535",
    ),
    (
        "relative database path",
        {"agent": {"db": "cryptoscope.db"}},
        "agent.db: Does not match pattern",
    ),
    (
        "client id not a GUID",
        {"serviceAccount": {"workloadIdentity": {"clientId": "my-identity"}}},
        "serviceAccount.workloadIdentity.clientId: Does not match pattern",
    ),
    (
        "unknown storage",
        {"storage": {"type": "pvc"}},
        'storage.type: storage.type must be one of the following: "emptyDir", "hostPath"',
    ),
    (
        "ca bundle that is no PEM",
        {"caBundle": {"pem": "not a certificate"}},
        "caBundle.pem: Does not match pattern",
    ),
    (
        "evidence reader without kind",
        {"evidenceReaders": {"subjects": [{"name": "alice"}]}},
        "evidenceReaders.subjects.0: kind is required",
    ),
]


def leaf_paths(values: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, value in values.items():
        if isinstance(value, dict) and value:
            paths |= leaf_paths(value, f"{prefix}{key}.")
        else:
            paths.add(f"{prefix}{key}")
    return paths


def merge(into: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


@functools.cache
def grouped_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """One helm run per group of cases that touch different values (helm reports every
    problem at once), so 18 cases cost 2 runs; each case still asserts its own line."""
    groups: list[tuple[set[str], dict[str, Any], list[str]]] = []
    for case, values, _ in REFUSED:
        paths = leaf_paths(values)
        group = next((g for g in groups if not g[0] & paths), None)
        if group is None:
            group = (set(), {}, [])
            groups.append(group)
        group[0].update(paths)
        merge(group[1], copy.deepcopy(values))
        group[2].append(case)
    runs = {}
    for _, merged, cases in groups:
        completed = render_text(merged)
        for case in cases:
            runs[case] = completed
    return runs


@pytest.mark.parametrize(
    ("case", "values", "message"), REFUSED, ids=[case for case, _, _ in REFUSED]
)
def test_schema_refuses_bad_values_with_the_reason(
    case: str, values: dict[str, Any], message: str
) -> None:
    completed = grouped_runs()[case]
    assert completed.returncode != 0, f"{case}: accepted"
    assert SCHEMA_HEADER in completed.stderr, completed.stderr
    assert f"- {message}" in completed.stderr, completed.stderr
    assert completed.stdout == "", "nothing is rendered from refused values"


def test_one_bad_value_alone_is_refused() -> None:
    completed = render_text({"agent": {"profile": "fips"}})
    assert completed.returncode != 0 and completed.stdout == ""
    assert completed.stderr.strip().endswith(
        '- agent.profile: agent.profile must be one of the following: "pci", "nist"'
    ), completed.stderr


#: Checks across values that JSON Schema cannot express (templates/validate.yaml).
REFUSED_BY_TEMPLATE: list[tuple[str, dict[str, Any], str]] = [
    (
        "two CA sources",
        {"caBundle": {"existingConfigMap": "cluster-ca", "pem": "-----BEGIN CERTIFICATE-----\n"}},
        "caBundle: give either existingConfigMap or pem, not both",
    ),
]


@pytest.mark.parametrize(
    ("case", "values", "message"), REFUSED_BY_TEMPLATE, ids=[c for c, _, _ in REFUSED_BY_TEMPLATE]
)
def test_template_refuses_inconsistent_values(
    case: str, values: dict[str, Any], message: str
) -> None:
    completed = render_text(values)
    assert completed.returncode != 0, f"{case}: accepted"
    assert message in completed.stderr, completed.stderr
