"""helm lint and helm template for each mode; every manifest checked against the Kubernetes schemas."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from tests.chart.rendering import (
    CHART,
    FULLNAME,
    KUBERNETES_VERSION,
    NAMESPACE,
    Manifest,
    Rendered,
    render,
    run_helm,
    sidecar_snippet,
)
from tests.chart.scenarios import SCENARIOS

pytestmark = pytest.mark.needs_helm

#: Custom resources kubernetes-validate has no schema for: checked structurally below.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def validate(manifest: Manifest, version: str = KUBERNETES_VERSION) -> None:
    kubernetes_validate.validate(manifest, version, strict=True)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_passes_strictly(scenario: str) -> None:
    completed = run_helm(
        "lint", str(CHART), "--strict", "--namespace", NAMESPACE, values=SCENARIOS[scenario]
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "0 chart(s) failed" in completed.stdout


@pytest.mark.parametrize("version", [KUBERNETES_VERSION, kubernetes_validate.latest_version()])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_manifest_is_valid_kubernetes(scenario: str, version: str) -> None:
    rendered = render(SCENARIOS[scenario])
    assert rendered.manifests
    for manifest in rendered.manifests:
        if (manifest["apiVersion"], manifest["kind"]) in CUSTOM_KINDS:
            continue
        validate(manifest, version)


def test_the_validator_refuses_a_broken_manifest() -> None:
    """Negative control: the schema check above is not a formality."""
    daemonset = copy.deepcopy(render({}).one("DaemonSet"))
    daemonset["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnlyy"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(daemonset)
    daemonset = copy.deepcopy(render({}).one("DaemonSet"))
    daemonset["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "https"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(daemonset)


@pytest.mark.parametrize("scenario", ["default", "daemonset", "daemonset-everything"])
def test_daemonset_mode_renders_one_daemonset(scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    assert [m["metadata"]["name"] for m in rendered.of_kind("DaemonSet")] == [FULLNAME]
    assert not rendered.of_kind("Deployment")
    assert f"{FULLNAME}-sidecar" not in {
        m["metadata"]["name"] for m in rendered.of_kind("ConfigMap")
    }


@pytest.mark.parametrize("scenario", ["cluster", "cluster-everything"])
def test_cluster_mode_renders_one_deployment_with_one_replica(scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    deployment = rendered.one("Deployment", FULLNAME)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert not rendered.of_kind("DaemonSet")


@pytest.mark.parametrize("scenario", ["sidecar", "sidecar-everything"])
def test_sidecar_mode_renders_a_snippet_that_is_a_valid_pod(scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    assert not rendered.of_kind("DaemonSet") and not rendered.of_kind("Deployment")
    assert not rendered.of_kind("Service") and not rendered.of_kind("NetworkPolicy")
    containers, volumes = sidecar_snippet(rendered)
    workload: dict[str, Any] = {"name": "app", "image": "registry.example.test/checkout:1.0"}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "checkout", "namespace": "payments"},
        "spec": {"containers": [workload, *containers], "volumes": volumes},
    }
    validate(pod)
    mounted = {mount["name"] for mount in containers[0]["volumeMounts"]}
    assert mounted == {volume["name"] for volume in volumes}
    assert all(name.startswith("cryptoscope-") for name in mounted), (
        "volume names must not clash with the workload's"
    )
    assert not any("hostPath" in volume for volume in volumes)


def test_service_monitor_points_at_the_agent_service() -> None:
    rendered: Rendered = render(SCENARIOS["daemonset-everything"])
    monitor = rendered.one("ServiceMonitor", FULLNAME)
    service = rendered.one("Service", FULLNAME)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert (endpoint["scheme"], endpoint["path"]) == ("https", "/metrics")
    assert endpoint["tlsConfig"]["ca"]["secret"]["name"] == "cryptoscope-endpoint-ca"
    assert "insecureSkipVerify" not in endpoint["tlsConfig"]
    assert not render({}).of_kind("ServiceMonitor"), (
        "off by default (needs the Prometheus Operator CRDs)"
    )


def test_service_targets_the_agent_port_over_https() -> None:
    rendered = render({"agent": {"listen": "[::]:10443"}})
    (port,) = rendered.one("Service", FULLNAME)["spec"]["ports"]
    container = rendered.agent_container()
    assert port["targetPort"] == "https" and port["appProtocol"] == "https"
    assert container["ports"] == [{"name": "https", "containerPort": 10443, "protocol": "TCP"}]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "https", "scheme": "HTTPS"}


def test_image_reference() -> None:
    assert render({}).agent_container()["image"] == "cryptoscope:0.1.0"
    pinned = render(SCENARIOS["daemonset-everything"]).agent_container()["image"]
    assert pinned == "registry.example.test/cryptoscope@sha256:" + "ab" * 32


def test_docs_describe_every_value() -> None:
    """docs/helm.md has a row for every leaf of values.yaml."""
    from tests.chart.rendering import ROOT, chart_values

    docs = (ROOT / "docs" / "helm.md").read_text()
    opaque = {"podSecurityContext", "securityContext", "resources", "nodeSelector", "affinity"}

    def leaves(node: dict[str, Any], prefix: str = "") -> list[str]:
        paths = []
        for key, value in node.items():
            path = f"{prefix}{key}"
            if path.startswith("probes."):
                paths.append(path + ".*")
            elif (
                isinstance(value, dict)
                and value
                and path not in opaque
                and path != "networkPolicy.egress.dns"
            ):
                paths += leaves(value, path + ".")
            else:
                paths.append(path)
        return paths

    missing = [path for path in leaves(chart_values()) if f"| `{path}` |" not in docs]
    assert not missing, f"docs/helm.md has no row for: {missing}"
