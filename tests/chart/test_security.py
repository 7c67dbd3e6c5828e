"""The pod's hardening, and the kubelet pods directory mounted read-only with HostToContainer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.rendering import Manifest, Rendered, chart_values, render, sidecar_snippet
from tests.chart.scenarios import SCENARIOS

pytestmark = pytest.mark.needs_helm

WORKLOAD_SCENARIOS = [name for name in SCENARIOS if not name.startswith("sidecar")]
KUBELET_PODS_DIR = chart_values()["agent"]["kubeletPodsDir"]


def assert_hardened(container: Manifest, pod_security: dict[str, Any]) -> None:
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context.get("privileged", False) is False
    assert context["capabilities"] == {"drop": ["ALL"]}, "no capability added back"
    seccomp = context.get("seccompProfile") or pod_security.get("seccompProfile")
    assert seccomp == {"type": "RuntimeDefault"}
    run_as_non_root = context.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
    run_as_user = context.get("runAsUser", pod_security.get("runAsUser"))
    assert run_as_non_root is True and isinstance(run_as_user, int) and run_as_user > 0
    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys() and {"cpu", "memory"} <= resources[
        "limits"
    ].keys()


@pytest.mark.parametrize("scenario", WORKLOAD_SCENARIOS)
def test_agent_pod_is_hardened(scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    for _, pod in rendered.pod_specs():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert security["supplementalGroups"] == [0], (
            "group 0 walks the kubelet's 0750 root:root directories"
        )
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(flag), flag
        (container,) = pod["containers"]
        assert_hardened(container, security)
        assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), "a writable /tmp"


@pytest.mark.parametrize("scenario", ["sidecar", "sidecar-everything"])
def test_sidecar_container_carries_its_own_identity(scenario: str) -> None:
    (container,), _ = sidecar_snippet(render(SCENARIOS[scenario]))
    # In a workload's pod the pod-level securityContext is the workload's: ours is on the container.
    assert_hardened(container, {})


def kubelet_mounts(rendered: Rendered) -> list[tuple[Manifest, Manifest]]:
    """(volume, mount) pairs of every hostPath volume of the agent pod."""
    pairs = []
    for _, pod in rendered.pod_specs():
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in pod["containers"]:
            for mount in container["volumeMounts"]:
                if "hostPath" in volumes[mount["name"]]:
                    pairs.append((volumes[mount["name"]], mount))
    return pairs


@pytest.mark.parametrize("scenario", ["default", "daemonset", "daemonset-everything"])
def test_kubelet_pods_dir_is_read_only_with_host_to_container(scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    pairs = kubelet_mounts(rendered)
    kubelet = [(v, m) for v, m in pairs if v["hostPath"]["path"] == KUBELET_PODS_DIR]
    assert len(kubelet) == 1, pairs
    volume, mount = kubelet[0]
    assert volume["hostPath"]["type"] == "Directory"
    assert mount["readOnly"] is True
    assert mount["mountPropagation"] == "HostToContainer"
    assert mount["mountPath"] == KUBELET_PODS_DIR, (
        "the same path as the agent's kubelet_pods_dir setting"
    )
    # The only other hostPath allowed is the agent's own database directory (storage.type=hostPath).
    for other_volume, other_mount in pairs:
        if other_volume is not volume:
            assert other_volume["hostPath"]["path"] == chart_values()["storage"]["hostPath"]["path"]
            assert other_mount.get("mountPropagation", "None") == "None"


def test_kubelet_pods_dir_follows_the_setting() -> None:
    rendered = render({"agent": {"kubeletPodsDir": "/var/lib/k8s/kubelet/pods"}})
    ((volume, mount),) = kubelet_mounts(rendered)
    assert volume["hostPath"]["path"] == mount["mountPath"] == "/var/lib/k8s/kubelet/pods"
    env = {e["name"]: e.get("value") for e in rendered.agent_container()["env"]}
    assert env["CRYPTOSCOPE_KUBELET_PODS_DIR"] == "/var/lib/k8s/kubelet/pods"


@pytest.mark.parametrize("scenario", ["cluster", "sidecar"])
def test_no_node_files_outside_daemonset_mode(scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    assert kubelet_mounts(rendered) == []


def test_hostpath_storage_gets_a_minimal_ownership_init_container() -> None:
    rendered = render({"storage": {"type": "hostPath"}})
    (_, pod) = next(rendered.pod_specs())
    (init,) = pod["initContainers"]
    values = chart_values()["podSecurityContext"]
    assert init["command"] == [
        "chown",
        f"{values['runAsUser']}:{values['runAsGroup']}",
        "/var/lib/cryptoscope",
    ]
    context = init["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    assert (
        context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    )
    data = next(v for v in pod["volumes"] if v["name"] == "data")
    assert data["hostPath"] == {"path": "/var/lib/cryptoscope", "type": "DirectoryOrCreate"}
    assert "initContainers" not in next(render({}).pod_specs())[1]
    assert (
        "initContainers"
        not in next(
            render(
                {"storage": {"type": "hostPath", "hostPath": {"fixOwnership": False}}}
            ).pod_specs()
        )[1]
    )


def test_database_volume_is_mounted_on_the_db_directory() -> None:
    rendered = render({"agent": {"db": "/data/evidence/agent.db"}})
    container = rendered.agent_container()
    data = next(m for m in container["volumeMounts"] if m["name"] == "data")
    assert data["mountPath"] == "/data/evidence"
    assert not data.get("readOnly")


def test_mounted_tls_and_ca_are_read_only_and_never_in_rbac() -> None:
    rendered = render(SCENARIOS["daemonset-everything"])
    container = rendered.agent_container()
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["tls"]["readOnly"] is True and mounts["ca-bundle"]["readOnly"] is True
    (_, pod) = next(rendered.pod_specs())
    tls = next(v for v in pod["volumes"] if v["name"] == "tls")
    assert tls["secret"] == {"secretName": "cryptoscope-endpoint-tls", "defaultMode": 0o440}


def test_priority_class_and_tolerations() -> None:
    rendered = render(SCENARIOS["daemonset-everything"])
    (_, pod) = next(rendered.pod_specs())
    priority = rendered.one("PriorityClass")
    assert pod["priorityClassName"] == priority["metadata"]["name"]
    assert priority["preemptionPolicy"] == "Never" and priority["globalDefault"] is False
    assert pod["tolerations"] == [{"operator": "Exists"}], "every node, tainted ones included"
    named = render({"priorityClassName": "platform-agents"})
    assert next(named.pod_specs())[1]["priorityClassName"] == "platform-agents"
    assert not named.of_kind("PriorityClass")
    assert "priorityClassName" not in next(render({}).pod_specs())[1]
    custom = render(
        {
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "pci", "effect": "NoSchedule"}
            ]
        }
    )
    assert next(custom.pod_specs())[1]["tolerations"][0]["key"] == "dedicated"


def test_grace_period_covers_the_agents_shutdown() -> None:
    """SIGTERM: the current write, then the pod watch in flight (up to apiTimeout + 5 s)."""
    (_, pod) = next(render({}).pod_specs())
    assert pod["terminationGracePeriodSeconds"] > chart_values()["agent"]["apiTimeout"] + 5
