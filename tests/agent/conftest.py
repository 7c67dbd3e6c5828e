"""Fixtures for the agent tests: the lab Kubernetes API server with the shop manifests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes.client
import pytest

from inspector.lab.kube_api import MANIFESTS_DIR, KubeAPIServer

#: Fixed values for discovery-only tests (nothing listens on them).
SHOP_VARIABLES: dict[str, Any] = {
    "NODE_A": "node-a",
    "NODE_B": "node-b",
    "NODE_A_IP": "127.0.0.2",
    "WEB_A_IP": "127.0.0.11",
    "WEB_B_IP": "127.0.0.12",
    "DB_IP": "127.0.0.13",
    "API_IP": "127.0.0.14",
    "JOB_IP": "127.0.0.15",
    "INGRESS_IP": "127.0.0.16",
    "WEB_PORT": 8443,
    "DB_PORT": 5432,
    "API_PORT": 9443,
    "API_ADMIN_PORT": 9000,
    "EXPORTER_PORT": 9100,
    "INGRESS_PORT": 443,
    "JOB_PORT": 8443,
}


@pytest.fixture
def kube_api() -> Iterator[KubeAPIServer]:
    with KubeAPIServer() as server:
        yield server


@pytest.fixture
def shop_api(kube_api: KubeAPIServer) -> KubeAPIServer:
    kube_api.load_yaml(MANIFESTS_DIR / "shop.yaml", SHOP_VARIABLES)
    return kube_api


@pytest.fixture
def api_client(kube_api: KubeAPIServer) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.client.ApiClient(kube_api.configuration())
    yield client
    client.close()
