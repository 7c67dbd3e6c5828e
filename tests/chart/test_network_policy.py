"""NetworkPolicy: in, the agent's port only; out, DNS, the API server, the pods' ports and Key Vault."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.rendering import FULLNAME, Manifest, render
from tests.chart.scenarios import SCENARIOS

pytestmark = pytest.mark.needs_helm


def policy(values: dict[str, Any]) -> Manifest:
    return render(values).one("NetworkPolicy", FULLNAME)


def egress_ports(rule: Manifest) -> set[tuple[int, str]]:
    return {(port["port"], port["protocol"]) for port in rule.get("ports", [])}


def ip_blocks(rule: Manifest) -> set[str]:
    return {peer["ipBlock"]["cidr"] for peer in rule.get("to", []) if "ipBlock" in peer}


@pytest.mark.parametrize("scenario", ["default", "cluster", "daemonset-everything"])
def test_policy_selects_the_agent_pods_both_ways(scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    network_policy = rendered.one("NetworkPolicy", FULLNAME)
    workload = next(m for m in rendered.manifests if m["kind"] in ("DaemonSet", "Deployment"))
    assert (
        network_policy["spec"]["podSelector"]["matchLabels"]
        == workload["spec"]["selector"]["matchLabels"]
    )
    assert network_policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_ingress_is_the_agent_port_only() -> None:
    (rule,) = policy({"agent": {"listen": "0.0.0.0:10443"}})["spec"]["ingress"]
    assert rule["ports"] == [{"port": 10443, "protocol": "TCP"}]
    assert "from" not in rule
    (restricted,) = policy(SCENARIOS["daemonset-everything"])["spec"]["ingress"]
    assert restricted["ports"] == [{"port": 9443, "protocol": "TCP"}]
    assert restricted["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


def test_default_egress() -> None:
    dns, api, pods, key_vault = policy({})["spec"]["egress"]
    assert egress_ports(dns) == {(53, "UDP"), (53, "TCP")}
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert egress_ports(api) == {(443, "TCP"), (6443, "TCP")}
    assert pods == {"to": [{"namespaceSelector": {}}]}, (
        "every port of every pod: what the agent probes"
    )
    assert egress_ports(key_vault) == {(443, "TCP")}


def test_narrowed_egress() -> None:
    dns, api, pods, key_vault, targets = policy(SCENARIOS["daemonset-everything"])["spec"]["egress"]
    assert ip_blocks(api) == {"20.30.40.50/32"}
    assert ip_blocks(pods) == {"10.224.0.0/16"}, "node addresses, for host-network pods"
    assert ip_blocks(key_vault) == {"10.240.8.0/24"}
    assert ip_blocks(targets) == {"203.0.113.0/24"} and egress_ports(targets) == {
        (443, "TCP"),
        (5432, "TCP"),
    }


def test_no_key_vault_egress_when_the_comparison_is_off() -> None:
    rules = policy({"agent": {"keyvaultEnabled": False}})["spec"]["egress"]
    assert rules == policy({})["spec"]["egress"][:3], "DNS, API server and pods only"


def test_policy_can_be_turned_off() -> None:
    assert not render({"networkPolicy": {"enabled": False}}).of_kind("NetworkPolicy")
