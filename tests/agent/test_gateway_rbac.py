"""The chart's ClusterRole is enough for what discovery and the V6 inspector read: the lab API server
enforces exactly the rendered role's rules (anything else is a real 403 Forbidden)."""

from __future__ import annotations

from typing import Any

import kubernetes.client
import pytest

from agent.discovery import DiscoveryScope, KubeReader, Source, discover
from agent.discovery.csi_driver import Status, read_csi_drivers
from inspector.lab.kube_api import KubeAPIServer
from tests.agent.test_csi_driver import AKS_ADDON
from tests.agent.test_gateway_discovery import GATEWAY_CLUSTER
from tests.chart.rendering import FULLNAME, render

pytestmark = pytest.mark.needs_helm

AGENT = "system:serviceaccount:cryptoscope:cryptoscope-agent"


def api_with_chart_role(values: dict[str, Any]) -> KubeAPIServer:
    api = KubeAPIServer(gateway_api=True, authorize=True)
    role = render(values).one("ClusterRole", f"{FULLNAME}-agent")
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    api.grant(AGENT, verb, resource, group=group)
    api.add_token("agent", AGENT)
    api.load_yaml(
        GATEWAY_CLUSTER,
        {"PORT": 10443, "TLS_PORT": 19443, "IP_A": "127.0.0.40", "IP_B": "127.0.0.41"},
    )
    api.load_yaml(AKS_ADDON, {"ROTATION": "false"})
    return api


def read_everything(api: KubeAPIServer) -> tuple[Any, Any, Any]:
    client = kubernetes.client.ApiClient(api.configuration(token="agent"))
    try:
        reader = KubeReader(client)
        state, targets = discover(reader, DiscoveryScope(mode="cluster"))
        return state, targets, read_csi_drivers(reader)
    finally:
        client.close()


def test_the_chart_role_reads_gateways_routes_and_the_csi_driver() -> None:
    with api_with_chart_role({}) as api:
        state, targets, drivers = read_everything(api)
    assert state.warnings == ()
    assert len(state.http_routes) == 5 and len(state.tls_routes) == 1
    assert {item.target.sni for item in targets if item.source == Source.GATEWAY} == {
        "shop.example.com",
        "www.shop.example.com",
        "pay.example.com",
        "db.shop.example.com",
    }
    assert [(facts.status, facts.rotation_enabled) for facts in drivers] == [(Status.FOUND, False)]


def test_without_the_gateway_api_grants_gateways_are_a_warning() -> None:
    with api_with_chart_role({"rbac": {"gatewayApi": False}}) as api:
        state, targets, _ = read_everything(api)
    assert [warning.split(" ")[0] for warning in state.warnings] == ["gateways"]
    assert "403" in state.warnings[0]
    assert not [item for item in targets if item.source == Source.GATEWAY]
