"""Least privilege: what the agent and the operators may do, and never secrets."""

from __future__ import annotations

import pytest

from tests.chart.rendering import FULLNAME, NAMESPACE, Manifest, render
from tests.chart.scenarios import EVIDENCE_GROUP, SCENARIOS

pytestmark = pytest.mark.needs_helm

READ = ["get", "list", "watch"]

#: The agent's ClusterRole, exactly: (apiGroup, resource) -> verbs.
AGENT_GRANTS = {
    ("", "pods"): READ,
    ("", "services"): READ,
    ("", "namespaces"): READ,
    ("discovery.k8s.io", "endpointslices"): READ,
    ("apps", "replicasets"): READ,
    ("apps", "deployments"): READ,
    ("apps", "statefulsets"): READ,
    ("apps", "daemonsets"): READ,
    ("batch", "jobs"): READ,
    ("batch", "cronjobs"): READ,
    ("networking.k8s.io", "ingresses"): READ,
    ("gateway.networking.k8s.io", "gatewayclasses"): READ,
    ("gateway.networking.k8s.io", "gateways"): READ,
    ("gateway.networking.k8s.io", "httproutes"): READ,
    ("gateway.networking.k8s.io", "grpcroutes"): READ,
    ("gateway.networking.k8s.io", "tlsroutes"): READ,
    ("secrets-store.csi.x-k8s.io", "secretproviderclasses"): READ,
    ("secrets-store.csi.x-k8s.io", "secretproviderclasspodstatuses"): READ,
    ("authentication.k8s.io", "tokenreviews"): ["create"],
    ("authorization.k8s.io", "subjectaccessreviews"): ["create"],
}


def grants(role: Manifest) -> dict[tuple[str, str], list[str]]:
    table: dict[tuple[str, str], list[str]] = {}
    for rule in role["rules"]:
        assert not rule.get("resourceNames"), rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert (group, resource) not in table, (
                    f"{group}/{resource} granted twice in {role['metadata']['name']}"
                )
                table[(group, resource)] = sorted(rule["verbs"])
    return table


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_role_grants_secrets_or_wildcards(scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    roles = rendered.of_kind("ClusterRole") + rendered.of_kind("Role")
    assert roles
    for role in roles:
        name = role["metadata"]["name"]
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule, name
            assert (
                "*" not in rule["apiGroups"]
                and "*" not in rule["resources"]
                and "*" not in rule["verbs"]
            ), name
            for resource in rule["resources"]:
                assert resource.split("/")[0] != "secrets", (
                    f"{name} grants {rule['verbs']} on {resource}"
                )
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), name


def test_agent_cluster_role_is_exactly_what_discovery_needs() -> None:
    role = render({}).one("ClusterRole", f"{FULLNAME}-agent")
    assert grants(role) == {key: sorted(verbs) for key, verbs in AGENT_GRANTS.items()}
    without_gateway = render({"rbac": {"gatewayApi": False}}).one(
        "ClusterRole", f"{FULLNAME}-agent"
    )
    assert not [
        group for group, _ in grants(without_gateway) if group == "gateway.networking.k8s.io"
    ]


@pytest.mark.parametrize("scenario", ["default", "cluster"])
def test_agent_role_is_bound_to_the_agent_service_account(scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    binding = rendered.one("ClusterRoleBinding", f"{FULLNAME}-agent")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": f"{FULLNAME}-agent",
    }
    service_account = rendered.one("ServiceAccount")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": service_account["metadata"]["name"],
            "namespace": NAMESPACE,
        }
    ]
    (_, pod_spec) = next(rendered.pod_specs())
    assert pod_spec["serviceAccountName"] == service_account["metadata"]["name"]


def test_evidence_reader_grants_what_the_agent_checks_and_what_collect_uses() -> None:
    """The role follows the agent's SubjectAccessReview settings: one source, no drift."""
    for agent_values, expected in (
        ({}, ("cryptoscope.io", "snapshots", "get")),
        (
            {
                "authzGroup": "",
                "authzResource": "services",
                "authzSubresource": "proxy",
                "authzVerb": "create",
            },
            ("", "services/proxy", "create"),
        ),
    ):
        rendered = render({"agent": agent_values})
        table = grants(rendered.one("ClusterRole", f"{FULLNAME}-evidence-reader"))
        group, resource, verb = expected
        assert table[(group, resource)] == [verb]
        assert table[("", "pods")] == ["get", "list"]
        assert table[("", "pods/portforward")] == ["create", "get"]
        assert table[("", "pods/proxy")] == ["get"]
        assert len(table) == 4, table


def test_evidence_readers_are_bound_in_the_agents_namespace_only() -> None:
    rendered = render(SCENARIOS["daemonset-everything"])
    (binding,) = rendered.of_kind("RoleBinding")
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"]["name"] == f"{FULLNAME}-evidence-reader"
    assert binding["subjects"] == [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": EVIDENCE_GROUP}
    ]
    assert not render({}).of_kind("RoleBinding"), "no subjects, no binding"
    elsewhere = render(
        {**SCENARIOS["daemonset-everything"], "agent": {"authzNamespace": "audit-evidence"}}
    )
    assert sorted(b["metadata"]["namespace"] for b in elsewhere.of_kind("RoleBinding")) == sorted(
        [NAMESPACE, "audit-evidence"]
    )


def test_sidecar_rbac_is_namespaced_reads_plus_reviews() -> None:
    rendered = render(SCENARIOS["sidecar"])
    assert not rendered.of_kind("ServiceAccount"), (
        "a sidecar runs as its workload's service account"
    )
    assert not [
        b
        for b in rendered.of_kind("ClusterRoleBinding")
        if b["roleRef"]["name"] == f"{FULLNAME}-agent"
    ]
    (read_binding,) = [
        b for b in rendered.of_kind("RoleBinding") if b["roleRef"]["name"] == f"{FULLNAME}-agent"
    ]
    assert read_binding["metadata"]["namespace"] == "payments"
    assert read_binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "checkout", "namespace": "payments"}
    ]
    auth = rendered.one("ClusterRole", f"{FULLNAME}-sidecar-auth")
    assert grants(auth) == {
        ("authentication.k8s.io", "tokenreviews"): ["create"],
        ("authorization.k8s.io", "subjectaccessreviews"): ["create"],
    }
    auth_binding = rendered.one("ClusterRoleBinding", f"{FULLNAME}-sidecar-auth")
    assert auth_binding["subjects"] == read_binding["subjects"]


def test_rbac_can_be_left_to_the_operator() -> None:
    rendered = render({"rbac": {"create": False}})
    assert not rendered.of_kind("ClusterRole") and not rendered.of_kind("ClusterRoleBinding")


def test_sidecar_evidence_readers_are_bound_where_the_sidecars_run() -> None:
    rendered = render(SCENARIOS["sidecar-everything"])
    bindings = [
        b
        for b in rendered.of_kind("RoleBinding")
        if b["roleRef"]["name"] == f"{FULLNAME}-evidence-reader"
    ]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted([NAMESPACE, "payments"])
