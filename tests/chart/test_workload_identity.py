"""Azure workload identity: the ServiceAccount annotation and the pod label, only with a client id."""

from __future__ import annotations

import pytest

from tests.chart.rendering import FULLNAME, render
from tests.chart.scenarios import CLIENT_ID, SCENARIOS, TENANT_ID

pytestmark = pytest.mark.needs_helm

USE_LABEL = "azure.workload.identity/use"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"


@pytest.mark.parametrize("scenario", ["daemonset-everything", "cluster-everything"])
def test_client_id_annotates_the_service_account_and_labels_the_pods(scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    account = rendered.one("ServiceAccount", FULLNAME)
    assert account["metadata"]["annotations"][CLIENT_ID_ANNOTATION] == CLIENT_ID
    assert account["metadata"]["annotations"]["azure.workload.identity/tenant-id"] == TENANT_ID
    workload = next(m for m in rendered.manifests if m["kind"] in ("DaemonSet", "Deployment"))
    assert workload["spec"]["template"]["metadata"]["labels"][USE_LABEL] == "true"
    assert USE_LABEL not in workload["spec"]["selector"]["matchLabels"], (
        "the selector must not change with it"
    )


def test_no_identity_without_a_client_id() -> None:
    rendered = render({})
    account = rendered.one("ServiceAccount", FULLNAME)
    assert CLIENT_ID_ANNOTATION not in (account["metadata"].get("annotations") or {})
    daemonset = rendered.one("DaemonSet", FULLNAME)
    assert USE_LABEL not in daemonset["spec"]["template"]["metadata"]["labels"]


def test_an_existing_service_account_can_be_used() -> None:
    rendered = render({"serviceAccount": {"create": False, "name": "platform-scanner"}})
    assert not rendered.of_kind("ServiceAccount")
    assert (
        rendered.one("DaemonSet")["spec"]["template"]["spec"]["serviceAccountName"]
        == "platform-scanner"
    )
    binding = rendered.one("ClusterRoleBinding", f"{FULLNAME}-agent")
    assert binding["subjects"][0]["name"] == "platform-scanner"
