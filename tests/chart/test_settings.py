"""The chart's environment is wired to agent/config.py: one source of truth for names.

Every environment variable the chart sets is a setting's variable; every
setting is covered by a value (or wired by the chart, or does not belong in a
cluster, with the reason written here); the chart's defaults are the agent's.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from agent.config import SETTINGS, SETTINGS_BY_NAME, Setting, resolve
from tests.chart.rendering import Manifest, chart_schema, chart_values, render
from tests.chart.scenarios import SCENARIOS

pytestmark = pytest.mark.needs_helm

#: Settings the chart sets from something other than `.Values.agent`.
CHART_WIRED: dict[str, str] = {
    "mode": "the top-level `mode` value, which also picks the workload kind",
    "node_name": "downward API spec.nodeName",
    "pod_name": "downward API metadata.name",
    "pod_namespace": "downward API metadata.namespace",
    "ca_file": "the mounted `caBundle` ConfigMap",
    "tls_cert_file": "the mounted `tls.existingSecret`",
    "tls_key_file": "the mounted `tls.existingSecret`",
}
#: Settings that have no meaning for an agent running in a pod.
NOT_IN_CLUSTER: dict[str, str] = {
    "kubeconfig": "in a pod the agent uses the in-cluster configuration",
    "context": "a kubeconfig context: outside a cluster only",
    "once": "one cycle then exit: a DaemonSet would restart it forever",
    "keyvault_urls": "in a cluster the SPC's keyvaultName and cloudName give the vault URL; overrides serve loopback vaults",
    "keyvault_ca_file": "Key Vault presents a publicly trusted certificate; a CA file serves loopback vaults",
    "keyvault_verify_challenge_resource": "always on in a cluster; off only for loopback test vaults",
}

#: A non-default value for every `.Values.agent` key, to show each reaches its variable.
NON_DEFAULTS: dict[str, Any] = {
    "scanInterval": 600,
    "jitter": 0.25,
    "cycleDeadline": 500,
    "concurrency": 8,
    "connectTimeout": 1.5,
    "readTimeout": 4,
    "endpointDeadline": 30,
    "profile": "nist",
    "retentionRuns": 1000000,
    "certExpiryWarnDays": 45,
    "certExpiryCriticalDays": 7,
    "checkRevocation": False,
    "revocationTimeout": 4.5,
    "db": "/data/agent.db",
    "listen": "[::]:10443",
    "kubeletPodsDir": "/var/lib/k8s/kubelet/pods",
    "keyvaultEnabled": False,
    "secretsCryptoperiods": "secret=180,key=90,cert=90",
    "egressTargets": ["payments.example.test:443", "[2001:db8::5]:5432/db.example.test"],
    "clusterDomain": "cluster.example",
    "apiTimeout": 12.5,
    "pageSize": 250,
    "watch": False,
    "minCycleGap": 0,
    "apiBackoffMax": 120,
    "ingress": False,
    "ingressService": "ingress-nginx/ingress-nginx-controller",
    "sidecarExcludePorts": [15090, 15021],
    "agentId": "agent-a",
    "authzVerb": "create",
    "authzGroup": "",
    "authzResource": "services",
    "authzSubresource": "proxy",
    "authzNamespace": "audit-evidence",
    "environment": "test",
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def env_of(container: Manifest) -> dict[str, Manifest]:
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), f"duplicate variables: {names}"
    return {e["name"]: e for e in container["env"]}


def parsed(setting: Setting, env: dict[str, Manifest]) -> Any:
    """What the agent would read: the variable parsed by the setting, or its default when unset."""
    if setting.env not in env:
        return setting.default
    return setting.parse(env[setting.env]["value"])


def test_every_setting_is_covered_once() -> None:
    agent_values = chart_values()["agent"]
    by_camel = {camel(setting.name): setting for setting in SETTINGS}
    unknown = sorted(set(agent_values) - set(by_camel))
    assert not unknown, f"values.yaml agent keys that are no setting in agent/config.py: {unknown}"
    stale = sorted((set(CHART_WIRED) | set(NOT_IN_CLUSTER)) - set(SETTINGS_BY_NAME))
    assert not stale, f"tests/chart lists settings agent/config.py no longer has: {stale}"
    missing = []
    for setting in SETTINGS:
        homes = [
            camel(setting.name) in agent_values,
            setting.name in CHART_WIRED,
            setting.name in NOT_IN_CLUSTER,
        ]
        assert sum(homes) <= 1, f"{setting.name} is covered twice"
        if not any(homes):
            missing.append(f"{setting.name} ({setting.env})")
    assert not missing, (
        "agent/config.py has settings the chart does not cover: "
        + ", ".join(missing)
        + ". Add agent.<camelCaseName> with the agent's default to charts/cryptoscope/values.yaml "
        "and values.schema.json (or say in tests/chart/test_settings.py why the chart wires it itself)."
    )


def test_schema_describes_exactly_the_agent_values() -> None:
    schema_agent = chart_schema()["properties"]["agent"]
    assert schema_agent["additionalProperties"] is False
    assert set(schema_agent["properties"]) == set(chart_values()["agent"])
    for key, prop in schema_agent["properties"].items():
        env = SETTINGS_BY_NAME[re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()].env
        assert env in prop["description"], f"schema description of agent.{key} should name {env}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_variable_the_chart_sets_is_a_setting(scenario: str) -> None:
    known = {setting.env for setting in SETTINGS}
    env = env_of(render(SCENARIOS[scenario]).agent_container())
    assert set(env) <= known, (
        f"variables that are no setting in agent/config.py: {sorted(set(env) - known)}"
    )
    for setting in SETTINGS:
        if setting.env in env and "value" in env[setting.env]:
            setting.parse(env[setting.env]["value"])  # the agent would accept it at start


def test_chart_defaults_are_the_agents_defaults() -> None:
    env = env_of(render({}).agent_container())
    for key in chart_values()["agent"]:
        setting = SETTINGS_BY_NAME[re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()]
        assert parsed(setting, env) == setting.default, (
            f"agent.{key} default differs from agent/config.py"
        )


def test_every_value_reaches_its_variable() -> None:
    assert set(NON_DEFAULTS) == set(chart_values()["agent"]), (
        "give every agent value a non-default sample here"
    )
    env = env_of(render({"agent": NON_DEFAULTS}).agent_container())
    for key, sample in NON_DEFAULTS.items():
        setting = SETTINGS_BY_NAME[re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()]
        assert setting.env in env, f"agent.{key} does not reach {setting.env}"
        text = env[setting.env]["value"]
        expected = ",".join(str(item) for item in sample) if isinstance(sample, list) else sample
        if isinstance(sample, bool):
            expected = str(sample).lower()
        assert setting.parse(text) == setting.parse(str(expected)), (
            f"{setting.env}={text!r} for agent.{key}={sample!r}"
        )
        if isinstance(sample, int) and not isinstance(sample, bool):
            assert text == str(sample), (
                f"{setting.env}={text!r}: whole numbers must render as integers"
            )


def test_downward_api_and_chart_wired_variables() -> None:
    rendered = render(SCENARIOS["daemonset-everything"])
    env = env_of(rendered.agent_container())
    field_paths = {
        "node_name": "spec.nodeName",
        "pod_name": "metadata.name",
        "pod_namespace": "metadata.namespace",
    }
    for name, path in field_paths.items():
        assert env[SETTINGS_BY_NAME[name].env]["valueFrom"] == {"fieldRef": {"fieldPath": path}}
    assert env[SETTINGS_BY_NAME["mode"].env]["value"] == "daemonset"
    mounts = {m["name"]: m["mountPath"] for m in rendered.agent_container()["volumeMounts"]}
    assert env[SETTINGS_BY_NAME["ca_file"].env]["value"] == mounts["ca-bundle"] + "/ca.crt"
    assert env[SETTINGS_BY_NAME["tls_cert_file"].env]["value"] == mounts["tls"] + "/tls.crt"
    assert env[SETTINGS_BY_NAME["tls_key_file"].env]["value"] == mounts["tls"] + "/tls.key"
    (config_map,) = [
        m for m in rendered.of_kind("ConfigMap") if m["metadata"]["name"].endswith("-ca")
    ]
    assert "-----BEGIN CERTIFICATE-----" in config_map["data"]["ca.crt"]
    plain = env_of(render({}).agent_container())
    for name in ("ca_file", "tls_cert_file", "tls_key_file"):
        assert SETTINGS_BY_NAME[name].env not in plain, "unset: the agent's own default applies"


@pytest.mark.parametrize("mode", ["daemonset", "cluster", "sidecar"])
def test_mode_reaches_the_agent(mode: str) -> None:
    values = SCENARIOS[mode]
    env = env_of(render(values).agent_container())
    assert SETTINGS_BY_NAME["mode"].parse(env["CRYPTOSCOPE_MODE"]["value"]) == mode


def test_schema_enums_are_the_agents() -> None:
    from agent.config import MODES
    from agent.rules import PROFILES

    schema = chart_schema()["properties"]
    assert sorted(schema["mode"]["enum"]) == sorted(MODES)
    assert sorted(schema["agent"]["properties"]["profile"]["enum"]) == sorted(PROFILES)


@pytest.mark.parametrize("agent_values", [{}, NON_DEFAULTS], ids=["defaults", "non-defaults"])
def test_the_agent_accepts_the_rendered_environment(agent_values: dict[str, Any]) -> None:
    """The agent's own start-up validation (agent.config.resolve) takes the chart's environment as is."""
    container = render({"agent": agent_values}).agent_container()
    downward = {
        "spec.nodeName": "aks-pci-0",
        "metadata.name": "agent-x",
        "metadata.namespace": "cryptoscope",
    }
    environ = {
        e["name"]: e["value"] if "value" in e else downward[e["valueFrom"]["fieldRef"]["fieldPath"]]
        for e in container["env"]
    }
    resolved = resolve({}, environ)
    assert resolved["node_name"] == "aks-pci-0" and resolved["mode"] == "daemonset"
    for key, sample in agent_values.items():
        name = re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()
        expected = ",".join(map(str, sample)) if isinstance(sample, list) else sample
        assert resolved[name] == expected, (key, resolved[name])
