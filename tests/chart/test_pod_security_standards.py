"""The Pod Security Standards, as the admission controller applies them.

Cluster mode meets "restricted". Daemonset mode breaks exactly one rule, the
hostPath volume of the kubelet pods directory (which is why its namespace is
labelled privileged); everything else in "restricted" still holds.
Checks follow https://kubernetes.io/docs/concepts/security/pod-security-standards/.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.chart.rendering import Manifest, render
from tests.chart.scenarios import SCENARIOS

pytestmark = pytest.mark.needs_helm

RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
ALLOWED_ADDED_CAPABILITIES = {"NET_BIND_SERVICE"}


def containers(pod: Manifest) -> Iterator[Manifest]:
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


def violations(pod: Manifest) -> list[str]:
    """Every baseline and restricted rule this pod spec breaks, one line each."""
    found: list[str] = []
    pod_context: dict[str, Any] = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(flag)
    for volume in pod.get("volumes", []):
        kind = next(key for key in volume if key != "name")
        if kind not in RESTRICTED_VOLUME_TYPES:
            found.append(f"{kind} volume {volume['name']}")
    if pod_context.get("sysctls"):
        found.append("sysctls")
    for container in containers(pod):
        name = container["name"]
        context: dict[str, Any] = container.get("securityContext", {})
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation not false")
        if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
            found.append(f"{name}: runAsNonRoot not true")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccomp {seccomp.get('type')}")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{name}: capabilities not dropped")
        for added in set(capabilities.get("add", [])) - ALLOWED_ADDED_CAPABILITIES:
            found.append(f"{name}: adds {added}")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append(f"{name}: hostPort")
        if context.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount")
    return found


def the_pod(values: dict[str, Any]) -> Manifest:
    ((_, pod),) = list(render(values).pod_specs())
    return pod


@pytest.mark.parametrize("scenario", ["cluster", "cluster-everything"])
def test_cluster_mode_meets_restricted(scenario: str) -> None:
    values = {**SCENARIOS[scenario], "storage": {"type": "emptyDir"}}
    assert violations(the_pod(values)) == []


@pytest.mark.parametrize("scenario", ["default", "daemonset"])
def test_daemonset_breaks_only_the_hostpath_rule(scenario: str) -> None:
    assert violations(the_pod(SCENARIOS[scenario])) == ["hostPath volume kubelet-pods"]


def test_hostpath_storage_adds_its_volume_and_the_ownership_init_container() -> None:
    assert violations(the_pod(SCENARIOS["daemonset-everything"])) == [
        "hostPath volume data",
        "hostPath volume kubelet-pods",
        "storage-ownership: runAsNonRoot not true",
        "storage-ownership: runAsUser 0",
        "storage-ownership: adds CHOWN",
    ]


def test_the_checker_sees_a_privileged_pod() -> None:
    """Negative control: the checks above can fail."""
    pod = copy.deepcopy(the_pod({"mode": "cluster"}))  # the render is cached: never mutate it
    pod["hostNetwork"] = True
    pod["containers"][0]["securityContext"] = {"privileged": True}
    found = violations(pod)
    assert "hostNetwork" in found and "cryptoscope: privileged" in found
    assert "cryptoscope: capabilities not dropped" in found
